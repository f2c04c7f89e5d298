//! Helpers shared by the integration tests: settings with the fake model, compress/decompress over byte
//! slices, and `forge`, which produces frames that pass the frame checksum although their contents were
//! changed, so the checks behind the checksum can be reached.
#![allow(dead_code)] // Each test binary uses its own subset.

use nacz::codec::{CompressSettings, Engine, NoProgress, DEFAULT_PREDICTORS};
use nacz::container::{FrameBody, FrameHeader, ModelParams};
use nacz::lm::{FakeLm, SessionConfig};
use nacz::stream;

/// Settings for the fake model: `lanes` lanes, a `window`-token window sliding a quarter at a time, two sink
/// tokens, the default predictors, and every text frame through the language model (no byte-model frames: the
/// fake model is weak, and the byte model would take over the frames these tests are about).
pub fn settings(lanes: u32, window: u32, min_chunk_tokens: u32) -> CompressSettings {
    CompressSettings {
        byte_model: false,
        ..settings_with_byte_model(lanes, window, min_chunk_tokens)
    }
}

/// [`settings`] with byte-model frames allowed, as `nacz compress` does by default.
pub fn settings_with_byte_model(lanes: u32, window: u32, min_chunk_tokens: u32) -> CompressSettings {
    CompressSettings::new(
        SessionConfig {
            lanes,
            lane_group: lanes,
            window,
            slide: window / 4,
            sink: 2,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        },
        DEFAULT_PREDICTORS,
        min_chunk_tokens,
    )
}

pub fn compress_with(input: &[u8], settings: &CompressSettings, frame_bytes: usize) -> Vec<u8> {
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    let mut out = Vec::new();
    stream::compress(
        &mut engine,
        settings,
        frame_bytes,
        &mut &input[..],
        &mut out,
        &mut NoProgress,
    )
    .unwrap();
    out
}

pub fn decompress(compressed: &[u8]) -> Result<Vec<u8>, nacz::Error> {
    decompress_with(&mut Engine::with_model(Box::new(FakeLm::new())), compressed)
}

pub fn decompress_with(engine: &mut Engine, compressed: &[u8]) -> Result<Vec<u8>, nacz::Error> {
    let mut out = Vec::new();
    stream::decompress(engine, &mut &compressed[..], Some(&mut out), &mut NoProgress)?;
    Ok(out)
}

/// Some English-like text with repetition, long enough for several lanes and window slides.
pub fn text(len: usize) -> Vec<u8> {
    let words = [
        "the ", "cat ", "and ", "the ", "hat ", "sat ", "on ", "a ", "mat.\n", "The ", "end, ",
    ];
    let mut out = Vec::new();
    let mut i = 7usize;
    while out.len() < len {
        i = (i * 31 + 17) % 1009;
        out.extend_from_slice(words[i % words.len()].as_bytes());
    }
    out.truncate(len);
    out
}

/// Rewrites the single modeled frame `frame` with `change` applied to its parameters, its payload kept, and a
/// valid frame checksum.
pub fn forge(frame: &[u8], change: impl FnOnce(&mut ModelParams)) -> Vec<u8> {
    let (header, header_len) = FrameHeader::read(frame).unwrap();
    let FrameBody::Modeled(mut params) = header.body else {
        panic!("not a modeled frame")
    };
    change(&mut params);
    FrameHeader::write_frame(header.content_len, FrameBody::Modeled(params), &frame[header_len..])
}
