//! Encoder/decoder round trips, exact size bounds, truncation and garbage.

use std::sync::OnceLock;

use nacz_coder::{Cdf, Decoder, Encoder, CDF_TOTAL};
use proptest::prelude::*;

fn uniform_262144() -> &'static Cdf {
    static CDF: OnceLock<Cdf> = OnceLock::new();
    CDF.get_or_init(|| {
        let mut cdf = Cdf::new();
        cdf.quantize_into(&vec![1.0; 262_144]).unwrap();
        cdf
    })
}

/// One symbol of probability 1 - 1e-9, the rest sharing 1e-9.
fn skewed(n: usize) -> Cdf {
    let mut w = vec![1e-9 / (n - 1) as f64; n];
    w[n / 2] = 1.0 - 1e-9;
    let mut cdf = Cdf::new();
    cdf.quantize_f64_into(&w).unwrap();
    cdf
}

/// The per-symbol terms of the size bounds in the `coder` module docs.
fn bounds(cdf: &Cdf, sym: usize) -> (f64, f64) {
    let cost = cdf.cost_bits(sym);
    let m = f64::from(1u32 << (30 - cdf.precision_bits()));
    let f = f64::from(cdf.range(sym).1);
    (cost - (1.0 - 1.0 / (m * f)).log2(), cost - (1.0 + 1.0 / (m * f)).log2())
}

struct Coded {
    bytes: Vec<u8>,
    syms: Vec<(usize, usize)>,
}

/// Encodes `syms` (table index, symbol), checking the size bounds on the way.
fn encode(cdfs: &[&Cdf], syms: Vec<(usize, usize)>) -> Result<Coded, TestCaseError> {
    let mut enc = Encoder::new();
    let (mut upper, mut lower) = (0.0, 0.0);
    for &(t, s) in &syms {
        enc.encode(cdfs[t], s);
        let (u, l) = bounds(cdfs[t], s);
        upper += u;
        lower += l;
    }
    let eps = 1e-9 * (1.0 + syms.len() as f64);
    let shifts = enc.bits_written();
    prop_assert!(shifts as f64 <= upper + eps, "{shifts} > {upper}");
    prop_assert!(shifts as f64 > lower - 2.0 - eps, "{shifts} <= {lower} - 2");
    let bytes = enc.finish();
    // The flush adds at most one bit, then pads to a byte.
    let len = bytes.len() as u64;
    prop_assert!(len == shifts.div_ceil(8) || len == (shifts + 1).div_ceil(8));
    // So the documented bound: len <= ceil(floor(1 + upper) / 8) bytes.
    prop_assert!(len <= ((1.0 + upper + eps).floor() as u64).div_ceil(8));
    Ok(Coded { bytes, syms })
}

fn decode(cdfs: &[&Cdf], input: &[u8], syms: &[(usize, usize)]) -> (Vec<usize>, u64) {
    let mut dec = Decoder::new(input);
    let out = syms.iter().map(|&(t, _)| dec.decode(cdfs[t])).collect();
    (out, dec.bits_past_end())
}

