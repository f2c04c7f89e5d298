//! Deterministic softmax: the same logits give the same probabilities bit for bit on every platform and build.
//! The exponential is our own (IEEE-exact operations only: multiply, add, floor, exponent-bit assembly; Rust never
//! contracts them into FMAs), so no platform libm is on the probability path.
//!
//! Two forms: [`softmax_into`], the scalar one of format versions 1–7, and the two vocabulary passes of format
//! version 8 ([`bias_and_max`], [`exp_weights`]), written so that the compiler vectorizes them: every element is
//! computed by the same operations on its own (vector lanes change nothing), reductions are a maximum (exact in any
//! order) and a sum kept in [`SUM_LANES`] `f64` partials, element `i` in partial `i mod SUM_LANES`, added up by a
//! fixed tree. The same bits therefore come from the scalar build, SSE2 and AVX2.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// Below this power of two the weight is flushed to zero; the CDF floor gives such tokens their minimum anyway.
const MIN_EXPONENT: f32 = -125.0;

/// 2^t for t in [MIN_EXPONENT, 0]: 2^floor(t) from exponent bits times the degree-7 Taylor polynomial of 2^frac
/// (relative error below 1e-5 after the f32 rounding of t; what matters is that it is the same everywhere).
#[inline(always)]
fn exp2_nonpositive(t: f32) -> f32 {
    let t = if t < MIN_EXPONENT { MIN_EXPONENT } else { t };
    // floor() without a libm call: truncation rounds up for negative non-integers.
    let truncated = t as i32;
    let whole = truncated - i32::from((truncated as f32) > t);
    let frac = t - whole as f32;
    // Taylor-like coefficients of 2^x = e^(x ln 2) on [0, 1).
    let p = 1.0
        + frac
            * (std::f32::consts::LN_2
                + frac
                    * (0.240_226_5
                        + frac
                            * (0.055_504_11
                                + frac
                                    * (0.009_618_129
                                        + frac
                                            * (0.001_333_355 + frac * (0.000_154_035_3 + frac * 0.000_015_252_73))))));
    let scale = f32::from_bits(((whole + 127) as u32) << 23);
    p * scale
}

/// Partial sums (and running maxima) of the version-8 passes: element `i` goes to lane `i mod LANES`.
pub(crate) const SUM_LANES: usize = 16;
/// Elements whose weights a lane sums in `f32` (16 per lane, a relative error below 2^-19) before adding the sum
/// into its `f64` partial.
const SUM_BLOCK: usize = 256;
/// Adding this and subtracting it again rounds an `f32` below 2^22 in magnitude to the nearest integer.
const ROUNDING_MAGIC: f32 = 12_582_912.0;
/// 2^23: added to a small non-negative integer-valued `f32`, its bits end in that integer.
const EXPONENT_MAGIC: f32 = 8_388_608.0;

/// Coefficients of format version 8's 2^frac on [0, 1): `1 + frac*(c1 + frac*(c2 + frac*(c3 + frac*c4)))`, a
/// relative-error fit (below 3e-6; what matters is that it is the same everywhere, and that 2^0 is exactly 1).
const EXP2_V8: [f32; 4] = [0.693_044_84, 0.241_280_15, 0.052_242_6, 0.013_426_607];

/// Format version 8's 2^t, written without integer conversions so that it vectorizes: `t` clamped to
/// [MIN_EXPONENT, 0] (NaN to MIN_EXPONENT), `floor` by magic-number rounding, `2^floor` by assembling the exponent
/// bits from a float.
#[inline(always)]
fn exp2_clamped(t: f32) -> f32 {
    // The comparisons are those of the vector instructions `max` and `min`: NaN fails the first.
    let t = if t > MIN_EXPONENT { t } else { MIN_EXPONENT };
    let t = if t < 0.0 { t } else { 0.0 };
    let nearest = (t + ROUNDING_MAGIC) - ROUNDING_MAGIC;
    let whole = nearest - if nearest > t { 1.0 } else { 0.0 };
    let frac = t - whole;
    let p = 1.0 + frac * (EXP2_V8[0] + frac * (EXP2_V8[1] + frac * (EXP2_V8[2] + frac * EXP2_V8[3])));
    // whole + 127 is an integer in 2..=127; adding 2^23 puts it in the low mantissa bits, and shifting them into
    // the exponent field drops the rest.
    let scale = f32::from_bits(((whole + 127.0) + EXPONENT_MAGIC).to_bits() << 23);
    p * scale
}

