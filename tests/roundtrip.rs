//! Whole-pipeline tests with the deterministic fake model: byte-exact round trips over edge inputs and random
//! data across lanes, windows and frame sizes; identical bytes on repeated runs; every single-byte corruption and
//! every truncation detected; golden files that must decode and must fail.

mod util;

use nacz::codec::{predictor_set, CompressSettings, Engine, NoProgress, DEFAULT_PREDICTORS};
use nacz::container::{FormatError, FrameBody, FrameHeader};
use nacz::lm::FakeLm;
use nacz::stream;
use nacz::Error;
use nacz_predictors::{MixerKind, PredictorConfig};
use util::{compress_with, decompress, settings, settings_with_byte_model, text};

/// Round-trips `input` across lanes × windows × frame sizes, and checks that repeated runs give identical bytes.
fn assert_round_trips(input: &[u8]) {
    for (lanes, window, min_chunk, frame_bytes) in [
        (1, 64, 16, 1 << 20),
        (3, 32, 8, 1 << 20),
        (4, 256, 4, 97),
        (8, 16, 1, 1 << 20),
    ] {
        let s = settings(lanes, window, min_chunk);
        let compressed = compress_with(input, &s, frame_bytes);
        assert_eq!(
            compress_with(input, &s, frame_bytes),
            compressed,
            "compression is not deterministic"
        );
        let restored = decompress(&compressed).unwrap();
        assert!(
            restored == input,
            "round trip failed: lanes {lanes}, window {window}, frame {frame_bytes}"
        );
    }
}

/// `text` with every LF turned into CRLF.
fn with_crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    nacz::newlines::lf_to_crlf(text, &mut out);
    out
}

#[test]
fn edge_cases_round_trip() {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"a".to_vec(),
        all_bytes.repeat(3),
        b"ctl \x00\x01\x04\x06\x13\x14\x16\x1d\x7f end".to_vec(),
        b"literal <|endoftext|> and <|im_start|>user\n".to_vec(),
        b"bad utf8 \xff\xfe\xc3 \xe6\x97 tail".to_vec(),
        b"line one\r\nline two\r\n".to_vec(),
        // Line endings the CRLF flag must get exactly right: lone CRs, CR before CRLF, CRLF at the edges.
        b"\r\nlone\r cr\r\r\n\r\n\r\r\n".to_vec(),
        b"mixed\r\nendings\n\r\n".to_vec(),
        with_crlf(&text(3_000)),
        [b"x".as_slice(), &[b' '; 3000], b"y"].concat(),
        vec![0u8; 5000],
        "Gr\u{fc}\u{df}e, \u{65e5}\u{672c}\u{8a9e}, \u{441}\u{43b}\u{43e}\u{432}\u{43e}, \u{1f600} caf\u{e9}"
            .repeat(20)
            .into_bytes(),
        text(20_000),
    ];
    for case in cases {
        assert_round_trips(&case);
    }
}

#[test]
fn every_predictor_set_round_trips() {
    let paragraph = text(700);
    let repetitive = paragraph.repeat(12);
    let mut varied = text(9000);
    varied.extend_from_slice(&repetitive);
    let sets = [
        ("lm", PredictorConfig::LM_ONLY),
        ("lm+ngram", predictor_set("lm+ngram", DEFAULT_PREDICTORS).unwrap()),
        ("lm+match", predictor_set("lm+match", DEFAULT_PREDICTORS).unwrap()),
        ("lm+bias", predictor_set("lm+bias", DEFAULT_PREDICTORS).unwrap()),
        (
            "separate lanes",
            PredictorConfig {
                share_lanes: false,
                ..DEFAULT_PREDICTORS
            },
        ),
        (
            "nacrith",
            PredictorConfig {
                mixer: MixerKind::Nacrith,
                mixer_rate: 1 << 15,
                skip_miss_rate: 0,
                skip_gap: false,
                ..DEFAULT_PREDICTORS
            },
        ),
        (
            "skip without gaps",
            PredictorConfig {
                skip_gap: false,
                ..DEFAULT_PREDICTORS
            },
        ),
    ];
    for (name, predictors) in sets {
        for (lanes, window, min_chunk) in [(1, 64, 16), (3, 32, 8), (8, 256, 64)] {
            let base = settings(lanes, window, min_chunk);
            let s = CompressSettings::new(base.session, predictors, min_chunk);
            for input in [&varied, &repetitive] {
                let compressed = compress_with(input, &s, 1 << 20);
                assert_eq!(
                    compress_with(input, &s, 1 << 20),
                    compressed,
                    "{name}: not deterministic"
                );
                assert!(
                    decompress(&compressed).unwrap() == *input,
                    "{name}: lanes {lanes}, window {window}"
                );
            }
        }
    }
}

