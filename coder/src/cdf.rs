//! Deterministic quantization of weights into a cumulative frequency table.
//!
//! This module owns the [`Cdf`] type and the one rule set that maps weights to
//! integer frequencies. Encoder and decoder run the model separately and must
//! arrive at bit-identical tables, so the rules use only operations whose
//! IEEE-754 results are fixed: an `f64` sum in index order, one division, and
//! one multiplication and truncation per weight.
//!
//! Every [`Cdf`] value, including [`Cdf::new`], is valid at all times:
//! `cum[0] == 0`, `cum[n] == total` and every frequency is at least 1, so
//! any symbol can be coded whatever the model predicted. The total is
//! `2^precision_bits`: [`PRECISION_BITS`] unless the table was made with
//! [`Cdf::with_precision`].

use crate::{MAX_PRECISION_BITS, MAX_SYMBOLS, PRECISION_BITS};

/// Why a weight vector could not be quantized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CdfError {
    #[error("a CDF needs at least one symbol")]
    Empty,
    #[error("{0} symbols exceed the CDF limit of {MAX_SYMBOLS}")]
    TooManySymbols(usize),
    #[error("patched symbols must be distinct, sorted and inside the table")]
    BadPatches,
    #[error("the counts before a symbol leave no room for it")]
    Overfull,
}

/// A cumulative frequency table over `n` symbols totalling `2^precision_bits`.
#[derive(Clone, Debug)]
pub struct Cdf {
    /// `n + 1` entries: `cum[0] = 0`, `cum[n] = total`, strictly increasing.
    cum: Vec<u32>,
    precision_bits: u32,
}

impl Default for Cdf {
    fn default() -> Self {
        Self::new()
    }
}

/// `2^e` as an exact `f64` constant (for normal exponents only).
const fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// Below this sum `(CDF_TOTAL - n) / sum` could overflow to infinity.
const TINY_SUM: f64 = pow2(-900);

impl Cdf {
    /// A one-symbol table (the symbol costs nothing) of [`PRECISION_BITS`], so
    /// that a fresh `Cdf` already satisfies the invariants. Reuse it with
    /// [`Cdf::quantize_into`].
    pub fn new() -> Self {
        Self::with_precision(PRECISION_BITS)
    }

    /// A one-symbol table whose frequencies are out of `2^precision_bits`.
    /// More bits leave less of the total to the floor of one count per
    /// symbol (`n / 2^bits`: 1.6% for 262,144 symbols at 24 bits).
    ///
    /// # Panics
    /// Unless `PRECISION_BITS <= precision_bits <= MAX_PRECISION_BITS`: the
    /// precision is a property of a format, not of the data.
    pub fn with_precision(precision_bits: u32) -> Self {
        assert!(
            (PRECISION_BITS..=MAX_PRECISION_BITS).contains(&precision_bits),
            "CDF precision {precision_bits} is outside {PRECISION_BITS}..={MAX_PRECISION_BITS} bits"
        );
        Self {
            cum: vec![0, 1 << precision_bits],
            precision_bits,
        }
    }

    /// The table's precision: frequencies are out of `2^precision_bits`.
    pub fn precision_bits(&self) -> u32 {
        self.precision_bits
    }

    /// What the frequencies sum to: `2^precision_bits`.
    pub fn total(&self) -> u32 {
        1 << self.precision_bits
    }

    /// Quantizes nonnegative weights, which need not sum to 1.
    ///
    /// NaN, negative and infinite weights count as 0. If every weight is 0 the
    /// table is uniform: each symbol gets `total / n` and symbol 0 also gets
    /// the remainder. Otherwise, with `sum` the `f64` sum in index order and
    /// `scale = (total - n) / sum`, symbol `i` gets `1 + floor(w_i * scale)`
    /// (clamped so that every later symbol can still get its 1), and what is
    /// left of the total goes to the largest weight (lowest index on ties).
    ///
    /// On error the table is left unchanged. No allocation happens once the
    /// table has held `probs.len()` symbols before.
    pub fn quantize_into(&mut self, probs: &[f32]) -> Result<(), CdfError> {
        self.quantize(probs)
    }

    /// [`Cdf::quantize_into`] for `f64` weights. One extension applies only
    /// here, since `f32` weights cannot reach it: if the sum overflows to
    /// infinity, or is so small that the scale would, every weight is first
    /// multiplied by an exact power of two (`2^-600` or `2^600`).
    pub fn quantize_f64_into(&mut self, probs: &[f64]) -> Result<(), CdfError> {
        self.quantize(probs)
    }

