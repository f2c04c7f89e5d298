//! Deterministic softmax: the same logits give the same probabilities bit for bit on every platform and build.
//! The exponential is our own (IEEE-exact operations only: multiply, add, floor, exponent-bit assembly; Rust never
//! contracts them into FMAs), so no platform libm is on the probability path.

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
}
