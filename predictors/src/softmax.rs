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
/// Adding this and subtracting it again rounds an `f32` below 2^22 in magnitude to the nearest integer.
const ROUNDING_MAGIC: f32 = 12_582_912.0;
/// 2^23: added to a small non-negative integer-valued `f32`, its bits end in that integer.
const EXPONENT_MAGIC: f32 = 8_388_608.0;

/// [`exp2_nonpositive`] without integer conversions, so that it vectorizes: `floor` by magic-number rounding,
/// `2^floor` by assembling the exponent bits from a float. NaN maps to 2^-125 and positive values to 1.
#[inline(always)]
fn exp2_clamped(t: f32) -> f32 {
    // NaN fails the first comparison and becomes MIN_EXPONENT.
    let t = if t > MIN_EXPONENT { t } else { MIN_EXPONENT };
    let t = if t < 0.0 { t } else { 0.0 };
    let nearest = (t + ROUNDING_MAGIC) - ROUNDING_MAGIC;
    let whole = nearest - if nearest > t { 1.0 } else { 0.0 };
    let frac = t - whole;
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

#[inline(always)]
fn bias_and_max_portable(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> Peak {
    let mut max = [f32::NEG_INFINITY; SUM_LANES];
    let mut index = [0u32; SUM_LANES];
    let n = logits.len();
    let with_bias = !bias.is_empty();
    for base in (0..n).step_by(SUM_LANES) {
        let end = (base + SUM_LANES).min(n);
        for i in base..end {
            let lane = i - base;
            let x = if with_bias {
                // The previous LM position's step of gradient descent, applied now (see `Predictor::update`).
                let b = bias[i] - step * buffer[i];
                bias[i] = b;
                logits[i] + b
            } else {
                logits[i]
            };
            buffer[i] = x;
            // Strictly greater: a lane keeps its first maximum. NaN and +inf never qualify.
            let better = x > max[lane] && x < f32::INFINITY;
            max[lane] = if better { x } else { max[lane] };
            index[lane] = if better { i as u32 } else { index[lane] };
        }
    }
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

#[inline(always)]
fn exp_weights_portable(buffer: &mut [f32], max: f32) -> f64 {
    let mut partial = [0.0f64; SUM_LANES];
    let n = buffer.len();
    for base in (0..n).step_by(SUM_LANES) {
        let end = (base + SUM_LANES).min(n);
        for i in base..end {
            let p = exp2_clamped((buffer[i] - max) * LOG2_E);
            buffer[i] = p;
            partial[i - base] += f64::from(p);
        }
    }
    let mut width = SUM_LANES / 2;
    while width > 0 {
        for lane in 0..width {
            partial[lane] += partial[lane + width];
        }
        width /= 2;
    }
    partial[0]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bias_and_max_avx2(logits: &[f32], bias: &mut [f32], buffer: &mut [f32], step: f32) -> Peak {
    bias_and_max_portable(logits, bias, buffer, step)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exp_weights_avx2(buffer: &mut [f32], max: f32) -> f64 {
    exp_weights_portable(buffer, max)
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
        return unsafe { bias_and_max_avx2(logits, bias, buffer, step) };
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
        return unsafe { exp_weights_avx2(buffer, max) };
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
    fn the_vectorizable_exponential_is_the_scalar_one_where_both_are_defined() {
        for i in 0..=200_000 {
            let t = -(i as f32) * 0.000_625_1;
            assert_eq!(exp2_clamped(t).to_bits(), exp2_nonpositive(t).to_bits(), "t={t}");
        }
        assert_eq!(exp2_clamped(f32::NAN), exp2_nonpositive(MIN_EXPONENT));
        assert_eq!(exp2_clamped(3.0), 1.0);
        assert_eq!(exp2_clamped(-1000.0), exp2_nonpositive(MIN_EXPONENT));
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
        assert_eq!(buffer[2], exp2_nonpositive(MIN_EXPONENT));
        assert_eq!(buffer[6], exp2_nonpositive(MIN_EXPONENT));
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
        assert_eq!(passes(&logits, &mut [], &mut buffer, 0.0).0, Peak { max: 9.0, index: 517 });
    }

    #[test]
    fn the_bias_step_is_applied_before_the_bias_is_added() {
        let logits = [1.0, 2.0, 3.0];
        let mut bias = vec![0.5, -0.5, 0.25, 7.0];
        let mut buffer = vec![0.5, 1.0, 0.0, 1.0];
        let peak = bias_and_max(&logits, &mut bias, &mut buffer, 0.5);
        assert_eq!(bias, vec![0.25, -1.0, 0.25, 7.0], "the symbol past the logits keeps its bias");
        assert_eq!(&buffer[..3], &[1.25, 1.0, 3.25]);
        assert_eq!(peak, Peak { max: 3.25, index: 2 });
    }

    #[test]
    fn the_portable_passes_give_the_dispatched_bits() {
        let logits: Vec<f32> = (0..4099).map(|i| ((i * 104_729) % 7919) as f32 * 0.003 - 11.0).collect();
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

    const PINNED_V8: (usize, u64, u64) = (115, 4633298355019650106, 15027942070750291884);
}
