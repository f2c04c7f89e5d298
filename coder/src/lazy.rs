//! The frequency table of format version 8, computed only as far as the coder needs it.
//!
//! This module owns the integer rule that turns a *mixture* into frequencies: every symbol's weight is
//! `dense_weight * P[t] + uniform_weight` for one dense vector `P` (the language model's probabilities), except
//! a short sorted list of patched symbols whose weights are given outright. No table is built: the encoder sums
//! the counts before its symbol (half a pass on average), the decoder scans blocks of counts until it passes its
//! target. The counts are integers, so their sums are exact in any order and any vector width: a scalar loop,
//! SSE2 and AVX2 give the same table, which is what lets the scan be vectorized without changing a bit.
//!
//! With `T = 2^precision_bits`, `V` symbols and `W` the mixture's total weight (dense part without the patched
//! symbols, plus the patches), `scale = (T - V - MARGIN) / W` in `f64`; then, in `f32`,
//! `count(t) = 1 + trunc(min(P[t] * (dense_weight * scale) + uniform_weight * scale, 2^28))` for an unpatched
//! symbol, `1 + trunc(w * scale)` (in `f64`) for a patched one, and the last symbol gets what is left of `T`. The
//! margin covers every rounding on the way, so the counts before the last symbol never reach `T` for a mixture
//! whose total is what [`LazyCdf::new`] computes; a table that would is refused ([`CdfError::Overfull`]), never
//! coded wrongly.

use crate::{CdfError, MAX_PRECISION_BITS, MAX_SYMBOLS};

/// Counts of `T` kept back from the weights so that rounding can never push the sum past `T`: a relative error
/// of 2^-14 at 28 bits, far above the few ulps the computation can lose.
pub const MARGIN: u32 = 1 << 14;

/// Counts summed per block before they are added into a `u64`: each is at most `2^28 + 1`, so 8 of them fit a
/// `u32` lane, and 16 lanes times 8 is the block.
const BLOCK: usize = 128;
const LANES: usize = 16;

/// A patched symbol and its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchCount {
    pub symbol: u32,
    pub count: u32,
}

/// A lazily evaluated table over `n_symbols` symbols totalling `2^precision_bits` (see the module docs).
#[derive(Debug)]
pub struct LazyCdf<'a> {
    /// `P` for symbols `0..dense.len()`; symbols past it (and all of them without a dense vector) have `P = 0`.
    dense: &'a [f32],
    dense_scale: f32,
    offset: f32,
    /// Sorted by symbol, distinct, none of them the last symbol.
    patches: &'a [PatchCount],
    n_symbols: u32,
    precision_bits: u32,
}

/// The count of an unpatched symbol with dense value `p`.
#[inline(always)]
fn dense_count(p: f32, dense_scale: f32, offset: f32) -> u32 {
    // NaN and values past the limit take the limit, which keeps 8 counts within a u32; `as u32` truncates and
    // takes negative values to 0.
    let x = p * dense_scale + offset;
    1 + (if x < COUNT_LIMIT { x } else { COUNT_LIMIT }) as u32
}

const COUNT_LIMIT: f32 = (1u32 << MAX_PRECISION_BITS) as f32;

/// The sum of the counts of `p`, in blocks of [`BLOCK`] with [`LANES`] lanes (any order gives the same sum).
#[inline(always)]
fn dense_sum_portable(p: &[f32], dense_scale: f32, offset: f32) -> u64 {
    let mut total = 0u64;
    for block in p.chunks(BLOCK) {
        let mut lanes = [0u32; LANES];
        let mut chunks = block.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane += dense_count(x, dense_scale, offset);
            }
        }
        for &x in chunks.remainder() {
            total += u64::from(dense_count(x, dense_scale, offset));
        }
        for lane in lanes {
            total += u64::from(lane);
        }
    }
    total
}

/// [`dense_sum_portable`] in AVX2 intrinsics: per element the same comparisons (`min` is the clamp's, `max`
/// with 0 is `as u32`'s saturation of negative values) and an exact truncation; integer sums in any order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dense_sum_avx2(p: &[f32], dense_scale: f32, offset: f32) -> u64 {
    use std::arch::x86_64::*;
    let (scale8, offset8) = (_mm256_set1_ps(dense_scale), _mm256_set1_ps(offset));
    let (limit, zero, one) = (_mm256_set1_ps(COUNT_LIMIT), _mm256_setzero_ps(), _mm256_set1_epi32(1));
    let counts = |at: *const f32| {
        // SAFETY: the callers pass pointers to 8 readable floats.
        let x = _mm256_add_ps(_mm256_mul_ps(unsafe { _mm256_loadu_ps(at) }, scale8), offset8);
        let x = _mm256_max_ps(_mm256_min_ps(x, limit), zero);
        _mm256_add_epi32(_mm256_cvttps_epi32(x), one)
    };
    let mut total = 0u64;
    let mut blocks = p.chunks_exact(BLOCK);
    for block in &mut blocks {
        let (mut low, mut high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for at in (0..BLOCK).step_by(LANES) {
            low = _mm256_add_epi32(low, counts(block[at..].as_ptr()));
            high = _mm256_add_epi32(high, counts(block[at + 8..].as_ptr()));
        }
        let mut lanes = [0u32; LANES];
        // SAFETY: two stores of 8 u32 into the 16-lane array.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), low);
            _mm256_storeu_si256(lanes[8..].as_mut_ptr().cast(), high);
        }
        total += lanes.iter().map(|&lane| u64::from(lane)).sum::<u64>();
    }
    total + dense_sum_portable(blocks.remainder(), dense_scale, offset)
}

