//! Files from a stranger: frames whose frame checksum was recomputed after their contents were changed (xxh3 is
//! no MAC), so every check behind the checksum is reached. Each file of `tests/golden-errors/` passes the quick
//! test and must fail to decode with one named error; a mutation harness decodes thousands of resealed random
//! mutations of a valid frame under a small memory limit and must never panic.

mod util;

use std::path::{Path, PathBuf};

use nacz::codec::Engine;
use nacz::container::{FormatError, FrameBody, FrameHeader};
use nacz::forgery::reseal;
use nacz::lm::{Backend, FakeLm};
use nacz::{stream, Error};
use util::{compress_with, decompress, decompress_with, forge, settings, settings_with_byte_model, text};

fn golden_errors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-errors")
}

/// The valid frame most forged files start from: three chunks of fake-model text (token frames only).
fn original() -> (Vec<u8>, Vec<u8>) {
    let input = text(2_000);
    let frame = compress_with(&input, &settings(3, 64, 16), 1 << 20);
    (input, frame)
}

/// A valid byte-model frame: binary records.
fn original_bytes() -> (Vec<u8>, Vec<u8>) {
    let input: Vec<u8> = (0..3_000u32)
        .flat_map(|i| [(i % 9) as u8, 0, (i >> 3) as u8, 0xFF])
        .collect();
    let frame = compress_with(&input, &settings_with_byte_model(3, 64, 16), 1 << 20);
    assert!(matches!(FrameHeader::read(&frame).unwrap().0.body, FrameBody::Bytes(_)));
    (input, frame)
}

/// Each forged file, how it was made from [`original`]'s frame, and the error it must fail with.
type Check = fn(&Error) -> bool;
fn forgeries(frame: &[u8], byte_frame: &[u8]) -> Vec<(&'static str, Vec<u8>, Check)> {
    let (_, header_len) = FrameHeader::read(frame).unwrap();
    let mut flipped_payload = frame.to_vec();
    flipped_payload[header_len + 5] ^= 0x20;
    let (_, byte_header_len) = FrameHeader::read(byte_frame).unwrap();
    let mut flipped_bytes = byte_frame.to_vec();
    flipped_bytes[byte_header_len + 5] ^= 0x20;
    // A configuration block the writer would never produce: hash tables above the model's limit.
    let bad_config = {
        let (header, header_len) = FrameHeader::read(byte_frame).unwrap();
        let FrameBody::Bytes(mut params) = header.body else {
            panic!("not a byte-model frame")
        };
        params.config.hash_bits = 30;
        FrameHeader::write_frame(header.content_len, FrameBody::Bytes(params), &byte_frame[header_len..])
    };
    vec![
        ("byte-model-config", reseal(bad_config), |e| {
            matches!(e, Error::Frame { index: 0, source: FormatError::Field { field: "byte model", reason } }
                    if reason.contains("hash_bits = 30"))
        }),
        ("byte-model-diverged", reseal(flipped_bytes), |e| {
            matches!(e, Error::Diverged)
        }),
        (
            "model-mismatch",
            forge(frame, |p| p.model_id = *b"\xb1\x79\xc9\x52"),
            |e| matches!(e, Error::ModelMismatch { expected, .. } if *expected == *b"\xb1\x79\xc9\x52"),
        ),
        ("engine-mismatch", forge(frame, |p| p.engine_id ^= 0x0101), |e| {
            matches!(e, Error::EngineMismatch { .. })
        }),
        (
            "backend-mismatch",
            forge(frame, |p| {
                p.backend = Some(Backend::Cuda {
                    gpu: "NVIDIA H200".into(),
                    compute_capability: 90,
                    sms: 132,
                    cuda_version: 13000,
                    cublas_version: 130_001,
                })
            }),
            |e| {
                let message = e.to_string();
                matches!(e, Error::BackendMismatch { .. })
                    && message.contains("compressed on the CUDA (NVIDIA H200, sm_90, 132 SMs")
                    && message.contains("this nacz computes on the CPU")
                    && message.contains("decode it with nacz's CUDA build")
            },
        ),
        (
            "chunk-plan",
            forge(frame, |p| {
                p.chunks[0].tokens += 5;
                p.chunks[1].tokens -= 5;
            }),
            |e| matches!(e, Error::ChunkPlan),
        ),
        ("diverged-payload", reseal(flipped_payload), |e| {
            matches!(e, Error::Diverged)
        }),
        ("diverged-checksum", forge(frame, |p| p.content_checksum ^= 1), |e| {
            matches!(e, Error::Diverged)
        }),
        (
            "memory-limit",
            // 256 lanes × 1,024 tokens: 2^18 cells of SmolLM2's keys and values, about 6 GB.
            forge(frame, with_large_session),
            |e| matches!(e, Error::MemoryLimit { needed, .. } if *needed > 6_000_000_000),
        ),
        (
            "huge-window",
            // 256 lanes × a 1,048,576-token window: refused as the header is read.
            forge_unchecked_window(frame, 256, 1 << 20),
            |e| {
                matches!(e, Error::Frame { index: 0, source: FormatError::Field { field: "session", reason } }
                    if reason.contains("1048576"))
            },
        ),
    ]
}