fn table() -> impl Strategy<Value = Vec<f32>> {
    let w = prop_oneof![
        8 => 0.0f32..1.0,
        1 => Just(0.0),
        1 => Just(f32::NAN),
        1 => 1e20f32..1e30,
        1 => Just(1e-40),
    ];
    prop_oneof![
        proptest::collection::vec(w.clone(), 1..4),
        proptest::collection::vec(w, 1..3000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip(
        tables in proptest::collection::vec((table(), 24u32..=28), 1..4),
        steps in proptest::collection::vec((any::<usize>(), any::<u32>(), any::<bool>()), 0..400),
        cut in any::<usize>(),
    ) {
        // Tables of every precision, mixed in one stream.
        let owned: Vec<Cdf> = tables.iter().map(|(w, bits)| {
            let mut cdf = Cdf::with_precision(*bits);
            cdf.quantize_into(w).unwrap();
            cdf
        }).collect();
        let skew = skewed(1000);
        let mut cdfs: Vec<&Cdf> = owned.iter().collect();
        cdfs.push(&skew);
        cdfs.push(uniform_262144());

        let syms = steps.iter().map(|&(t, sel, by_prob)| {
            let t = t % cdfs.len();
            let cdf = cdfs[t];
            // Sampling by probability exercises realistic streams; uniform
            // picks exercise the rarest symbols.
            let s = if by_prob { cdf.find(sel % cdf.total()) } else { sel as usize % cdf.n_symbols() };
            (t, s)
        }).collect();
        let coded = encode(&cdfs, syms)?;
        let (got, past) = decode(&cdfs, &coded.bytes, &coded.syms);
        let want: Vec<usize> = coded.syms.iter().map(|&(_, s)| s).collect();
        prop_assert_eq!(&got, &want);
        prop_assert!((24..=32).contains(&past), "{past} bits past the end");

        if !coded.bytes.is_empty() {
            let k = 1 + cut % coded.bytes.len();
            let short = &coded.bytes[..coded.bytes.len() - k];
            let (got_short, past_short) = decode(&cdfs, short, &coded.syms);
            if got_short == want {
                prop_assert_eq!(past_short, past + 8 * k as u64);
            }
        }
    }

    /// Raw intervals, as a caller coding something other than a table would.
    #[test]
    fn raw_ranges_round_trip(
        ranges in proptest::collection::vec((any::<u32>(), any::<u32>(), 24u32..=28), 0..300),
    ) {
        let ranges: Vec<(u32, u32, u32)> = ranges.iter().map(|&(a, b, bits)| {
            let total = 1u32 << bits;
            let start = a % total;
            (start, 1 + b % (total - start), bits)
        }).collect();
        let mut enc = Encoder::new();
        for &(start, freq, bits) in &ranges {
            enc.encode_range(start, freq, bits);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &(start, freq, bits) in &ranges {
            let t = dec.decode_target(bits);
            prop_assert!((start..start + freq).contains(&t));
            dec.decode_range(start, freq, bits);
        }
        prop_assert!(dec.bits_past_end() <= 32);
    }

    #[test]
    fn garbage_never_panics(
        input in proptest::collection::vec(any::<u8>(), 0..100),
        tables in proptest::collection::vec(table(), 1..4),
        picks in proptest::collection::vec(any::<usize>(), 0..300),
    ) {
        let cdfs: Vec<Cdf> = tables.iter().map(|w| {
            let mut cdf = Cdf::new();
            cdf.quantize_into(w).unwrap();
            cdf
        }).collect();
        let mut dec = Decoder::new(&input);
        for p in picks {
            let cdf = &cdfs[p % cdfs.len()];
            prop_assert!(dec.decode(cdf) < cdf.n_symbols());
        }
        prop_assert!(dec.bits_past_end() >= 32u64.saturating_sub(8 * input.len() as u64));
    }
}

#[test]
fn empty_message_is_an_empty_stream() {
    let bytes = Encoder::new().finish();
    assert!(bytes.is_empty());
    let dec = Decoder::new(&bytes);
    assert_eq!(dec.bits_past_end(), 32);
}

#[test]
fn default_encoder_is_new() {
    assert!(Encoder::default().finish().is_empty());
}

#[test]
fn extreme_skew_costs_almost_nothing() {
    let cdf = skewed(1000);
    let common = cdf.find(CDF_TOTAL / 2);
    let n = 200_000;
    let mut enc = Encoder::new();
    for _ in 0..n {
        enc.encode(&cdf, common);
    }
    enc.encode(&cdf, 0); // one rare symbol: about 24 bits
    let bytes = enc.finish();
    let ideal = n as f64 * cdf.cost_bits(common) + cdf.cost_bits(0);
    assert!(
        bytes.len() as f64 * 8.0 <= ideal + 8.0,
        "{} bytes for {ideal} bits",
        bytes.len()
    );
    let mut dec = Decoder::new(&bytes);
    for _ in 0..n {
        assert_eq!(dec.decode(&cdf), common);
    }
    assert_eq!(dec.decode(&cdf), 0);
    assert!(dec.bits_past_end() <= 32);
}

#[test]
fn uniform_262144_costs_18_bits_per_symbol() {
    let cdf = uniform_262144();
    let n = 10_000;
    let mut enc = Encoder::new();
    for i in 0..n {
        enc.encode(cdf, (i * 7919) % 262_144);
    }
    let shifts = enc.bits_written();
    // 18 bits each plus at most 2^-12 / ln 2 bits of rounding per symbol.
    assert!(shifts <= 18 * n as u64 + 4, "{shifts}");
    let bytes = enc.finish();
    let mut dec = Decoder::new(&bytes);
    for i in 0..n {
        assert_eq!(dec.decode(cdf), (i * 7919) % 262_144);
    }
}

#[test]
fn truncation_raises_bits_past_end_by_8_per_byte() {
    let mut cdf = Cdf::new();
    cdf.quantize_into(&[1.0, 1.0]).unwrap();
    // One bit per symbol: "1" then 64 zeros, 9 bytes; the flush adds nothing.
    let msg: Vec<usize> = std::iter::once(1).chain([0; 64]).collect();
    let mut enc = Encoder::new();
    for &s in &msg {
        enc.encode(&cdf, s);
    }
    let bytes = enc.finish();
    assert_eq!(bytes.len(), 9);
    for k in 0..bytes.len() {
        let mut dec = Decoder::new(&bytes[..bytes.len() - k]);
        let got: Vec<usize> = msg.iter().map(|_| dec.decode(&cdf)).collect();
        assert_eq!(got, msg);
        assert_eq!(dec.bits_past_end(), 32 + 65 - 72 + 8 * k as u64);
    }
}

#[test]
fn truncating_half_a_stream_is_flagged() {
    let cdf = uniform_262144();
    let mut enc = Encoder::new();
    for i in 0..1000 {
        enc.encode(cdf, (i * 104_729) % 262_144);
    }
    let bytes = enc.finish();
    let mut dec = Decoder::new(&bytes[..bytes.len() / 2]);
    for _ in 0..1000 {
        dec.decode(cdf);
    }
    assert!(dec.bits_past_end() > 32 + 8 * 1000);
}
