//! Quantization: invariants on arbitrary weights, find/range consistency, and
//! golden tables that pin the exact rules.

use nacz_coder::{Cdf, CDF_TOTAL};
use proptest::prelude::*;

fn weight_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => 0.0f32..1.0,
        1 => Just(0.0),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(-0.5),
        1 => Just(f32::MAX),
        1 => 1e30f32..f32::MAX,
        1 => Just(f32::MIN_POSITIVE),
        1 => Just(1e-45), // subnormal
        1 => any::<f32>(),
    ]
}

fn weight_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0f64..1.0,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MAX),
        1 => Just(f64::from_bits(1)),
        1 => any::<f64>(),
    ]
}

fn assert_valid(cdf: &Cdf, n: usize) -> Result<(), TestCaseError> {
    let cum = cdf.cumulative();
    prop_assert_eq!(cdf.n_symbols(), n);
    prop_assert_eq!(cum.len(), n + 1);
    prop_assert_eq!(cum[0], 0);
    prop_assert_eq!(cum[n], CDF_TOTAL);
    prop_assert!(cum.windows(2).all(|w| w[0] < w[1]), "a frequency is 0");
    Ok(())
}

/// The largest finite positive weight, if any, gets the largest frequency:
/// it receives the remainder on top of the largest floor.
fn check_argmax(cdf: &Cdf, w: &[f64]) -> Result<(), TestCaseError> {
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    let best = w.iter().map(|&x| clean(x)).fold(0.0, f64::max);
    let max_freq = (0..cdf.n_symbols()).map(|s| cdf.range(s).1).max().unwrap();
    if best > 0.0 {
        let first = w.iter().position(|&x| clean(x) == best).unwrap();
        prop_assert_eq!(cdf.range(first).1, max_freq);
    }
    Ok(())
}

proptest! {
    #[test]
    fn f32_tables_are_valid(w in proptest::collection::vec(weight_f32(), 1..5000)) {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&w).unwrap();
        assert_valid(&cdf, w.len())?;
        let w64: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
        check_argmax(&cdf, &w64)?;
    }

    #[test]
    fn f64_tables_are_valid(w in proptest::collection::vec(weight_f64(), 1..5000)) {
        let mut cdf = Cdf::new();
        cdf.quantize_f64_into(&w).unwrap();
        assert_valid(&cdf, w.len())?;
        check_argmax(&cdf, &w)?;
    }

    /// Reusing one table across sizes gives the same result as a fresh one.
    #[test]
    fn reuse_matches_fresh(
        a in proptest::collection::vec(weight_f32(), 1..3000),
        b in proptest::collection::vec(weight_f32(), 1..3000),
    ) {
        let mut reused = Cdf::new();
        reused.quantize_into(&a).unwrap();
        reused.quantize_into(&b).unwrap();
        let mut fresh = Cdf::new();
        fresh.quantize_into(&b).unwrap();
        prop_assert_eq!(reused.cumulative(), fresh.cumulative());
    }

    #[test]
    fn find_inverts_range(w in proptest::collection::vec(weight_f32(), 1..3000)) {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&w).unwrap();
        for s in 0..cdf.n_symbols() {
            let (start, freq) = cdf.range(s);
            prop_assert_eq!(cdf.find(start), s);
            prop_assert_eq!(cdf.find(start + freq / 2), s);
            prop_assert_eq!(cdf.find(start + freq - 1), s);
            let cost = cdf.cost_bits(s);
            prop_assert!((0.0..=24.0).contains(&cost));
            prop_assert!((2f64.powf(-cost) * f64::from(CDF_TOTAL) - f64::from(freq)).abs() < 1e-6 * f64::from(freq));
        }
    }
}

#[test]
fn golden_small_table() {
    let mut cdf = Cdf::new();
    cdf.quantize_into(&[0.5, 0.25, 0.125, 0.125, 0.0, f32::NAN]).unwrap();
    // scale = 2^24 - 6; floors + 1 = 8388606, 4194303, 2097152, 2097152, 1, 1;
    // the remainder 1 goes to symbol 0.
    assert_eq!(
        cdf.cumulative(),
        [0, 8388607, 12582910, 14680062, 16777214, 16777215, 16777216]
    );
}

/// A fixed pseudo-random vocabulary-sized vector with special values mixed in.
fn golden_weights() -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..49_152)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32;
            match i % 97 {
                0 => 0.0,
                1 => f32::NAN,
                2 => 1e-45,
                _ => u * u * u, // skewed, like softmax outputs
            }
        })
        .collect()
}

fn fnv1a(cum: &[u32]) -> u64 {
    cum.iter()
        .flat_map(|c| c.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[test]
fn golden_large_table() {
    let mut cdf = Cdf::new();
    cdf.quantize_into(&golden_weights()).unwrap();
    assert_eq!(fnv1a(cdf.cumulative()), GOLDEN_HASH);
}

/// Also reproduced by an independent Python transcription of the rules.
const GOLDEN_HASH: u64 = 16_528_821_344_153_929_262;
