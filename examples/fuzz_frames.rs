//! A mutation fuzzer for the container parser and the decoders, on the stable toolchain: valid frames (token
//! frames of the fake model, byte-model frames, LZMA frames, stored frames) are mutated (bit flips, byte sets, inserts,
//! deletes, truncations, mostly in the header), resealed with a recomputed frame checksum, and decoded under a
//! 64 MiB memory limit. A panic aborts with the seed and iteration that reproduce it; the slowest execution is
//! reported, so a hang or a blow-up shows.
//!
//! `cargo run --release --example fuzz_frames -- [ITERATIONS] [SEED]`

use std::time::{Duration, Instant};

use nacz::codec::{CompressSettings, Engine, NoProgress, DEFAULT_PREDICTORS};
use nacz::container::{FrameBody, FrameHeader};
use nacz::forgery::Mutator;
use nacz::lm::{FakeLm, SessionConfig};
use nacz::stream;

fn compress(input: &[u8], byte_model: bool) -> Vec<u8> {
    let mut settings = CompressSettings::new(
        SessionConfig {
            lanes: 3,
            lane_group: 3,
            window: 64,
            slide: 16,
            sink: 2,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        },
        DEFAULT_PREDICTORS,
        16,
    );
    settings.byte_model = byte_model;
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    let mut out = Vec::new();
    stream::compress(
        &mut engine,
        &settings,
        1 << 20,
        &mut &input[..],
        &mut out,
        &mut NoProgress,
    )
    .expect("valid input compresses");
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let words = "the cat and the hat sat on a mat. The end, ";
    let text: Vec<u8> = words.bytes().cycle().take(1_500).collect();
    let records: Vec<u8> = (0..2_000u32)
        .flat_map(|i| [(i % 9) as u8, 0, (i >> 3) as u8, 0xFF])
        .collect();
    // A short random block repeated many times: LZMA beats the byte model there, so this one is an LZMA frame.
    let mut state = 0x5DEE_CE66_D1CE_4E5Bu64;
    let block: Vec<u8> = (0..256)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let repeats = block.repeat(4096);
    let seeds = [
        compress(&text, false),
        compress(&records, true),
        compress(&repeats, true),
        compress(b"hi\n", true),
    ];
    let kinds: Vec<&str> = seeds
        .iter()
        .map(|seed| match FrameHeader::read(seed).expect("a valid frame").0.body {
            FrameBody::Stored => "stored",
            FrameBody::Modeled(_) => "token",
            FrameBody::Bytes(_) => "byte-model",
            FrameBody::Lzma(_) => "LZMA",
        })
        .collect();
    assert_eq!(
        kinds,
        ["token", "byte-model", "LZMA", "stored"],
        "the seeds cover every frame kind"
    );
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    engine.set_memory_limit(64 << 20);
    let mut mutator = Mutator::new(seed);
    let (mut decoded, mut refused) = (0u64, 0u64);
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for iteration in 0..iterations {
        let frame = &seeds[iteration as usize % seeds.len()];
        let bad = mutator.mutate(frame);
        let one = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut out = Vec::new();
            stream::decompress(&mut engine, &mut &bad[..], Some(&mut out), &mut NoProgress)
        }));
        slowest = slowest.max(one.elapsed());
        match result {
            Ok(Ok(_)) => decoded += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => {
                eprintln!("panic at iteration {iteration} with seed {seed:#x}; input: {bad:02x?}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "{iterations} executions in {:.1} s: {refused} refused, {decoded} decoded, no panic; slowest {:.1} ms",
        start.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3
    );
}
