//! How many threads the next decode runs on: a fixed count, or one that follows the load of the machine.
//!
//! ggml's worker threads wait for each other at every graph node by spinning, so a thread that shares its core
//! with another busy process stalls all of them: measured on 2 cores, a 3 kB compression took 20× longer beside
//! another one and 11× longer beside `yes`. Following the load, a process uses only the cores that others leave
//! idle (at least one), so neighbours (another nacz, a build, a busy loop) share the machine instead of
//! starving each other. Niced neighbours (`nice make`) yield their cores to it, so they are not counted. The
//! thread count never changes a logit (tested), so this never changes an output byte.

use std::time::{Duration, Instant};

/// How often the load is sampled: rarely enough to cost nothing, often enough to react within a second.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A thread-count policy for the decodes of one model.
#[derive(Debug)]
pub enum Threads {
    /// Always this many.
    Fixed(usize),
    /// Up to `max`, as many as the cores other processes leave idle.
    FollowLoad(LoadFollower),
}

impl Threads {
    /// Follows the load on Linux, where it can be measured; elsewhere uses `max` threads.
    pub fn follow_load(max: usize) -> Self {
        match LoadFollower::new(max) {
            Some(follower) => Self::FollowLoad(follower),
            None => Self::Fixed(max),
        }
    }

    /// The thread count for the next decode.
    pub fn now(&mut self) -> usize {
        match self {
            Self::Fixed(n) => (*n).max(1),
            Self::FollowLoad(follower) => follower.now(),
        }
    }
}

/// CPU time counters, in clock ticks.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    /// All CPUs, all states.
    total: u64,
    /// All CPUs, busy states (everything but idle and I/O wait, and niced time unless this process is niced).
    busy: u64,
    /// This process.
    own: u64,
}

#[derive(Debug)]
pub struct LoadFollower {
    max: usize,
    cpus: usize,
    current: usize,
    last: Sample,
}

impl LoadFollower {
    fn new(max: usize) -> Option<Self> {
        let last = sample()?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(Self {
            max: max.max(1),
            cpus,
            current: max.max(1),
            last,
        })
    }

    fn now(&mut self) -> usize {
        if self.last.at.elapsed() < SAMPLE_EVERY {
            return self.current;
        }
        let Some(next) = sample() else {
            return self.current;
        };
        let (total, busy, own) = (
            next.total.saturating_sub(self.last.total),
            next.busy.saturating_sub(self.last.busy),
            next.own.saturating_sub(self.last.own),
        );
        self.last = next;
        if total > 0 {
            self.current = threads_for(self.cpus, self.max, total, busy.saturating_sub(own));
        }
        self.current
    }
}

/// Threads to use on `cpus` CPUs when, over an interval of `total` CPU ticks (all CPUs), other processes were
/// busy for `others` ticks: the idle cores rounded to the nearest, at least 1 and at most `max`.
pub fn threads_for(cpus: usize, max: usize, total: u64, others: u64) -> usize {
    // Cores others kept busy, in tenths: total / cpus ticks make one core's worth of the interval.
    let busy_tenths = (others * 10 * cpus as u64) / total.max(1);
    let idle_tenths = (cpus as u64 * 10).saturating_sub(busy_tenths);
    let idle = ((idle_tenths + 5) / 10) as usize;
    idle.clamp(1, max.max(1))
}

/// Reads the machine's and this process's CPU time; None where /proc is not there.
fn sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state; utime and stime are the 12th and 13th,
    // nice the 17th.
    let after_name = &own[own.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let own_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let own_nice: i64 = fields.get(16)?.parse().ok()?;
    // Time of niced processes (`nice make -j`) counts as idle for a process that is not niced itself: the
    // scheduler gives such a neighbour a sliver of a shared core, so it does not stall ggml's threads.
    let yielding = if own_nice <= 0 {
        cpu.get(1).copied().unwrap_or(0)
    } else {
        0
    };
    Some(Sample {
        at: Instant::now(),
        total,
        busy: total.saturating_sub(idle + yielding),
        own: own_ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_cores_decide_the_count() {
        // 2 CPUs over 100 ticks each (200 in all).
        assert_eq!(threads_for(2, 2, 200, 0), 2, "an idle machine: all of them");
        assert_eq!(threads_for(2, 2, 200, 100), 1, "one core busy elsewhere");
        assert_eq!(threads_for(2, 2, 200, 200), 1, "never fewer than one");
        assert_eq!(threads_for(2, 2, 200, 40), 2, "a little noise keeps both");
        assert_eq!(threads_for(2, 2, 200, 70), 1, "most of a core busy");
        assert_eq!(threads_for(16, 8, 1600, 300), 8, "capped at the maximum");
        assert_eq!(threads_for(16, 16, 1600, 1000), 6);
    }

    #[test]
    fn the_counters_are_readable_here() {
        if cfg!(target_os = "linux") {
            let s = sample().expect("/proc/stat and /proc/self/stat");
            assert!(s.total >= s.busy);
            let mut threads = Threads::follow_load(4);
            assert!((1..=4).contains(&threads.now()));
        }
    }
}
