//! Fixed tables of the byte model, all computed by integer code so every machine builds the same ones: the
//! logistic `squash`/`stretch` pair on a 12-bit scale and the bit-history state machine.

use std::sync::OnceLock;

/// Stretch values live in `-STRETCH_MAX..=STRETCH_MAX`: logits with 8 fractional bits, so ±8.
pub const STRETCH_MAX: i32 = 2047;

pub struct Logistic {
    /// `squash[d + 2047]` = round(4096 / (1 + e^(-d/256))), clamped to 1..=4095.
    squash: Vec<u16>,
    /// `stretch[p]` = the smallest `d` with `squash(d) >= p` (the inverse of `squash`).
    stretch: Vec<i16>,
}

/// `e^(-i/256)` for `i` in `0..=2047` in Q62, by repeated multiplication with `e^(-1/256)` from its Taylor series.
fn exp_table() -> Vec<u128> {
    const ONE: u128 = 1 << 62;
    // e^(-1/256) = sum_k (-1/256)^k / k!; terms alternate, so add and subtract their magnitudes.
    let mut q = ONE;
    let mut term = ONE;
    for k in 1..12u128 {
        term /= 256 * k;
        if k % 2 == 1 {
            q -= term;
        } else {
            q += term;
        }
    }
    let mut t = Vec::with_capacity(2048);
    let mut e = ONE;
    for _ in 0..2048 {
        t.push(e);
        e = (e * q) >> 62;
    }
    t
}

impl Logistic {
    fn build() -> Self {
        const ONE: u128 = 1 << 62;
        let e = exp_table();
        let squash: Vec<u16> = (-STRETCH_MAX..=STRETCH_MAX)
            .map(|d| {
                let x = e[d.unsigned_abs() as usize];
                // 4096 / (1 + e^-d) for d >= 0, 4096 e^d / (1 + e^d) = 4096 x / (1 + x) for d < 0; rounded.
                let num = if d >= 0 { 4096 * ONE } else { 4096 * x };
                let den = ONE + x;
                ((num + den / 2) / den).clamp(1, 4095) as u16
            })
            .collect();
        let mut stretch = vec![0i16; 4096];
        let mut next = 0usize;
        for d in -STRETCH_MAX..=STRETCH_MAX {
            let v = usize::from(squash[(d + STRETCH_MAX) as usize]);
            for s in &mut stretch[next..=v] {
                *s = d as i16;
            }
            next = next.max(v + 1);
        }
        for s in &mut stretch[next..] {
            *s = STRETCH_MAX as i16;
        }
        Self { squash, stretch }
    }

    pub fn get() -> &'static Logistic {
        static TABLES: OnceLock<Logistic> = OnceLock::new();
        TABLES.get_or_init(Self::build)
    }

    /// Probability out of 4096 (1..=4095) for a logit `d` (8 fractional bits), saturating beyond ±2047.
    #[inline]
    pub fn squash(&self, d: i32) -> i32 {
        i32::from(self.squash[(d.clamp(-STRETCH_MAX, STRETCH_MAX) + STRETCH_MAX) as usize])
    }

    /// Logit of a probability out of 4096 (`p` in 0..=4095).
    #[inline]
    pub fn stretch(&self, p: u32) -> i32 {
        i32::from(self.stretch[(p & 4095) as usize])
    }
}

/// Most counts a state can hold for one bit, indexed by the other bit's count (the last entry repeats).
const COUNT_LIMIT: [u8; 7] = [60, 30, 16, 10, 8, 7, 6];
/// States with both counts nonzero and at most this many observations also remember the last bit.
const LAST_BIT_MAX_TOTAL: u8 = 8;

/// A bit-history state machine of at most 256 states: each state stands for a pair of bounded counts
/// (zeros, ones) and, for short mixed histories, the last bit. On a bit, its count grows (up to a limit that
/// shrinks as the other count grows) and an opposite count above 2 is halved plus one, so old evidence fades.
/// State 0 is the empty history, the value of a fresh hash slot.
pub struct StateTable {
    next: [[u8; 2]; 256],
    counts: [[u8; 2]; 256],
}

fn count_limit(other: u8) -> u8 {
    COUNT_LIMIT[usize::from(other).min(COUNT_LIMIT.len() - 1)]
}

impl StateTable {
    fn build() -> Self {
        type Key = (u8, u8, u8);
        let key = |n: [u8; 2], last: u8| -> Key {
            let keep = n[0] > 0 && n[1] > 0 && n[0] + n[1] <= LAST_BIT_MAX_TOTAL;
            (n[0], n[1], if keep { last } else { 0 })
        };
        let mut states: Vec<Key> = vec![(0, 0, 0)];
        let mut next = [[0u8; 2]; 256];
        let mut i = 0;
        // Breadth-first numbering from the empty history, so the numbering is fixed by the rules alone.
        while i < states.len() {
            let (n0, n1, _) = states[i];
            for y in 0..2usize {
                let mut n = [n0, n1];
                let o = 1 - y;
                if n[o] > 2 {
                    n[o] = n[o] / 2 + 1;
                }
                n[y] = (n[y] + 1).min(count_limit(n[o]));
                n[o] = n[o].min(count_limit(n[y]));
                let k = key(n, y as u8);
                let idx = match states.iter().position(|&s| s == k) {
                    Some(j) => j,
                    None => {
                        states.push(k);
                        states.len() - 1
                    }
                };
                next[i][y] = idx as u8;
            }
            i += 1;
        }
        assert!(states.len() <= 256, "state machine has {} states", states.len());
        let mut counts = [[0u8; 2]; 256];
        for (c, s) in counts.iter_mut().zip(&states) {
            *c = [s.0, s.1];
        }
        Self { next, counts }
    }

    pub fn get() -> &'static StateTable {
        static TABLE: OnceLock<StateTable> = OnceLock::new();
        TABLE.get_or_init(Self::build)
    }

    #[inline]
    pub fn next(&self, state: u8, bit: u32) -> u8 {
        self.next[usize::from(state)][(bit & 1) as usize]
    }

    /// (zeros, ones) the state stands for.
    #[inline]
    pub fn counts(&self, state: u8) -> [u8; 2] {
        self.counts[usize::from(state)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_and_stretch_are_consistent() {
        let t = Logistic::get();
        assert_eq!(t.squash(0), 2048);
        assert_eq!(t.squash(-5000), t.squash(-2047));
        for d in -2047..2047 {
            assert!(t.squash(d) <= t.squash(d + 1));
            assert_eq!(t.squash(d) + t.squash(-d), 4096, "symmetric at {d}");
        }
        for p in 1..4095 {
            let d = t.stretch(p);
            assert!(t.squash(d) >= p as i32);
            assert!(d == -2047 || t.squash(d - 1) < p as i32);
        }
        // e^-8 is about 3.35e-4: squash(-2047) = 4096 / (1 + e^(2047/256)) rounds to 1.
        assert_eq!(t.squash(-2047), 1);
        assert_eq!(t.squash(256), 2994);
    }

    #[test]
    fn state_machine_is_closed_and_counts_grow() {
        let t = StateTable::get();
        let mut s = 0u8;
        for i in 1..=60u8 {
            s = t.next(s, 1);
            assert_eq!(t.counts(s), [0, i.min(60)]);
        }
        s = t.next(s, 0);
        assert_eq!(t.counts(s), [1, 30]);
    }
}