/// The largest finite value of `x` (`-inf` if there is none) and the first index where it occurs (0 then).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Peak {
    pub max: f32,
    pub index: usize,
}

/// One element of pass A in lane `lane`; `x` is the biased logit.
#[inline(always)]
fn track_peak(x: f32, i: usize, max: &mut f32, index: &mut u32) {
    // Strictly greater: a lane keeps its first maximum. NaN and +inf never qualify.
    let better = x > *max && x < f32::INFINITY;
    *max = if better { x } else { *max };
    *index = if better { i as u32 } else { *index };
}

#[inline(always)]
fn bias_and_max_portable(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> Peak {
    let mut max = [f32::NEG_INFINITY; SUM_LANES];
    let mut index = [0u32; SUM_LANES];
    let n = logits.len();
    let whole = n - n % SUM_LANES;
    if bias.is_empty() {
        for (base, (l, out)) in logits[..whole]
            .chunks_exact(SUM_LANES)
            .zip(buffer[..whole].chunks_exact_mut(SUM_LANES))
            .enumerate()
        {
            for lane in 0..SUM_LANES {
                out[lane] = l[lane];
                track_peak(l[lane], base * SUM_LANES + lane, &mut max[lane], &mut index[lane]);
            }
        }
        for i in whole..n {
            buffer[i] = logits[i];
            track_peak(logits[i], i, &mut max[i - whole], &mut index[i - whole]);
        }
    } else {
        // The previous LM position's step of gradient descent, applied now (see `Predictor::update`).
        for (base, ((l, b), out)) in logits[..whole]
            .chunks_exact(SUM_LANES)
            .zip(bias[..whole].chunks_exact_mut(SUM_LANES))
            .zip(buffer[..whole].chunks_exact_mut(SUM_LANES))
            .enumerate()
        {
            for lane in 0..SUM_LANES {
                b[lane] -= step * out[lane];
                let x = l[lane] + b[lane];
                out[lane] = x;
                track_peak(x, base * SUM_LANES + lane, &mut max[lane], &mut index[lane]);
            }
        }
        for i in whole..n {
            bias[i] -= step * buffer[i];
            let x = logits[i] + bias[i];
            buffer[i] = x;
            track_peak(x, i, &mut max[i - whole], &mut index[i - whole]);
        }
    }
    finish_peak(&max, &index)
}

/// The peak over the lanes' running maxima: the largest, at the smallest index where a lane holds it.
fn finish_peak(max: &[f32; SUM_LANES], index: &[u32; SUM_LANES]) -> Peak {
    let top = max.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let first = (0..SUM_LANES)
        .filter(|&lane| max[lane] == top)
        .map(|lane| index[lane])
        .min()
        .unwrap_or(0);
    Peak {
        max: top,
        index: if top == f32::NEG_INFINITY { 0 } else { first as usize },
    }
}

/// The partial sums added up by the fixed tree: lane `i` takes lane `i + 8`, then `i + 4`, `i + 2`, `i + 1`.
fn finish_sum(mut partial: [f64; SUM_LANES]) -> f64 {
    let mut width = SUM_LANES / 2;
    while width > 0 {
        for lane in 0..width {
            partial[lane] += partial[lane + width];
        }
        width /= 2;
    }
    partial[0]
}

#[inline(always)]
fn exp_weights_portable(buffer: &mut [f32], max: f32) -> f64 {
    let mut partial = [0.0f64; SUM_LANES];
    for block in buffer.chunks_mut(SUM_BLOCK) {
        exp_block(block, max, &mut partial);
    }
    finish_sum(partial)
}

/// One block (at most [`SUM_BLOCK`] elements) of pass B, element by element.
#[inline(always)]
fn exp_block(block: &mut [f32], max: f32, partial: &mut [f64; SUM_LANES]) {
    let mut block_partial = [0.0f32; SUM_LANES];
    for (i, x) in block.iter_mut().enumerate() {
        let p = exp2_clamped((*x - max) * LOG2_E);
        *x = p;
        block_partial[i % SUM_LANES] += p;
    }
    add_block(partial, &block_partial);
}

/// Adds a block's `f32` lane sums into the `f64` ones.
#[inline(always)]
fn add_block(partial: &mut [f64; SUM_LANES], block: &[f32; SUM_LANES]) {
    for (sum, &b) in partial.iter_mut().zip(block) {
        *sum += f64::from(b);
    }
}

/// The passes in AVX2 intrinsics: per element the operations of the portable code in the same order (the
/// compiler does not vectorize that code well), the lanes and partial sums assigned alike.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{add_block, exp_block, finish_peak, finish_sum, track_peak, Peak, SUM_BLOCK, SUM_LANES};
    use super::{EXP2_V8, EXPONENT_MAGIC, LOG2_E, MIN_EXPONENT};
    use std::arch::x86_64::*;

    /// [`exp2_clamped`] of `(x - max) * log2 e` on 8 lanes (`max`/`min` are its comparisons; `floor` is
    /// exact, as the magic-number rounding is).
    #[target_feature(enable = "avx2")]
    fn exp8(x: __m256, max: __m256) -> __m256 {
        let t = _mm256_mul_ps(_mm256_sub_ps(x, max), _mm256_set1_ps(LOG2_E));
        let t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(MIN_EXPONENT)), _mm256_setzero_ps());
        let whole = _mm256_floor_ps(t);
        let frac = _mm256_sub_ps(t, whole);
        let mut p = _mm256_mul_ps(frac, _mm256_set1_ps(EXP2_V8[3]));
        for &c in EXP2_V8[..3].iter().rev() {
            p = _mm256_mul_ps(frac, _mm256_add_ps(_mm256_set1_ps(c), p));
        }
        p = _mm256_add_ps(_mm256_set1_ps(1.0), p);
        let biased = _mm256_add_ps(
            _mm256_add_ps(whole, _mm256_set1_ps(127.0)),
            _mm256_set1_ps(EXPONENT_MAGIC),
        );
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(biased)));
        _mm256_mul_ps(p, scale)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn exp_weights(buffer: &mut [f32], max: f32) -> f64 {
        let max8 = _mm256_set1_ps(max);
        let mut partial = [0.0f64; SUM_LANES];
        let mut blocks = buffer.chunks_exact_mut(SUM_BLOCK);
        for block in &mut blocks {
            // Lanes 0-7 and 8-15 of the block's f32 sums.
            let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for at in (0..SUM_BLOCK).step_by(SUM_LANES) {
                // SAFETY: at + 16 <= SUM_BLOCK, the block's length.
                let ptr = block[at..].as_mut_ptr();
                let p = exp8(unsafe { _mm256_loadu_ps(ptr) }, max8);
                unsafe { _mm256_storeu_ps(ptr, p) };
                low = _mm256_add_ps(low, p);
                let p = exp8(unsafe { _mm256_loadu_ps(ptr.add(8)) }, max8);
                unsafe { _mm256_storeu_ps(ptr.add(8), p) };
                high = _mm256_add_ps(high, p);
            }
            let mut block_partial = [0.0f32; SUM_LANES];
            // SAFETY: two stores of 8 floats into the 16-float array.
            unsafe {
                _mm256_storeu_ps(block_partial.as_mut_ptr(), low);
                _mm256_storeu_ps(block_partial[8..].as_mut_ptr(), high);
            }
            add_block(&mut partial, &block_partial);
        }
        let rest = blocks.into_remainder();
        if !rest.is_empty() {
            exp_block(rest, max, &mut partial);
        }
        finish_sum(partial)
    }

    /// The lanes' running maxima and their first indices over `x = next(at)` for the first `whole` elements, 8
    /// at a time.
    #[target_feature(enable = "avx2")]
    fn peaks(whole: usize, mut next: impl FnMut(usize) -> __m256) -> ([__m256; 2], [__m256i; 2]) {
        let infinity = _mm256_set1_ps(f32::INFINITY);
        // Lanes 0-7 and 8-15 in registers of their own (an array indexed by half would live in memory).
        let (mut max_low, mut max_high) = (_mm256_set1_ps(f32::NEG_INFINITY), _mm256_set1_ps(f32::NEG_INFINITY));
        let (mut index_low, mut index_high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut next_low = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let sixteen = _mm256_set1_epi32(SUM_LANES as i32);
        let eight = _mm256_set1_epi32(8);
        let better = |x: __m256, max: __m256| {
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(x, max),
                _mm256_cmp_ps::<_CMP_LT_OQ>(x, infinity),
            )
        };
        for base in (0..whole).step_by(SUM_LANES) {
            let next_high = _mm256_add_epi32(next_low, eight);
            let x = next(base);
            let mask = better(x, max_low);
            max_low = _mm256_blendv_ps(max_low, x, mask);
            index_low = _mm256_blendv_epi8(index_low, next_low, _mm256_castps_si256(mask));
            let x = next(base + 8);
            let mask = better(x, max_high);
            max_high = _mm256_blendv_ps(max_high, x, mask);
            index_high = _mm256_blendv_epi8(index_high, next_high, _mm256_castps_si256(mask));
            next_low = _mm256_add_epi32(next_low, sixteen);
        }
        ([max_low, max_high], [index_low, index_high])
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn bias_and_max(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> Peak {
        let n = logits.len();
        let whole = n - n % SUM_LANES;
        let with_bias = !bias.is_empty();
        let (max8, index8) = if with_bias {
            let step8 = _mm256_set1_ps(step);
            peaks(whole, |at| {
                // SAFETY: at + 8 <= whole <= n, the length of `logits`, `bias` and `buffer`.
                let l = unsafe { _mm256_loadu_ps(logits.as_ptr().add(at)) };
                let out = unsafe { _mm256_loadu_ps(buffer.as_ptr().add(at)) };
                let b = unsafe { _mm256_loadu_ps(bias.as_ptr().add(at)) };
                let b = _mm256_sub_ps(b, _mm256_mul_ps(step8, out));
                let x = _mm256_add_ps(l, b);
                unsafe {
                    _mm256_storeu_ps(bias.as_mut_ptr().add(at), b);
                    _mm256_storeu_ps(buffer.as_mut_ptr().add(at), x);
                }
                x
            })
        } else {
            peaks(whole, |at| {
                // SAFETY: at + 8 <= whole <= n, the length of `logits` and `buffer`.
                let l = unsafe { _mm256_loadu_ps(logits.as_ptr().add(at)) };
                unsafe { _mm256_storeu_ps(buffer.as_mut_ptr().add(at), l) };
                l
            })
        };
        let mut max = [0.0f32; SUM_LANES];
        let mut index = [0u32; SUM_LANES];
        for half in 0..2 {
            // SAFETY: 8 lanes into 16-element arrays at offset 0 or 8.
            unsafe {
                _mm256_storeu_ps(max[8 * half..].as_mut_ptr(), max8[half]);
                _mm256_storeu_si256(index[8 * half..].as_mut_ptr().cast(), index8[half]);
            }
        }
        for i in whole..n {
            let x = if with_bias {
                bias[i] -= step * buffer[i];
                logits[i] + bias[i]
            } else {
                logits[i]
            };
            buffer[i] = x;
            track_peak(x, i, &mut max[i - whole], &mut index[i - whole]);
        }
        finish_peak(&max, &index)
    }
}

/// Pass A of format version 8 over `logits.len()` symbols: with a bias head (`bias` not empty), first applies
/// the pending bias step `bias[i] -= step * buffer[i]` (`buffer` holds the previous LM position's weights), then
/// writes `x[i] = logits[i] + bias[i]` into `buffer` (without a bias head, `x = logits`). Returns the peak of `x`.
///
/// # Panics
/// If `buffer` (or a non-empty `bias`) is shorter than `logits`.
pub(crate) fn bias_and_max(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> Peak {
    let n = logits.len();
    let (bias, buffer) = (if bias.is_empty() { bias } else { &mut bias[..n] }, &mut buffer[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only requirement of the function; the arithmetic is the portable one.
        return unsafe { avx2::bias_and_max(logits, bias, buffer, step) };
    }
    bias_and_max_portable(logits, bias, buffer, step)
}

/// Pass B of format version 8: replaces each `x` in `buffer` by its unnormalised softmax weight
/// `P = 2^((x - max) * log2 e)` (exponent clamped to [-125, 0], so NaN and -inf weigh 2^-125 and the peak 1) and
/// returns their sum. If `max` is not finite (no finite logit), every weight is 1.
pub(crate) fn exp_weights(buffer: &mut [f32], max: f32) -> f64 {
    if !max.is_finite() {
        buffer.fill(1.0);
        return buffer.len() as f64;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: as in `bias_and_max`.
        return unsafe { avx2::exp_weights(buffer, max) };
    }
    exp_weights_portable(buffer, max)
}

/// e^x for x ≤ 0, with the same deterministic exponential as [`softmax_into`].
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    exp2_nonpositive(x.min(0.0) * LOG2_E)
}

/// Writes unnormalised `softmax(logits)` weights into `out` (the CDF quantizer divides by their sum). NaN logits
/// get weight 0; if no logit is finite, all weights are 1.
pub fn softmax_into(logits: &[f32], out: &mut Vec<f32>) {
    out.clear();
    let max = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        out.resize(logits.len(), 1.0);
        return;
    }
    out.extend(logits.iter().map(|&l| {
        // NaN and -inf compare false here and map to 0.
        if l >= f32::MIN {
            exp2_nonpositive((l.min(max) - max) * LOG2_E)
        } else {
            0.0
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_true_exponential() {
        for i in 0..2000 {
            let x = -(i as f32) * 0.037;
            let got = exp2_nonpositive(x * LOG2_E) as f64;
            let want = (x as f64).exp();
            assert!((got - want).abs() <= want * 1e-5 + 1e-37, "x={x} got={got} want={want}");
        }
    }

    #[test]
    fn peaks_where_the_logit_is_largest_and_handles_non_finite() {
        let mut out = Vec::new();
        softmax_into(&[0.0, 2.0, f32::NAN, f32::NEG_INFINITY, f32::INFINITY], &mut out);
        assert_eq!(out[1], 1.0);
        assert!(out[0] > 0.135 && out[0] < 0.1354);
        assert_eq!(out[2], 0.0);
        assert_eq!(out[3], 0.0);
        assert_eq!(out[4], 1.0);
        softmax_into(&[f32::NAN, f32::NAN], &mut out);
        assert_eq!(out, vec![1.0, 1.0]);
    }

    /// Pins the bits: a change here changes every compressed file.
    #[test]
    fn pinned_bits() {
        let mut out = Vec::new();
        softmax_into(&[0.5, -1.25, 3.0, 2.999, -80.0, -200.0], &mut out);
        let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, PINNED);
    }

    const PINNED: [u32; 6] = [1034427438, 1013560452, 1065353216, 1065336436, 60351164, 16777216];

    #[test]
    fn the_version_8_exponential_is_close_and_clamped() {
        for i in 0..=199_000 {
            let t = -(i as f32) * 0.000_625_1;
            let (got, want) = (f64::from(exp2_clamped(t)), 2f64.powf(f64::from(t)));
            assert!((got - want).abs() <= want * 4e-6, "t={t} got={got} want={want}");
        }
        assert_eq!(exp2_clamped(0.0), 1.0);
        assert_eq!(exp2_clamped(f32::NAN), exp2_clamped(MIN_EXPONENT));
        assert_eq!(exp2_clamped(3.0), 1.0);
        assert_eq!(exp2_clamped(-1000.0), exp2_clamped(MIN_EXPONENT));
    }

    fn passes(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> (Peak, f64) {
        let peak = bias_and_max(logits, bias, buffer, step);
        let sum = exp_weights(&mut buffer[..logits.len()], peak.max);
        (peak, sum)
    }

    #[test]
    fn version_8_passes_find_the_first_peak_and_sum_in_sixteen_lanes() {
        let logits = [0.5, 3.0, f32::NAN, f32::INFINITY, 3.0, -2.0, f32::NEG_INFINITY, 1.0];
        let mut buffer = vec![0.0; 8];
        let (peak, sum) = passes(&logits, &mut [], &mut buffer, 0.0);
        assert_eq!(peak, Peak { max: 3.0, index: 1 });
        assert_eq!(buffer[1], 1.0);
        assert_eq!(buffer[3], 1.0, "+inf weighs as much as the peak");
        assert_eq!(buffer[4], 1.0);
        assert_eq!(buffer[2], exp2_clamped(MIN_EXPONENT));
        assert_eq!(buffer[6], exp2_clamped(MIN_EXPONENT));
        let want: f64 = buffer.iter().map(|&p| f64::from(p)).sum();
        assert!((sum - want).abs() < 1e-12);
        let (peak, sum) = passes(&[f32::NAN; 5], &mut [], &mut buffer, 0.0);
        assert_eq!((peak.index, sum), (0, 5.0));
        assert!(buffer[..5].iter().all(|&p| p == 1.0));
        // A peak in another lane than the first occurrence's, far along.
        let mut logits: Vec<f32> = (0..1000).map(|i| (i % 37) as f32 * 0.01).collect();
        logits[517] = 9.0;
        logits[900] = 9.0;
        let mut buffer = vec![0.0; 1000];
        assert_eq!(
            passes(&logits, &mut [], &mut buffer, 0.0).0,
            Peak { max: 9.0, index: 517 }
        );
    }

    #[test]
    fn the_bias_step_is_applied_before_the_bias_is_added() {
        let logits = [1.0, 2.0, 3.0];
        let mut bias = vec![0.5, -0.5, 0.25, 7.0];
        let mut buffer = vec![0.5, 1.0, 0.0, 1.0];
        let peak = bias_and_max(&logits, &mut bias, &mut buffer, 0.5);
        assert_eq!(
            bias,
            vec![0.25, -1.0, 0.25, 7.0],
            "the symbol past the logits keeps its bias"
        );
        assert_eq!(&buffer[..3], &[1.25, 1.0, 3.25]);
        assert_eq!(peak, Peak { max: 3.25, index: 2 });
    }

    #[test]
    fn the_portable_passes_give_the_dispatched_bits() {
        let mut logits: Vec<f32> = (0..4099)
            .map(|i| ((i * 104_729) % 7919) as f32 * 0.003 - 11.0)
            .collect();
        for (i, special) in [
            (5, f32::NAN),
            (77, f32::INFINITY),
            (78, f32::NEG_INFINITY),
            (4098, f32::NAN),
        ] {
            logits[i] = special;
        }
        // Ties for the peak in different lanes, the later one in a lower lane.
        logits[1000] = 40.0;
        logits[1000 + 16 * 7 - 3] = 40.0;
        let bias: Vec<f32> = (0..4099).map(|i| ((i * 31) % 17) as f32 * 0.01).collect();
        let buffer: Vec<f32> = (0..4099).map(|i| ((i * 13) % 11) as f32 * 0.1).collect();
        let (mut b1, mut b2, mut p1, mut p2) = (bias.clone(), bias, buffer.clone(), buffer);
        let peak = bias_and_max(&logits, &mut b1, &mut p1, 0.07);
        assert_eq!(peak, bias_and_max_portable(&logits, &mut b2, &mut p2, 0.07));
        let sum = exp_weights(&mut p1, peak.max);
        assert_eq!(sum.to_bits(), exp_weights_portable(&mut p2, peak.max).to_bits());
        assert_eq!(b1, b2);
        assert_eq!(p1, p2);
    }

    /// Pins the version-8 bits (and so the vector and scalar builds against each other).
    #[test]
    fn version_8_pinned_bits() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1013) as f32 * 0.0173 - 9.0).collect();
        let mut bias: Vec<f32> = (0..1000).map(|i| ((i * 31) % 17) as f32 * 0.01).collect();
        let mut buffer: Vec<f32> = (0..1000).map(|i| ((i * 13) % 11) as f32 * 0.1).collect();
        let (peak, sum) = passes(&logits, &mut bias, &mut buffer, 0.03);
        let mut hash = 0xCBF2_9CE4_8422_2325u64;
        for v in buffer.iter().chain(&bias) {
            hash = (hash ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01B3);
        }
        assert_eq!((peak.index, sum.to_bits(), hash), PINNED_V8);
    }

    const PINNED_V8: (usize, u64, u64) = (115, 4633298355655540736, 11562191146746650519);
}