    fn quantize<W: Copy + Into<f64>>(&mut self, probs: &[W]) -> Result<(), CdfError> {
        let n = probs.len();
        if n == 0 {
            return Err(CdfError::Empty);
        }
        if n > MAX_SYMBOLS {
            return Err(CdfError::TooManySymbols(n));
        }
        let mut factor = 1.0;
        let (mut sum, mut argmax) = sum_and_argmax(probs, factor);
        if sum.is_infinite() || (sum > 0.0 && sum < TINY_SUM) {
            factor = if sum.is_infinite() { pow2(-600) } else { pow2(600) };
            (sum, argmax) = sum_and_argmax(probs, factor);
        }

        self.cum.clear();
        self.cum.reserve(n + 1);
        self.cum.push(0);
        // n <= MAX_SYMBOLS < total, so these casts are exact.
        let n32 = n as u32;
        let cdf_total = self.total();
        if sum == 0.0 {
            let each = cdf_total / n32;
            let first = each + cdf_total % n32;
            self.cum.extend((0..n32).map(|i| first + i * each));
            return Ok(());
        }

        let scale = f64::from(cdf_total - n32) / sum;
        let mut total = 0u32;
        for (i, &w) in probs.iter().enumerate() {
            // Rounding in the sum and the products can push the floors a few
            // counts past total - n; the budget keeps one count for every
            // symbol still to come, so the table stays valid whatever happens.
            let later = n32 - 1 - i as u32;
            let budget = cdf_total - total - later;
            // `as u32` truncates (= floor, the product is >= 0) and saturates.
            let extra = ((weight(w) * factor * scale) as u32).min(budget - 1);
            total += 1 + extra;
            self.cum.push(total);
        }
        let remainder = cdf_total - total;
        for c in &mut self.cum[argmax + 1..] {
            *c += remainder;
        }
        Ok(())
    }

    /// Number of symbols in the table.
    pub fn n_symbols(&self) -> usize {
        self.cum.len() - 1
    }

    /// `(start, frequency)` of `sym`, out of [`Cdf::total`].
    ///
    /// # Panics
    /// If `sym >= self.n_symbols()`.
    pub fn range(&self, sym: usize) -> (u32, u32) {
        let start = self.cum[sym];
        (start, self.cum[sym + 1] - start)
    }

    /// The symbol `s` with `cum[s] <= target < cum[s + 1]`. Targets at or
    /// above [`Cdf::total`] are clamped to the last symbol.
    pub fn find(&self, target: u32) -> usize {
        let target = target.min(self.total() - 1);
        // cum[0] = 0 <= target < total = cum[n], so the partition point is in
        // 1..=n.
        self.cum.partition_point(|&c| c <= target) - 1
    }

    /// The `n + 1` cumulative counts, from 0 to [`Cdf::total`].
    pub fn cumulative(&self) -> &[u32] {
        &self.cum
    }

    /// Ideal code length of `sym` in bits: `precision_bits - log2(freq)`.
    ///
    /// # Panics
    /// If `sym >= self.n_symbols()`.
    pub fn cost_bits(&self, sym: usize) -> f64 {
        f64::from(self.precision_bits) - f64::from(self.range(sym).1).log2()
    }
}

/// A weight as the rules see it: finite and positive, or else 0.
fn weight<W: Into<f64>>(w: W) -> f64 {
    let w = w.into();
    // NaN fails the comparison.
    if w.is_finite() && w > 0.0 {
        w
    } else {
        0.0
    }
}