/// 256 lanes × a 1,024-token window, with a minimum chunk length that keeps the frame's three chunks in the plan.
fn with_large_session(p: &mut nacz::container::ModelParams) {
    p.session.lanes = 256;
    p.session.lane_group = 256;
    p.session.window = 1024;
    p.session.slide = 256;
    p.min_chunk_tokens = p.chunks.iter().map(|c| c.tokens).sum::<u32>() / 3;
}

/// [`forge`] with a session the writer would not produce: the header is rewritten by hand, field by field.
fn forge_unchecked_window(frame: &[u8], lanes: u32, window: u32) -> Vec<u8> {
    // Re-encode the header with a lane count and window patched into the varints that follow the ids.
    let valid = forge(frame, |p| {
        p.session.lanes = 200;
        p.session.lane_group = 200;
        p.session.window = 16_000;
    });
    let header_len = FrameHeader::announced_len(&valid).unwrap();
    let mut header = valid[..header_len].to_vec();
    let payload = &valid[header_len..];
    let varint = |mut v: u64| {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    };
    // Lanes, lanes per group, window.
    let old = [varint(200), varint(200), varint(16_000)].concat();
    let new = [
        varint(u64::from(lanes)),
        varint(u64::from(lanes)),
        varint(u64::from(window)),
    ]
    .concat();
    let at = header.windows(old.len()).position(|w| w == old).unwrap();
    header.splice(at..at + old.len(), new.iter().copied());
    // The header length counts itself; both lengths here fit one varint byte.
    header[6] += (new.len() - old.len()) as u8;
    reseal([header, payload.to_vec()].concat())
}

#[test]
fn forged_files_fail_with_named_errors() {
    let (input, frame) = original();
    assert_eq!(decompress(&frame).unwrap(), input);
    let (byte_input, byte_frame) = original_bytes();
    assert_eq!(decompress(&byte_frame).unwrap(), byte_input);
    let bless = std::env::var_os("NACZ_BLESS").is_some();
    for (name, forged, expected) in forgeries(&frame, &byte_frame) {
        let path = golden_errors().join(format!("{name}.nacz"));
        if bless {
            std::fs::create_dir_all(golden_errors()).unwrap();
            std::fs::write(&path, &forged).unwrap();
        }
        let golden = std::fs::read(&path).unwrap();
        assert_eq!(golden, forged, "{name}: the forgery changed; bless again if on purpose");
        if !["huge-window", "byte-model-config"].contains(&name) {
            // Every forgery but the one the header parser refuses passes the quick test: only decoding finds it.
            stream::for_each_frame(&mut &golden[..], |_, _| Ok(())).unwrap();
        }
        let err = decompress(&golden).unwrap_err();
        assert!(expected(&err), "{name}: {err}");
    }
}

#[test]
fn the_memory_limit_is_the_only_thing_that_refuses_a_large_session() {
    let (_, frame) = original();
    let large = forge(&frame, with_large_session);
    let err = decompress(&large).unwrap_err().to_string();
    assert!(
        err.contains("decoding this frame needs about")
            && err.contains("more than the memory limit of 4096 MiB")
            && err.contains("--memory-limit"),
        "{err}"
    );
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    engine.set_memory_limit(8 << 30);
    // Past the limit the frame is decoded, and the fake model's logits depend on the window: it diverges.
    assert!(matches!(decompress_with(&mut engine, &large), Err(Error::Diverged)));
    // A limit below what the original needs refuses it too, with the same message.
    let mut tight = Engine::with_model(Box::new(FakeLm::new()));
    tight.set_memory_limit(1 << 20);
    assert!(matches!(
        decompress_with(&mut tight, &frame),
        Err(Error::MemoryLimit { .. })
    ));
    // The byte model's tables count too.
    let (_, byte_frame) = original_bytes();
    let err = decompress_with(&mut tight, &byte_frame).unwrap_err().to_string();
    assert!(err.contains("MiB for the byte model"), "{err}");
}

#[test]
fn resealed_mutations_never_panic() {
    let (input, token_frame) = original();
    let (_, byte_frame) = original_bytes();
    let mut mutator = nacz::forgery::Mutator::new(0x9E37_79B9_7F4A_7C15);
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    // Small enough that no mutated header can make a run slow; the originals need less.
    engine.set_memory_limit(64 << 20);
    let (mut refused, mut decoded) = (0, 0);
    for round in 0..3_000 {
        let frame = if round % 3 == 2 { &byte_frame } else { &token_frame };
        match decompress_with(&mut engine, &mutator.mutate(frame)) {
            Ok(out) => {
                decoded += 1;
                // Only a change the content checksum cannot see (e.g. a stored frame's payload) decodes.
                assert!(out.len() < 1 << 20);
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 2_000, "{refused} refused, {decoded} decoded");
    assert_eq!(decompress(&token_frame).unwrap(), input);
}
