//! The byte model end to end with the binary coder: round trips on edge inputs, a proptest round trip, the
//! config's header form, and a pinned output so any change to the model's arithmetic is made on purpose.

mod support;

use nacz_predictors::byte::{ctx, ByteConfigError, ByteModel, ByteModelConfig, BYTE_CONFIG_LEN, MAX_BYTE_MODEL_MEMORY};
use proptest::prelude::*;
use support::codec::{compress, decompress};

/// A small configuration (about 7 MiB) with every context on, so tests allocate little and cover everything.
fn small() -> ByteModelConfig {
    ByteModelConfig {
        hash_bits: 16,
        history_bits: 16,
        contexts: ctx::ALL,
        ..ByteModelConfig::default()
    }
}

fn xorshift(seed: u32, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

/// Binary-ish records: a 24-byte header, then 40-byte records of a counter, a float-like field, flags and text.
fn records(n: usize) -> Vec<u8> {
    let mut out = b"RECFILE\x00\x01\x00\x00\x00header-padding-\x00".to_vec();
    let noise = xorshift(7, n);
    for i in 0..n as u32 {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&(1000 + i * 37 % 501).to_be_bytes());
        out.extend_from_slice(&[0, 0, noise[i as usize] & 3, 0x80]);
        out.extend_from_slice(
            format!("item-{:06}-{:<17}", i % 977, ["red", "green", "blue"][i as usize % 3]).as_bytes(),
        );
        out.extend_from_slice(&[0; 4]);
    }
    out
}

fn round_trip(cfg: &ByteModelConfig, data: &[u8]) -> usize {
    let packed = compress(cfg, data);
    assert_eq!(
        decompress(cfg, &packed, data.len()),
        data,
        "round trip of {} bytes",
        data.len()
    );
    packed.len()
}

#[test]
fn edge_inputs_round_trip() {
    let cfg = small();
    assert_eq!(round_trip(&cfg, &[]), 0);
    for b in [0u8, 1, 0x7F, 0x80, 0xFF] {
        assert!(round_trip(&cfg, &[b]) <= 2);
    }
    let all: Vec<u8> = (0..=255).collect();
    round_trip(&cfg, &all);
    let all_rev: Vec<u8> = (0..=255).rev().cycle().take(4096).collect();
    round_trip(&cfg, &all_rev);
}

#[test]
fn zeros_compress_to_almost_nothing() {
    let cfg = small();
    let n = round_trip(&cfg, &vec![0; 200_000]);
    assert!(n < 200, "{n} bytes");
    let n = round_trip(&cfg, &vec![0xFF; 100_000]);
    assert!(n < 200, "{n} bytes");
}

#[test]
fn random_bytes_barely_expand() {
    let data = xorshift(1, 100_000);
    let n = round_trip(&small(), &data);
    assert!(n < data.len() + data.len() / 100, "{n} bytes");
}

#[test]
fn records_round_trip_and_compress() {
    let data = records(3000);
    let n = round_trip(&small(), &data);
    assert!(n * 8 < data.len(), "{n} of {} bytes", data.len());
}

#[test]
fn default_config_round_trips() {
    let mut data = records(500);
    data.extend(xorshift(3, 5000));
    data.extend(b"the quick brown fox jumps over the lazy dog. ".repeat(40));
    data.extend(b"acgtacgtttgacaaacgtgtgtacgatcgatcgatgccatgc".repeat(30));
    round_trip(&ByteModelConfig::default(), &data);
}

#[test]
fn garbage_streams_decode_without_panic() {
    let cfg = small();
    for seed in 1..4 {
        let garbage = xorshift(seed, 300);
        assert_eq!(decompress(&cfg, &garbage, 2000).len(), 2000);
    }
    assert_eq!(decompress(&cfg, &[], 500).len(), 500);
}

/// FNV-1a, to pin the exact compressed bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn pinned_output() {
    // Changing any probability of the model changes these; update them only for a deliberate format change.
    let mut data = records(1000);
    data.extend(xorshift(9, 3000));
    data.extend(b"pinned output of the nacz byte model ".repeat(50));
    let packed = compress(&small(), &data);
    assert_eq!((packed.len(), fnv1a(&packed)), (4496, 5_858_169_682_855_567_856));
}