/// The `f64` sum of the scaled weights in index order, and the index of the
/// first largest one (0 if all are 0).
fn sum_and_argmax<W: Copy + Into<f64>>(probs: &[W], factor: f64) -> (f64, usize) {
    let mut sum = 0.0;
    let mut best = 0.0;
    let mut argmax = 0;
    for (i, &w) in probs.iter().enumerate() {
        let w = weight(w) * factor;
        sum += w;
        if w > best {
            best = w;
            argmax = i;
        }
    }
    (sum, argmax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CDF_TOTAL;

    /// Checks every invariant of the table.
    fn assert_valid(cdf: &Cdf, n: usize) {
        let cum = cdf.cumulative();
        assert_eq!(cum.len(), n + 1);
        assert_eq!(cum[0], 0);
        assert_eq!(cum[n], CDF_TOTAL);
        assert!(cum.windows(2).all(|w| w[0] < w[1]), "a frequency is 0");
    }

    #[test]
    fn new_is_a_valid_single_symbol() {
        let cdf = Cdf::new();
        assert_valid(&cdf, 1);
        assert_eq!(cdf.range(0), (0, CDF_TOTAL));
        assert_eq!(cdf.cost_bits(0), 0.0);
        assert_eq!(Cdf::default().cumulative(), cdf.cumulative());
    }

    #[test]
    fn errors_leave_the_table_unchanged() {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&[1.0, 3.0]).unwrap();
        let before = cdf.cumulative().to_vec();
        assert_eq!(cdf.quantize_into(&[]), Err(CdfError::Empty));
        let too_many = vec![1.0f32; MAX_SYMBOLS + 1];
        assert_eq!(
            cdf.quantize_into(&too_many),
            Err(CdfError::TooManySymbols(MAX_SYMBOLS + 1))
        );
        assert_eq!(cdf.cumulative(), before);
    }

    #[test]
    fn max_symbols_is_accepted() {
        let mut cdf = Cdf::new();
        let mut w = vec![0.0f32; MAX_SYMBOLS];
        w[7] = 1.0;
        cdf.quantize_into(&w).unwrap();
        assert_valid(&cdf, MAX_SYMBOLS);
        assert_eq!(cdf.range(7).1, CDF_TOTAL - (MAX_SYMBOLS as u32 - 1));
    }

    #[test]
    fn all_zero_is_uniform_with_remainder_to_symbol_0() {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&[0.0, f32::NAN, -1.0, f32::INFINITY, f32::NEG_INFINITY])
            .unwrap();
        let each = CDF_TOTAL / 5;
        assert_eq!(cdf.range(0), (0, each + CDF_TOTAL % 5));
        for s in 1..5 {
            assert_eq!(cdf.range(s).1, each);
        }
    }

    #[test]
    fn remainder_goes_to_the_first_largest_weight() {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&[1.0, 3.0, 3.0]).unwrap();
        let scale = f64::from(CDF_TOTAL - 3) / 7.0;
        let floors: Vec<u32> = [1.0, 3.0, 3.0].iter().map(|w| 1 + (w * scale) as u32).collect();
        let remainder = CDF_TOTAL - floors.iter().sum::<u32>();
        assert_eq!(cdf.range(0).1, floors[0]);
        assert_eq!(cdf.range(1).1, floors[1] + remainder);
        assert_eq!(cdf.range(2).1, floors[2]);
    }

    #[test]
    fn extreme_f64_sums_are_rescaled() {
        let mut cdf = Cdf::new();
        cdf.quantize_f64_into(&[f64::MAX, f64::MAX, 0.0]).unwrap();
        assert_valid(&cdf, 3);
        assert!(cdf.range(0).1.abs_diff(cdf.range(1).1) <= 2);

        let tiny = f64::from_bits(1); // the smallest subnormal
        cdf.quantize_f64_into(&[tiny, 3.0 * tiny, 0.0]).unwrap();
        assert_valid(&cdf, 3);
        let (f0, f1) = (cdf.range(0).1, cdf.range(1).1);
        assert!((f64::from(f1) / f64::from(f0) - 3.0).abs() < 1e-5);
    }

    #[test]
    fn f32_and_f64_paths_agree() {
        let w: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1013) as f32 / 1013.0).collect();
        let w64: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
        let (mut a, mut b) = (Cdf::new(), Cdf::new());
        a.quantize_into(&w).unwrap();
        b.quantize_f64_into(&w64).unwrap();
        assert_eq!(a.cumulative(), b.cumulative());
    }

    #[test]
    fn more_precision_leaves_less_to_the_floor() {
        // Gemma's alphabet: the floor of one count per symbol is what a sure symbol pays.
        let mut w = vec![0.0f32; 262_144];
        w[5] = 1.0;
        for (bits, most) in [(24, 0.0228), (28, 0.0015)] {
            let mut cdf = Cdf::with_precision(bits);
            cdf.quantize_into(&w).unwrap();
            assert_eq!(cdf.cumulative()[262_144], 1 << bits);
            assert_eq!(cdf.total(), 1 << bits);
            assert!(cdf.cost_bits(5) < most, "{bits} bits: {}", cdf.cost_bits(5));
        }
    }

    #[test]
    fn spec_vectors_at_28_bits() {
        let mut cdf = Cdf::with_precision(28);
        cdf.quantize_into(&[1.0, 3.0, 3.0]).unwrap();
        assert_eq!(cdf.cumulative(), [0, 38_347_922, 153_391_690, 268_435_456]);
        cdf.quantize_into(&[0.0; 5]).unwrap();
        assert_eq!(cdf.range(0).1, 53_687_092);
        cdf.quantize_into(&[1.0; 3]).unwrap();
        assert_eq!(cdf.cumulative(), [0, 89_478_486, 178_956_971, 268_435_456]);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn precision_beyond_the_coder_panics() {
        Cdf::with_precision(29);
    }

    #[test]
    fn find_clamps_out_of_range_targets() {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&[1.0, 1.0, 1.0]).unwrap();
        assert_eq!(cdf.find(CDF_TOTAL), 2);
        assert_eq!(cdf.find(u32::MAX), 2);
        assert_eq!(cdf.find(0), 0);
    }
}