#[test]
fn context_gaps_leave_long_skipped_runs_unfed_and_round_trip() {
    // A long exact repeat: the match model becomes reliable, skipped runs grow past a step's feed, and gaps form.
    let input = text(700).repeat(30);
    let with_gaps = settings(2, 256, 64);
    assert!(with_gaps.predictors.skip_gap && with_gaps.session.max_feed > 1);
    let mut fed_fully = with_gaps;
    fed_fully.predictors.skip_gap = false;
    let payload = |compressed: &[u8]| {
        let (_, header_len) = nacz::container::FrameHeader::read(compressed).unwrap();
        compressed[header_len..].to_vec()
    };
    let gapped = compress_with(&input, &with_gaps, 1 << 20);
    let full = compress_with(&input, &fed_fully, 1 << 20);
    // The fake model's logits depend on how many tokens each lane was fed, so a gap shows in the coded streams.
    assert_ne!(payload(&gapped), payload(&full), "no gap formed");
    assert!(decompress(&gapped).unwrap() == input);
    assert!(decompress(&full).unwrap() == input);
}

#[test]
fn one_engine_serves_frames_with_different_lane_counts() {
    let input = text(5000);
    let mut engine = Engine::with_model(Box::new(FakeLm::new()));
    let mut compressed = Vec::new();
    for lanes in [1, 3, 1] {
        let mut out = Vec::new();
        let s = settings(lanes, 64, 16);
        stream::compress(&mut engine, &s, 1 << 20, &mut &input[..], &mut out, &mut NoProgress).unwrap();
        assert_eq!(
            out,
            compress_with(&input, &s, 1 << 20),
            "a reused engine gives the same bytes"
        );
        compressed.extend_from_slice(&out);
    }
    let mut restored = Vec::new();
    stream::decompress(&mut engine, &mut &compressed[..], Some(&mut restored), &mut NoProgress).unwrap();
    assert!(restored == input.repeat(3));
}

/// A xorshift64 sequence from `seed`: reproducible noise for the tests.
fn xorshift(mut state: u64) -> impl Iterator<Item = u64> {
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
}

#[test]
fn random_binary_round_trips() {
    let data: Vec<u8> = xorshift(0x1234_5678_9abc_def0).take(50_000).map(|x| x as u8).collect();
    assert_round_trips(&data);
    // Noise barely shrinks: the byte-model frame or the stored one, whichever is smaller, grows by a header at
    // most.
    let compressed = compress_with(&data, &settings_with_byte_model(4, 64, 16), 1 << 20);
    assert!(compressed.len() < data.len() + 32);
    assert!(decompress(&compressed).unwrap() == data);
}

#[test]
fn binary_and_unfamiliar_text_go_to_the_byte_model() {
    let s = settings_with_byte_model(3, 64, 16);
    let kind = |frame: &[u8]| match FrameHeader::read(frame).unwrap().0.body {
        FrameBody::Stored => "stored",
        FrameBody::Modeled(_) => "token",
        FrameBody::Bytes(_) => "bytes",
        FrameBody::Lzma(_) => "lzma",
    };
    // Binary records: the byte model alone, the LM never asked.
    let binary = records();
    let compressed = compress_with(&binary, &s, 1 << 20);
    assert_eq!(kind(&compressed), "bytes");
    assert!(compressed.len() < binary.len() / 10, "{} bytes", compressed.len());
    assert!(decompress(&compressed).unwrap() == binary);
    // 200 kB of DNA-like text is long enough to be sampled first: the byte model wins on the sample, and the LM
    // never runs on the whole frame.
    let dna: Vec<u8> = xorshift(0x2545_F491_4F6C_DD1D)
        .take(200_000)
        .map(|x| b"ACGT"[(x >> 60) as usize & 3])
        .collect();
    let compressed = compress_with(&dna, &s, 1 << 20);
    assert_eq!(kind(&compressed), "bytes");
    assert!(compressed.len() < dna.len() / 4 + 1_000, "{} bytes", compressed.len());
    assert!(decompress(&compressed).unwrap() == dna);
    // Frames of one stream choose their kinds independently.
    let mixed = [binary.clone(), text(3_000), dna[..5_000].to_vec()].concat();
    let compressed = compress_with(&mixed, &s, 9_600);
    assert!(decompress(&compressed).unwrap() == mixed);
}