#[test]
fn model_probabilities_are_in_range() {
    let mut model = ByteModel::new(&small());
    for (i, &b) in records(200).iter().enumerate() {
        for k in (0..8).rev() {
            let p = model.p();
            assert!((1..=65_535).contains(&p), "p = {p} at byte {i}");
            model.update(u32::from(b >> k) & 1);
        }
    }
}

#[test]
fn config_header_round_trips() {
    for cfg in [ByteModelConfig::default(), small()] {
        let bytes = cfg.to_bytes();
        assert_eq!(bytes.len(), BYTE_CONFIG_LEN);
        assert_eq!(ByteModelConfig::from_bytes(&bytes), Ok(cfg));
    }
    assert!(ByteModelConfig::default().memory_bytes() <= 256 << 20);
}

#[test]
fn sized_configs_are_valid_and_bounded() {
    let d = ByteModelConfig::default();
    for len in [0u64, 1, 1000, 38_240, 1 << 20, 1 << 30, u64::MAX] {
        let cfg = ByteModelConfig::for_input_len(len);
        assert!(cfg.validate().is_ok());
        assert!(cfg.memory_bytes() <= d.memory_bytes());
        assert_eq!(
            ByteModelConfig {
                hash_bits: d.hash_bits,
                history_bits: d.history_bits,
                ..cfg
            },
            d
        );
    }
    assert_eq!(ByteModelConfig::for_input_len(1 << 30), d);
    assert!(ByteModel::try_new(&ByteModelConfig { apm_rate: 0, ..small() }).is_err());
}

#[test]
fn bad_configs_are_rejected() {
    let good = ByteModelConfig::default().to_bytes();
    let with = |i: usize, v: u8| {
        let mut b = good;
        b[i] = v;
        ByteModelConfig::from_bytes(&b)
    };
    assert_eq!(
        ByteModelConfig::from_bytes(&good[..15]),
        Err(ByteConfigError::Length(15))
    );
    assert_eq!(ByteModelConfig::from_bytes(&[]), Err(ByteConfigError::Length(0)));
    assert_eq!(with(0, 2), Err(ByteConfigError::Version(2)));
    for (i, v) in [
        (1, 13),
        (1, 26),
        (2, 15),
        (2, 27),
        (7, 3),
        (7, 33),
        (8, 5),
        (8, 65),
        (9, 0),
        (9, 65),
        (12, 3),
        (12, 11),
        (13, 1),
        (15, 1),
    ] {
        assert!(
            matches!(with(i, v), Err(ByteConfigError::Range { .. })),
            "byte {i} = {v}"
        );
    }
    assert!(matches!(with(6, 0x80), Err(ByteConfigError::Contexts(_))));
    let mut b = good;
    b[10..12].copy_from_slice(&1024u16.to_le_bytes());
    assert!(matches!(
        ByteModelConfig::from_bytes(&b),
        Err(ByteConfigError::Range {
            name: "state_limit",
            ..
        })
    ));
    let huge = ByteModelConfig {
        hash_bits: 25,
        history_bits: 26,
        ..ByteModelConfig::default()
    };
    assert!(huge.memory_bytes() > MAX_BYTE_MODEL_MEMORY);
    assert!(matches!(
        ByteModelConfig::from_bytes(&huge.to_bytes()),
        Err(ByteConfigError::Memory(_))
    ));
    // Every byte string either parses to a valid config or is rejected with an error, never a panic.
    for seed in 0..2000u32 {
        let mut b = good;
        let r = xorshift(seed + 1, 3);
        b[usize::from(r[0]) % BYTE_CONFIG_LEN] = r[1];
        if let Ok(cfg) = ByteModelConfig::from_bytes(&b) {
            assert!(cfg.validate().is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn arbitrary_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let cfg = ByteModelConfig { hash_bits: 14, history_bits: 16, ..small() };
        let packed = compress(&cfg, &data);
        prop_assert_eq!(decompress(&cfg, &packed, data.len()), data);
    }

    #[test]
    fn repetitive_bytes_round_trip(unit in proptest::collection::vec(0u8..4, 1..40), reps in 1usize..80) {
        let cfg = ByteModelConfig { hash_bits: 14, history_bits: 16, ..small() };
        let data: Vec<u8> = unit.iter().map(|&b| b"acgt"[usize::from(b)]).cycle().take(unit.len() * reps).collect();
        let packed = compress(&cfg, &data);
        prop_assert_eq!(decompress(&cfg, &packed, data.len()), data);
    }
}
