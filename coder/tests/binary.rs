//! Binary coder round trips, the empty stream, truncation and garbage input.

use nacz_coder::{BinaryDecoder, BinaryEncoder};
use proptest::prelude::*;

fn encode(bits: &[(u32, u32)]) -> Vec<u8> {
    let mut enc = BinaryEncoder::new();
    for &(bit, p) in bits {
        enc.encode(bit, p);
    }
    enc.finish()
}

fn decode(stream: &[u8], probs: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut dec = BinaryDecoder::new(stream);
    probs.map(|p| dec.decode(p)).collect()
}

#[test]
fn empty_stream_for_no_bits() {
    assert!(encode(&[]).is_empty());
}

#[test]
fn extreme_probabilities_round_trip() {
    // Bits coded against the odds at the clamped extremes, and probabilities outside 1..=65535.
    let bits: Vec<(u32, u32)> = (0..4000u32)
        .map(|i| {
            let p = [0, 1, 2, 65_534, 65_535, 65_536, u32::MAX, 32_768][(i % 8) as usize];
            ((i / 8) % 3 % 2, p)
        })
        .collect();
    let stream = encode(&bits);
    let got = decode(&stream, bits.iter().map(|b| b.1));
    assert_eq!(got, bits.iter().map(|b| b.0).collect::<Vec<_>>());
}

#[test]
fn skewed_bits_compress() {
    // 100,000 zeros at p(1) = 1/65536 cost about 100,000 * 2.2e-5 bits.
    let bits = vec![(0u32, 1u32); 100_000];
    let stream = encode(&bits);
    assert!(stream.len() <= 2, "{} bytes", stream.len());
    assert_eq!(decode(&stream, bits.iter().map(|b| b.1)), vec![0; 100_000]);
}

#[test]
fn size_close_to_entropy() {
    // Pseudo-random bits with known probabilities: the stream is within a few bytes of the ideal code length.
    let mut s = 0x1234_5678u32;
    let mut ideal = 0.0f64;
    let bits: Vec<(u32, u32)> = (0..200_000)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let p = (s >> 16).clamp(1, 65_535);
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let bit = u32::from((s >> 16) < p);
            let q = f64::from(p) / 65_536.0;
            ideal -= if bit == 1 { q.log2() } else { (1.0 - q).log2() };
            (bit, p)
        })
        .collect();
    let stream = encode(&bits);
    let actual = stream.len() as f64 * 8.0;
    assert!(actual < ideal * 1.001 + 64.0, "{actual} bits vs ideal {ideal}");
    assert_eq!(
        decode(&stream, bits.iter().map(|b| b.1)),
        bits.iter().map(|b| b.0).collect::<Vec<_>>()
    );
}

#[test]
fn truncation_is_reported() {
    let bits: Vec<(u32, u32)> = (0..10_000u32).map(|i| (i % 7 % 2, 20_000)).collect();
    let stream = encode(&bits);
    let mut dec = BinaryDecoder::new(&stream);
    for &(_, p) in &bits {
        dec.decode(p);
    }
    assert!(dec.bytes_past_end() <= 4);
    let cut = &stream[..stream.len() - 10];
    let mut dec = BinaryDecoder::new(cut);
    for &(_, p) in &bits {
        dec.decode(p);
    }
    assert!(dec.bytes_past_end() >= 10);
}

proptest! {
    #[test]
    fn round_trip(bits in proptest::collection::vec((0u32..2, 0u32..70_000), 0..3000)) {
        let stream = encode(&bits);
        prop_assert_eq!(decode(&stream, bits.iter().map(|b| b.1)), bits.iter().map(|b| b.0).collect::<Vec<_>>());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), probs in proptest::collection::vec(any::<u32>(), 0..3000)) {
        let mut dec = BinaryDecoder::new(&bytes);
        for &p in &probs {
            let bit = dec.decode(p);
            prop_assert!(bit <= 1);
        }
    }
}