/// A tarball-like archive: each member behind a 512-byte header (its name, its size in octal, NULs) and padded with
/// NULs to a multiple of 512 bytes.
fn archive(members: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let mut header = format!("member{i}.dat\0{:011o}\0", member.len()).into_bytes();
        header.resize(512, 0);
        out.extend(header);
        out.extend(member);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out
}

/// Mixed archives are cut into text and binary segments where that pays, and never come out larger than the whole
/// block as one byte-model frame.
#[test]
fn mixed_archives_round_trip_and_cutting_never_costs() {
    let s = settings_with_byte_model(3, 64, 16);
    let noise: Vec<u8> = xorshift(0x9E37_79B9_7F4A_7C15).take(6_000).map(|x| x as u8).collect();
    let member_sets = [
        vec![text(5_000), records(), text(9_000)],
        vec![noise.clone(), text(4_000), vec![0; 3_000]],
        vec![records(), noise, text(2_100), text(2_500)],
        vec![text(12_000)],
    ];
    for members in member_sets {
        let input = archive(&members);
        let compressed = compress_with(&input, &s, 1 << 20);
        assert!(decompress(&compressed).unwrap() == input);
        let mut engine = Engine::with_model(Box::new(FakeLm::new()));
        let whole = engine.byte_frame(&input, &mut NoProgress).unwrap();
        assert!(
            compressed.len() <= whole.len(),
            "{} > {}",
            compressed.len(),
            whole.len()
        );
        let frames = stream::for_each_frame(&mut &compressed[..], |_, _| Ok(())).unwrap();
        assert!(frames <= 2 * members.len() + 1, "{frames} frames");
    }
}

/// Long exact repeats are where LZMA beats a context-mixing model: such content becomes an LZMA frame, which
/// decodes exactly and is refused when forged.
#[test]
fn long_repeats_become_lzma_frames() {
    // 256 random bytes repeated 4,096 times: the byte model pays a little for every bit of every repeat, LZMA a
    // few bits per 273-byte match.
    let block: Vec<u8> = xorshift(0x5DEE_CE66_D1CE_4E5B).take(256).map(|x| x as u8).collect();
    let input = block.repeat(4096);
    let compressed = compress_with(&input, &settings_with_byte_model(3, 64, 16), 1 << 20);
    let (header, header_len) = FrameHeader::read(&compressed).unwrap();
    let FrameBody::Lzma(params) = &header.body else {
        panic!("not an LZMA frame: {:?}", header.body)
    };
    assert_eq!(params.dict_log, 20);
    assert!(compressed.len() < 700, "{} bytes", compressed.len());
    assert!(decompress(&compressed).unwrap() == input);
    // A resealed flip in the stream: an LZMA error or a content checksum mismatch, never a panic and never
    // other content (a flip in the range coder's last bytes may change nothing at all).
    let mut refused = 0;
    for i in header_len..compressed.len() {
        let forged = nacz::forgery::reseal({
            let mut bad = compressed.clone();
            bad[i] ^= 0x41;
            bad
        });
        match decompress(&forged) {
            Ok(out) => assert!(out == input, "flip at {i} decoded to other content"),
            Err(_) => refused += 1,
        }
    }
    assert!(refused * 10 >= 9 * (compressed.len() - header_len), "{refused} refused");
}

#[test]
fn text_shrinks_and_uses_lanes() {
    let input = text(20_000);
    let one = compress_with(&input, &settings(1, 256, 64), 1 << 20);
    let four = compress_with(&input, &settings(4, 256, 64), 1 << 20);
    assert!(one.len() < input.len() / 2, "{} bytes", one.len());
    let chunks = |frame: &[u8]| match FrameHeader::read(frame).unwrap().0.body {
        FrameBody::Modeled(params) => params.chunks.len(),
        other => panic!("not a token frame: {other:?}"),
    };
    assert_eq!(chunks(&one), 1);
    assert_eq!(chunks(&four), 4, "the 4-lane frame codes four chunks");
    assert_eq!(decompress(&four).unwrap(), input);
}

