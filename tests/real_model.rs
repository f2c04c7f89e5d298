//! Round trips with the real SmolLM2 model through llama.cpp on small inputs (a few hundred tokens): byte
//! exactness on hostile input, real window slides across several lanes, and identical output whatever the thread
//! count. Without the model these tests are skipped, except under CI, where a missing model is a failure.
#![cfg(feature = "llama")]

use nacz::codec::{CompressSettings, Engine, NoProgress, DEFAULT_PREDICTORS};
use nacz::lm::{LlamaLm, SessionConfig, Threads};
use nacz::model;
use nacz::stream::{self, Totals};

fn engine(threads: usize) -> Option<Engine> {
    engine_with_workers(threads, 1)
}

fn engine_with_workers(threads: usize, workers: usize) -> Option<Engine> {
    let path = match model::resolve(None) {
        Ok(path) => path,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping real-model test: {e}");
            return None;
        }
        Err(e) => panic!("CI needs the model: {e}"),
    };
    let fingerprint = model::fingerprint(&path).unwrap();
    Some(Engine::with_model(Box::new(
        LlamaLm::load(&path, fingerprint, Threads::Fixed(threads), workers).unwrap(),
    )))
}

fn settings(lanes: u32, window: u32) -> CompressSettings {
    CompressSettings::new(
        SessionConfig {
            lanes,
            lane_group: lanes,
            window,
            slide: window / 4,
            sink: 4,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        },
        DEFAULT_PREDICTORS,
        64,
    )
}

fn compress(engine: &mut Engine, input: &[u8], settings: &CompressSettings) -> Vec<u8> {
    compress_counted(engine, input, settings).0
}

fn compress_counted(engine: &mut Engine, input: &[u8], settings: &CompressSettings) -> (Vec<u8>, Totals) {
    let mut out = Vec::new();
    let totals = stream::compress(engine, settings, 1 << 20, &mut &input[..], &mut out, &mut NoProgress).unwrap();
    (out, totals)
}

fn decompress(engine: &mut Engine, compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    stream::decompress(engine, &mut &compressed[..], Some(&mut out), &mut NoProgress).unwrap();
    out
}

fn sample() -> Vec<u8> {
    let alice = include_bytes!("golden/alice-head.txt");
    [
        &alice[..],
        b"\r\nControl \x00\x01\x04\x06\x13\x14\x16\x1d\x7f bytes, literal <|endoftext|><|im_start|>system\n",
        b"invalid \xff\xfe\xc3( utf-8, caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, long run:",
        &[b' '; 120],
        b"end\n",
    ]
    .concat()
}

#[test]
fn hostile_input_round_trips_across_lanes_and_slides() {
    let Some(mut engine) = engine(2) else { return };
    let input = sample();
    for (lanes, window) in [(1, 256), (3, 256)] {
        let compressed = compress(&mut engine, &input, &settings(lanes, window));
        // Measured: 588 bytes on 1 lane and 632 on 3 (of 3,235, about 1.5 bits per byte); a regression of more
        // than about 10% fails.
        assert!(
            compressed.len() < 700,
            "{} of {} bytes with {lanes} lanes",
            compressed.len(),
            input.len()
        );
        assert!(
            decompress(&mut engine, &compressed) == input,
            "lanes {lanes} window {window}"
        );
    }
}

#[test]
fn confidence_skip_with_and_without_context_gaps_round_trips() {
    let Some(mut engine) = engine(2) else { return };
    let alice = include_bytes!("golden/alice-head.txt");
    let input = alice[..500].repeat(4);
    let with_skip = settings(2, 256);
    assert!(with_skip.session.max_feed > 1 && with_skip.predictors.skip_miss_rate > 0);
    assert!(with_skip.predictors.skip_gap);
    let (compressed, totals) = compress_counted(&mut engine, &input, &with_skip);
    assert!(decompress(&mut engine, &compressed) == input);
    // The three repeats are predicted by the match model: a good share of their tokens skips the LM.
    assert!(
        totals.skipped * 4 > totals.tokens,
        "{} of {} tokens skipped",
        totals.skipped,
        totals.tokens
    );
    let mut no_gaps = with_skip;
    no_gaps.predictors.skip_gap = false;
    let (fed_fully, fed_totals) = compress_counted(&mut engine, &input, &no_gaps);
    assert!(decompress(&mut engine, &fed_fully) == input);
    assert!(fed_totals.skipped > 0);
    // With gaps, skipped runs longer than a step's feed leave the model's context: its later predictions differ.
    assert_ne!(compressed, fed_fully, "no context gap formed");
    let mut without = no_gaps;
    without.predictors.skip_miss_rate = 0;
    without.session.max_feed = 1;
    let (plain, plain_totals) = compress_counted(&mut engine, &input, &without);
    assert_eq!(plain_totals.skipped, 0);
    assert!(decompress(&mut engine, &plain) == input);
    // Repeats cost little either way; skipping must not cost much.
    assert!(
        compressed.len() < plain.len() + plain.len() / 10,
        "{} vs {}",
        compressed.len(),
        plain.len()
    );
}

#[test]
fn output_does_not_depend_on_threads() {
    let (Some(mut one), Some(mut two)) = (engine(1), engine(2)) else {
        return;
    };
    let input = sample();
    let s = settings(2, 256);
    let a = compress(&mut one, &input, &s);
    assert_eq!(
        a,
        compress(&mut two, &input, &s),
        "1 and 2 threads gave different bytes"
    );
    assert!(decompress(&mut one, &a) == input);
}

/// Lane groups are separate llama.cpp contexts; decoding them on one worker or two gives the same bytes.
#[test]
fn output_does_not_depend_on_workers() {
    let (Some(mut one), Some(mut two)) = (engine_with_workers(2, 1), engine_with_workers(2, 2)) else {
        return;
    };
    let input = sample();
    let mut grouped = settings(4, 256);
    grouped.session.lane_group = 2;
    let a = compress(&mut one, &input, &grouped);
    assert_eq!(
        a,
        compress(&mut two, &input, &grouped),
        "1 and 2 workers gave different bytes"
    );
    assert!(decompress(&mut two, &a) == input);
}
