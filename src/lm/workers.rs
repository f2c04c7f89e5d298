//! Lane groups on worker threads, and where they run.
//!
//! A session's lanes are cut into fixed groups of [`SessionConfig::lane_group`] consecutive lanes; each group is
//! one backend context (llama.cpp allows at most 256 sequences in one) and sees only its own lanes' tokens, so a
//! group's logits depend on the header's grouping and never on how many workers run the groups. Group `g` runs on
//! worker `g % workers`, each worker taking its groups in order; the calling thread is worker 0. Errors are
//! reported for the lowest failing group, so even the message does not depend on the worker count.
//!
//! Workers are scoped threads started per step: a CPU step takes milliseconds, against tens of microseconds to
//! start a thread, and scoped borrows keep each context owned by its session. (A GPU backend keeping hundreds of
//! lanes per step busy would want persistent workers fed through channels.)

use std::ops::Range;
use std::str::FromStr;

use super::{LmError, SessionConfig};

/// Where the lane groups run (`--device`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The best device this build has: the CPU, as long as nacz has no GPU backend.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// NVIDIA GPUs by index (empty: all of them).
    Cuda(Vec<u32>),
}

impl FromStr for Device {
    type Err = String;

    /// `auto`, `cpu`, `cuda` or `cuda:0,1,…`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(Vec::new())),
            _ => {
                let ids = text
                    .strip_prefix("cuda:")
                    .ok_or_else(|| format!("unknown device `{text}` (auto, cpu, cuda or cuda:0,1,…)"))?;
                ids.split(',')
                    .map(|id| {
                        id.parse::<u32>()
                            .map_err(|_| format!("`{id}` in `{text}` is not a GPU index"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Self::Cuda)
            }
        }
    }
}

impl Device {
    /// The device this build runs `self` on, or why it cannot.
    pub fn resolve(&self) -> Result<Device, LmError> {
        match self {
            Self::Auto | Self::Cpu => Ok(Self::Cpu),
            Self::Cuda(_) => Err(LmError::Config(
                "--device cuda: this nacz is the CPU build and has no GPU backend; run it with --device cpu \
                 (or auto)"
                    .into(),
            )),
        }
    }
}

impl SessionConfig {
    /// The lanes of each group, in order.
    pub fn lane_groups(&self) -> impl Iterator<Item = Range<usize>> {
        let (lanes, group) = (self.lanes as usize, self.lane_group.max(1) as usize);
        (0..lanes.div_ceil(group)).map(move |g| g * group..((g + 1) * group).min(lanes))
    }
}

/// Runs `work` on every group, group `g` on worker `g % workers`, and returns the first failing group's error.
pub fn for_each_group<G, F>(groups: &mut [G], workers: usize, work: F) -> Result<(), LmError>
where
    G: Send,
    F: Fn(usize, &mut G) -> Result<(), LmError> + Sync,
{
    let workers = workers.clamp(1, groups.len().max(1));
    if workers == 1 {
        return groups.iter_mut().enumerate().try_for_each(|(g, group)| work(g, group));
    }
    let mut queues: Vec<Vec<(usize, &mut G)>> = (0..workers).map(|_| Vec::new()).collect();
    for (g, group) in groups.iter_mut().enumerate() {
        queues[g % workers].push((g, group));
    }
    let run = |queue: Vec<(usize, &mut G)>| -> Option<(usize, LmError)> {
        // A worker stops at its first failure; later groups of the step no longer matter.
        queue
            .into_iter()
            .find_map(|(g, group)| work(g, group).err().map(|e| (g, e)))
    };
    let mut failures: Vec<(usize, LmError)> = std::thread::scope(|scope| {
        let mut queues = queues.into_iter();
        let own = queues.next().expect("at least one worker");
        let handles: Vec<_> = queues.map(|queue| scope.spawn(|| run(queue))).collect();
        let mut failures: Vec<_> = run(own).into_iter().collect();
        for handle in handles {
            match handle.join() {
                Ok(failure) => failures.extend(failure),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        failures
    });
    failures.sort_by_key(|(g, _)| *g);
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!("auto".parse(), Ok(Device::Auto));
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(vec![])));
        assert_eq!("cuda:0,2".parse(), Ok(Device::Cuda(vec![0, 2])));
        assert!("cuda:x".parse::<Device>().is_err());
        assert!("gpu".parse::<Device>().is_err());
        assert_eq!(Device::Auto.resolve().unwrap(), Device::Cpu);
        let err = Device::Cuda(vec![]).resolve().unwrap_err().to_string();
        assert!(err.contains("CPU build"), "{err}");
    }

    #[test]
    fn groups_cover_the_lanes_in_order() {
        let config = SessionConfig {
            lanes: 10,
            lane_group: 4,
            window: 256,
            slide: 16,
            sink: 4,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        };
        let groups: Vec<_> = config.lane_groups().collect();
        assert_eq!(groups, [0..4, 4..8, 8..10]);
    }

    #[test]
    fn every_group_runs_once_on_any_worker_count_and_the_first_error_wins() {
        for workers in [1, 2, 3, 8] {
            let mut groups: Vec<u32> = vec![0; 5];
            for_each_group(&mut groups, workers, |g, count| {
                *count += 1 + g as u32;
                Ok(())
            })
            .unwrap();
            assert_eq!(groups, [1, 2, 3, 4, 5], "{workers} workers");
            let err = for_each_group(&mut groups, workers, |g, _| {
                if g >= 2 {
                    Err(LmError::Decode(format!("group {g}")))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
            assert_eq!(err.to_string(), "llama.cpp decode failed: group 2");
        }
    }
}