#[test]
fn frames_concatenate() {
    let (a, b) = (text(3000), b"second \xff part".to_vec());
    let joined = [
        compress_with(&a, &settings(2, 64, 16), 1000),
        compress_with(&b, &settings(1, 32, 8), 1000),
    ]
    .concat();
    assert_eq!(decompress(&joined).unwrap(), [a, b].concat());
}

#[test]
fn every_single_byte_corruption_is_detected() {
    let input = text(3000);
    let compressed = compress_with(&input, &settings(3, 64, 16), 1 << 20);
    let (_, header_len) = FrameHeader::read(&compressed).unwrap();
    for i in 0..compressed.len() {
        for mask in [1u8 << (i % 8), 0x80, 0xFF] {
            let mut bad = compressed.clone();
            bad[i] ^= mask;
            let quick = stream::for_each_frame(&mut &bad[..], |_, _| Ok(())).unwrap_err();
            let decoded = decompress(&bad).unwrap_err();
            for err in [&quick, &decoded] {
                let Error::Frame { index: 0, source } = err else {
                    panic!("byte {i} mask {mask:#x}: {err}")
                };
                // A changed magic or version is named as such; anything else is caught by a field check or, at the
                // latest, by the frame checksum, before any decoding.
                match i {
                    0..=3 => assert_eq!(*source, FormatError::BadMagic, "byte {i}"),
                    4 if !(1..=6).contains(&bad[4]) => {
                        assert_eq!(*source, FormatError::UnsupportedVersion(bad[4]))
                    }
                    _ if i >= header_len => assert_eq!(*source, FormatError::FrameChecksum, "byte {i}"),
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn every_truncation_and_trailing_garbage_is_detected() {
    let compressed = compress_with(&text(2000), &settings(2, 64, 16), 1 << 20);
    for len in 0..compressed.len() {
        assert!(
            decompress(&compressed[..len]).is_err(),
            "truncation to {len} bytes not detected"
        );
    }
    assert!(decompress(&[compressed.as_slice(), b"junk"].concat()).is_err());
    assert!(decompress(&[compressed.as_slice(), b"NACZ"].concat()).is_err());
}

#[test]
fn foreign_input_is_refused() {
    let cases: [(&[u8], FormatError); 6] = [
        (b"hello world, not compressed", FormatError::BadMagic),
        (b"\x1f\x8b\x08\x00gzip", FormatError::BadMagic),
        (
            b"NAC",
            FormatError::Truncated {
                what: "the frame header",
                needed: 4,
            },
        ),
        (
            b"NACZ\x09\x01\x10",
            FormatError::Truncated {
                what: "the frame header",
                needed: 9,
            },
        ),
        (
            b"NACZ\x09\x00\x0c\x00\x00\x00\x00\x00",
            FormatError::UnsupportedVersion(9),
        ),
        (
            b"",
            FormatError::Truncated {
                what: "the frame magic",
                needed: 4,
            },
        ),
    ];
    for (junk, expected) in cases {
        match decompress(junk) {
            Err(Error::Frame { index: 0, source }) => assert_eq!(source, expected, "{junk:?}"),
            other => panic!("{junk:?}: {other:?}"),
        }
    }
}

/// The golden settings with every frame through the language model (no byte-model frames), so the token path
/// stays pinned.
fn lm_only_settings() -> CompressSettings {
    settings(3, 64, 16)
}

/// Binary records of the kind spreadsheets and object files hold: fixed-width fields, counters, padding.
fn records() -> Vec<u8> {
    (0..600u32)
        .flat_map(|i| {
            let mut record = vec![0u8; 16];
            record[..4].copy_from_slice(&i.to_le_bytes());
            record[4] = (i % 13) as u8;
            record[8..12].copy_from_slice(&(i * i).to_be_bytes());
            record[15] = 0xFF;
            record
        })
        .collect()
}

#[test]
fn golden_files_decode() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let original = std::fs::read(golden.join("fake-lanes3.txt")).unwrap();
    // Version 4's and 5's files hold the same text with CRLF line breaks, so they show the line-ending flag at work.
    let crlf_original = with_crlf(&original);
    if std::env::var_os("NACZ_BLESS").is_some() {
        // Regenerate the current version's files after a deliberate format change (which also bumps the format
        // version; the old versions' files stay, to show they still decode).
        for (name, compressed) in [
            (
                "fake-lanes3-v8.txt.nacz",
                compress_with(&crlf_original, &lm_only_settings(), 1 << 20),
            ),
            (
                "records-v8.bin.nacz",
                compress_with(&records(), &settings_with_byte_model(3, 64, 16), 1 << 20),
            ),
        ] {
            let mut bitflip = compressed.clone();
            bitflip[compressed.len() - 3] ^= 0x10;
            std::fs::write(golden.join(name), &compressed).unwrap();
            std::fs::write(golden.join(name.replacen("-v8", "-v8-bitflip", 1)), &bitflip).unwrap();
        }
    }
    // Format versions 1 (the LM alone), 2 (no context gaps), 3 (no line-ending flag), 4 (no multi-context
    // mixer or probability map), 5 (no byte-model frames), 6 (no backend class or lane groups) and 7 (full CDFs)
    // still decode.
    let v1 = std::fs::read(golden.join("fake-lanes3-v1.txt.nacz")).unwrap();
    assert_eq!(decompress(&v1).unwrap(), original);
    for version in [2, 3] {
        let older = std::fs::read(golden.join(format!("fake-lanes3-v{version}.txt.nacz"))).unwrap();
        assert_eq!(decompress(&older).unwrap(), original, "version {version}");
    }
    for version in [4, 5, 6, 7] {
        let older = std::fs::read(golden.join(format!("fake-lanes3-v{version}.txt.nacz"))).unwrap();
        assert_eq!(decompress(&older).unwrap(), crlf_original, "version {version}");
    }
    let compressed = std::fs::read(golden.join("fake-lanes3-v8.txt.nacz")).unwrap();
    assert_eq!(decompress(&compressed).unwrap(), crlf_original);
    assert!(compressed.len() < v1.len(), "the predictors help on repetitive text");
    // The CRs cost nothing: the CRLF text codes to exactly as many bytes as the LF text.
    assert_eq!(
        compress_with(&original, &lm_only_settings(), 1 << 20).len(),
        compressed.len()
    );
    // The format and the numerics (fake model, predictors) are pinned: compressing again gives the same bytes.
    assert_eq!(compress_with(&crlf_original, &lm_only_settings(), 1 << 20), compressed);
    // With the byte model allowed, this repetitive text codes smaller still: the fake model is a weak LM.
    let either = compress_with(&crlf_original, &settings_with_byte_model(3, 64, 16), 1 << 20);
    assert!(either.len() < compressed.len());
    assert_eq!(decompress(&either).unwrap(), crlf_original);
    // Binary data: a byte-model frame, pinned too.
    assert_eq!(
        decompress(&std::fs::read(golden.join("records-v6.bin.nacz")).unwrap()).unwrap(),
        records()
    );
    assert_eq!(
        decompress(&std::fs::read(golden.join("records-v7.bin.nacz")).unwrap()).unwrap(),
        records()
    );
    let records_file = std::fs::read(golden.join("records-v8.bin.nacz")).unwrap();
    let (header, _) = FrameHeader::read(&records_file).unwrap();
    assert!(matches!(header.body, FrameBody::Bytes(_)), "{:?}", header.body);
    assert_eq!(decompress(&records_file).unwrap(), records());
    assert_eq!(
        compress_with(&records(), &settings_with_byte_model(3, 64, 16), 1 << 20),
        records_file
    );
    let mut must_fail: Vec<String> = (1..=8)
        .map(|version| format!("fake-lanes3-v{version}-bitflip.txt.nacz"))
        .collect();
    must_fail.push("records-v6-bitflip.bin.nacz".into());
    must_fail.push("records-v7-bitflip.bin.nacz".into());
    must_fail.push("records-v8-bitflip.bin.nacz".into());
    for name in must_fail {
        let version = &name;
        let must_fail = golden.join(&name);
        assert!(
            matches!(
                decompress(&std::fs::read(must_fail).unwrap()),
                Err(Error::Frame {
                    index: 0,
                    source: FormatError::FrameChecksum
                })
            ),
            "version {version}"
        );
    }
}