/// [`dense_sum_portable`] with AVX2 where the CPU has it: the same integers, so the same sum.
fn dense_sum(p: &[f32], dense_scale: f32, offset: f32) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only requirement of `dense_sum_avx2`.
        return unsafe { dense_sum_avx2(p, dense_scale, offset) };
    }
    dense_sum_portable(p, dense_scale, offset)
}

impl<'a> LazyCdf<'a> {
    /// The table of a mixture. `dense` holds `P` (at most `n_symbols` values, the rest are 0) and `dense_sum`
    /// its sum; `patches` the patched symbols with their weights, sorted by symbol and distinct. `scratch`
    /// receives the patch counts. Weights that are not finite and positive count as 0; a mixture without weight
    /// gives every symbol but the last a count of 1.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_symbols: usize,
        precision_bits: u32,
        dense: &'a [f32],
        dense_sum: f64,
        dense_weight: f64,
        uniform_weight: f64,
        patches: &[(u32, f64)],
        scratch: &'a mut Vec<PatchCount>,
    ) -> Result<Self, CdfError> {
        if n_symbols == 0 {
            return Err(CdfError::Empty);
        }
        if n_symbols > MAX_SYMBOLS {
            return Err(CdfError::TooManySymbols(n_symbols));
        }
        assert!(
            precision_bits <= MAX_PRECISION_BITS && (n_symbols as u64 + u64::from(MARGIN)) < 1 << precision_bits,
            "{precision_bits} bits leave no room for {n_symbols} symbols"
        );
        let dense = &dense[..dense.len().min(n_symbols)];
        let positive = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let (dense_weight, uniform_weight) = (positive(dense_weight), positive(uniform_weight));
        // The weight of the patched symbols' dense values, which their patches replace.
        let mut replaced = 0.0;
        for (i, &(symbol, _)) in patches.iter().enumerate() {
            if symbol as usize >= n_symbols || (i > 0 && patches[i - 1].0 >= symbol) {
                return Err(CdfError::BadPatches);
            }
            replaced += f64::from(dense.get(symbol as usize).copied().unwrap_or(0.0));
        }
        let patched: f64 = patches.iter().map(|&(_, w)| positive(w)).sum();
        let unpatched = (n_symbols - patches.len()) as f64;
        let total = dense_weight * (positive(dense_sum) - replaced).max(0.0) + uniform_weight * unpatched + patched;
        let room = f64::from((1u32 << precision_bits) - n_symbols as u32 - MARGIN);
        let scale = if total.is_finite() && total > 0.0 {
            room / total
        } else {
            0.0
        };
        scratch.clear();
        scratch.extend(
            patches
                .iter()
                .filter(|&&(symbol, _)| symbol as usize != n_symbols - 1)
                .map(|&(symbol, w)| PatchCount {
                    symbol,
                    // Saturating; the overfull check catches what a saturated count would break.
                    count: 1 + (positive(w) * scale).min(f64::from(1u32 << MAX_PRECISION_BITS)) as u32,
                }),
        );
        Ok(Self {
            dense,
            dense_scale: (dense_weight * scale) as f32,
            offset: (uniform_weight * scale) as f32,
            patches: scratch,
            n_symbols: n_symbols as u32,
            precision_bits,
        })
    }

    /// The table's precision: counts are out of `2^precision_bits`.
    pub fn precision_bits(&self) -> u32 {
        self.precision_bits
    }

    pub fn n_symbols(&self) -> usize {
        self.n_symbols as usize
    }

    /// The count of unpatched symbol `t`.
    fn unpatched_count(&self, t: usize) -> u32 {
        dense_count(self.dense.get(t).copied().unwrap_or(0.0), self.dense_scale, self.offset)
    }

    /// The sum of the unpatched counts of symbols `start..end` as if none were patched.
    fn dense_range_sum(&self, start: usize, end: usize) -> u64 {
        let stored = end.min(self.dense.len());
        let from_vector = if start < stored {
            dense_sum(&self.dense[start..stored], self.dense_scale, self.offset)
        } else {
            0
        };
        let beyond = (end - start.max(stored).min(end)) as u64;
        from_vector + beyond * u64::from(dense_count(0.0, self.dense_scale, self.offset))
    }

    /// `(start, count)` of `symbol`, out of `2^precision_bits`.
    ///
    /// # Errors
    /// [`CdfError::Overfull`] if the counts before it leave no room for it (impossible for a mixture whose
    /// weights are what [`LazyCdf::new`] was given).
    ///
    /// # Panics
    /// If `symbol >= n_symbols`.
    pub fn range(&self, symbol: usize) -> Result<(u32, u32), CdfError> {
        assert!(symbol < self.n_symbols(), "symbol {symbol} is outside the table");
        let mut start = self.dense_range_sum(0, symbol);
        let mut count = None;
        for patch in self.patches {
            let t = patch.symbol as usize;
            if t > symbol {
                break;
            }
            if t == symbol {
                count = Some(patch.count);
            } else {
                start = start + u64::from(patch.count) - u64::from(self.unpatched_count(t));
            }
        }
        let total = 1u64 << self.precision_bits;
        let count = if symbol + 1 == self.n_symbols() {
            total.saturating_sub(start)
        } else {
            u64::from(count.unwrap_or_else(|| self.unpatched_count(symbol)))
        };
        if count == 0 || start + count > total {
            return Err(CdfError::Overfull);
        }
        Ok((start as u32, count as u32))
    }

    /// The symbol whose interval holds `target` (targets past the end go to the last symbol) and that interval.
    ///
    /// # Errors
    /// [`CdfError::Overfull`] if the counts reach past the total before the target is found.
    pub fn find(&self, target: u32) -> Result<(usize, u32, u32), CdfError> {
        let target = u64::from(target);
        let last = self.n_symbols() - 1;
        let mut cum = 0u64;
        let mut next = 0;
        for patch in self.patches.iter().chain(std::iter::once(&PatchCount {
            symbol: last as u32,
            count: 0,
        })) {
            let t = patch.symbol as usize;
            match self.scan(next, t, cum, target) {
                Ok((symbol, start)) => return self.checked(symbol, start, u64::from(self.unpatched_count(symbol))),
                Err(after) => cum = after,
            }
            if t == last {
                break;
            }
            if target < cum + u64::from(patch.count) {
                return self.checked(t, cum, u64::from(patch.count));
            }
            cum += u64::from(patch.count);
            next = t + 1;
        }
        let total = 1u64 << self.precision_bits;
        self.checked(last, cum, total.saturating_sub(cum))
    }

    fn checked(&self, symbol: usize, start: u64, count: u64) -> Result<(usize, u32, u32), CdfError> {
        if count == 0 || start + count > 1u64 << self.precision_bits {
            return Err(CdfError::Overfull);
        }
        Ok((symbol, start as u32, count as u32))
    }

    /// Among unpatched symbols `start..end` whose counts begin at `cum`: the one whose interval holds `target`,
    /// with its start; if the target lies past them, where their counts end.
    fn scan(&self, start: usize, end: usize, cum: u64, target: u64) -> Result<(usize, u64), u64> {
        let mut cum = cum;
        let mut t = start;
        // Whole blocks first, summed as fast as the vector unit allows; then one symbol at a time.
        while t < end {
            let block_end = (t + BLOCK).min(end);
            let sum = self.dense_range_sum(t, block_end);
            if cum + sum <= target {
                cum += sum;
                t = block_end;
                continue;
            }
            for s in t..block_end {
                let count = u64::from(self.unpatched_count(s));
                if target < cum + count {
                    return Ok((s, cum));
                }
                cum += count;
            }
            // Not reached: the counts one by one are the block's sum.
            t = block_end;
        }
        Err(cum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The whole table, symbol by symbol, with every invariant checked against `find`.
    fn materialize(cdf: &LazyCdf<'_>) -> Vec<(u32, u32)> {
        let total = 1u64 << cdf.precision_bits();
        let ranges: Vec<(u32, u32)> = (0..cdf.n_symbols()).map(|s| cdf.range(s).unwrap()).collect();
        let mut cum = 0u64;
        for (s, &(start, count)) in ranges.iter().enumerate() {
            assert_eq!(u64::from(start), cum, "symbol {s}");
            assert!(count >= 1);
            for target in [start, start + count / 2, start + count - 1] {
                assert_eq!(cdf.find(target).unwrap(), (s, start, count), "target {target}");
            }
            cum += u64::from(count);
        }
        assert_eq!(cum, total);
        ranges
    }

    #[test]
    fn a_dense_mixture_matches_its_weights() {
        let p: Vec<f32> = (0..1000).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let sum: f64 = p.iter().map(|&x| f64::from(x)).sum();
        let mut scratch = Vec::new();
        let cdf = LazyCdf::new(1000, 28, &p, sum, 1.0, 0.0, &[], &mut scratch).unwrap();
        let ranges = materialize(&cdf);
        let scale = f64::from((1 << 28) - 1000 - MARGIN) / sum;
        // Counts are taken in f32: `P * (dense_weight * scale)`, truncated.
        assert_eq!(ranges[0].1, 1 + (p[0] * scale as f32) as u32);
        assert!(ranges[0].1.abs_diff(1 + (f64::from(p[0]) * scale) as u32) <= 1);
        // The last symbol has what is left: its own count plus the margin and the truncations.
        let left = ranges[999].1 - (1 + (p[999] * scale as f32) as u32);
        assert!((MARGIN..MARGIN + 1000).contains(&left), "{left}");
    }

    #[test]
    fn patches_replace_dense_values() {
        let p = vec![0.5f32; 300];
        let mut scratch = Vec::new();
        let patches = [(3, 10.0), (200, 0.0), (299, 7.0)];
        let cdf = LazyCdf::new(400, 28, &p, 150.0, 1.0, 0.01, &patches, &mut scratch).unwrap();
        let ranges = materialize(&cdf);
        assert_eq!(ranges[200].1, 1);
        // Symbol 3 holds about 10 / (0.5 * 297 + 0.01 * 397 + 17) of the table.
        let share = f64::from(ranges[3].1) / f64::from(1u32 << 28);
        assert!((share - 10.0 / 170.44).abs() < 1e-3, "{share}");
        // Past the dense vector the symbols have the uniform weight only.
        assert!(ranges[350].1 < ranges[100].1 / 20);
    }

    #[test]
    fn without_a_dense_vector_the_table_is_uniform_plus_patches() {
        let mut scratch = Vec::new();
        let cdf = LazyCdf::new(5000, 28, &[], 0.0, 0.0, 1.0 / 5000.0, &[(17, 1.0)], &mut scratch).unwrap();
        let ranges = materialize(&cdf);
        assert!(ranges[17].1 > (1 << 26));
        assert_eq!(ranges[0].1, ranges[4000].1);
    }

    #[test]
    fn unsorted_or_out_of_range_patches_are_refused() {
        let mut scratch = Vec::new();
        for patches in [&[(5, 1.0), (5, 1.0)][..], &[(9, 1.0), (2, 1.0)], &[(10, 1.0)]] {
            let err = LazyCdf::new(10, 28, &[], 0.0, 0.0, 1.0, patches, &mut scratch).unwrap_err();
            assert_eq!(err, CdfError::BadPatches);
        }
    }

    #[test]
    fn the_vector_sum_is_the_scalar_sum() {
        let mut p: Vec<f32> = (0..10_007).map(|i| ((i * 7919) % 1013) as f32 / 1013.0).collect();
        // Values a caller should not pass still count the same way everywhere.
        for (i, odd) in [
            (3, f32::NAN),
            (200, -1.5),
            (201, f32::INFINITY),
            (202, f32::NEG_INFINITY),
            (203, 1e30),
        ] {
            p[i] = odd;
        }
        let scalar: u64 = p.iter().map(|&x| u64::from(dense_count(x, 12_345.6, 0.7))).sum();
        assert_eq!(dense_sum(&p, 12_345.6, 0.7), scalar);
        assert_eq!(dense_sum_portable(&p, 12_345.6, 0.7), scalar);
        assert_eq!(dense_count(f32::NAN, 1.0, 0.0), (1 << MAX_PRECISION_BITS) + 1);
        assert_eq!(dense_count(-1.5, 1.0, 0.0), 1);
    }

    proptest! {
        #[test]
        fn every_mixture_gives_a_valid_table(
            p in proptest::collection::vec(0.0f32..=1.0, 1..700),
            extra in 0usize..300,
            dense_weight in 0.0f64..2.0,
            uniform_weight in 0.0f64..0.01,
            patch_weights in proptest::collection::btree_map(0u32..1000, 0.0f64..3.0, 0..12),
        ) {
            let n = p.len() + extra;
            let sum: f64 = p.iter().map(|&x| f64::from(x)).sum();
            let patches: Vec<(u32, f64)> =
                patch_weights.into_iter().filter(|&(s, _)| (s as usize) < n).collect();
            let mut scratch = Vec::new();
            let cdf = LazyCdf::new(n, 28, &p, sum, dense_weight, uniform_weight, &patches, &mut scratch).unwrap();
            materialize(&cdf);
        }
    }
}
