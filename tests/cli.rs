//! The command line as a user meets it, with the fake model (`--model @fake`): files and pipes, suffixes, refusing
//! to overwrite, `--rm`, exit codes and messages, and no partial output on errors.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod util;

fn nacz(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacz"))
        .args(["--model", "@fake"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const TEXT: &[u8] = b"It was the best of times, it was the worst of times, it was the age of wisdom.\n";

#[test]
fn file_round_trip_keeps_the_source_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("book.txt"), TEXT.repeat(50)).unwrap();
    let out = nacz(dir.path(), &["compress", "book.txt"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("book.txt").exists(), "source must be kept by default");
    let compressed = fs::read(dir.path().join("book.txt.nacz")).unwrap();

    let again = nacz(dir.path(), &["compress", "book.txt"], b"");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("nacz: book.txt: ") && stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        fs::read(dir.path().join("book.txt.nacz")).unwrap(),
        compressed,
        "output was overwritten"
    );

    fs::rename(dir.path().join("book.txt"), dir.path().join("orig.txt")).unwrap();
    let out = nacz(dir.path(), &["decompress", "book.txt.nacz"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(dir.path().join("book.txt")).unwrap(), TEXT.repeat(50));
    let out = nacz(dir.path(), &["decompress", "-f", "--rm", "book.txt.nacz"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !dir.path().join("book.txt.nacz").exists(),
        "--rm removes the source after success"
    );
}

#[test]
fn pipes_work_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let input = [TEXT, b"\x00\xff binary tail"].concat();
    let compressed = nacz(dir.path(), &["compress"], &input);
    assert!(compressed.status.success(), "{}", stderr(&compressed));
    assert!(compressed.stdout.starts_with(b"NACZ"));
    let restored = nacz(dir.path(), &["decompress", "-"], &compressed.stdout);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(restored.stdout, input);
    let empty = nacz(dir.path(), &["compress", "-c"], b"");
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(empty.stdout.starts_with(b"NACZ"), "empty input still gives a frame");
    let restored = nacz(dir.path(), &["decompress"], &empty.stdout);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(restored.stdout, b"");
}

#[test]
fn corrupt_or_foreign_input_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt.nacz"), b"plain text, not nacz").unwrap();
    let out = nacz(dir.path(), &["decompress", "notes.txt.nacz"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nacz: notes.txt.nacz: frame 0: not a nacz file"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("notes.txt").exists(), "no output on error");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind: {leftovers:?}");

    let good = nacz(dir.path(), &["compress"], &TEXT.repeat(20)).stdout;
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    fs::write(dir.path().join("bad.nacz"), &bad).unwrap();
    for args in [
        &["test", "--quick", "bad.nacz"][..],
        &["test", "bad.nacz"],
        &["decompress", "bad.nacz"],
    ] {
        let out = nacz(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("checksum mismatch"), "{args:?}: {}", stderr(&out));
    }
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn missing_input_and_unknown_suffix_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = nacz(dir.path(), &["compress", "nope.txt"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("nacz: nope.txt: "), "{}", stderr(&out));
    fs::write(dir.path().join("x.bin"), b"data").unwrap();
    let out = nacz(dir.path(), &["decompress", "x.bin"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("suffix"), "{}", stderr(&out));
}

#[test]
fn info_and_quick_test_need_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = nacz(
        dir.path(),
        &["compress", "--lanes", "2", "--no-byte-model"],
        &TEXT.repeat(200),
    )
    .stdout;
    fs::write(dir.path().join("t.nacz"), &compressed).unwrap();
    // Binary input goes to the byte model, which needs no language model either way.
    let binary: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8 ^ (i >> 9) as u8).collect();
    let compressed_binary = nacz(dir.path(), &["compress"], &binary).stdout;
    fs::write(dir.path().join("b.nacz"), &compressed_binary).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nacz"))
        .args(["--model", "/nonexistent.gguf", "decompress", "-c", "b.nacz"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, binary);
    let info = Command::new(env!("CARGO_BIN_EXE_nacz"))
        .args(["info", "b.nacz"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("byte model, ") && info.contains("2^"), "{info}");
    // A model path that does not exist proves neither command loads one.
    for args in [&["info", "t.nacz"][..], &["test", "--quick", "t.nacz"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_nacz"))
            .args(["--model", "/nonexistent.gguf"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        if args[0] == "info" {
            let text = String::from_utf8_lossy(&out.stdout);
            let original = format!("original {} bytes", TEXT.len() * 200);
            for needle in [
                original.as_str(),
                "format version 8,",
                "backend CPU (no instruction-set extensions)",
                "lanes 2 (one group)",
                "mixer multi",
                "probability map",
                "model sha256 66616b65…",
                "lanes 2",
                "window",
            ] {
                assert!(text.contains(needle), "info lacks {needle:?}:\n{text}");
            }
        }
    }
    // info reports the version each frame was written in, not the one this nacz writes, and says when CRLF
    // line breaks were modeled as LF.
    for (golden, needle) in [
        ("fake-lanes3-v1.txt.nacz", "format version 1,"),
        ("fake-lanes3-v4.txt.nacz", "mixer context"),
        ("fake-lanes3-v5.txt.nacz", "line breaks CRLF, modeled as LF"),
        ("fake-lanes3-v6.txt.nacz", "backend CPU (format version 6 or older"),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(golden);
        let out = Command::new(env!("CARGO_BIN_EXE_nacz"))
            .arg("info")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(needle),
            "{golden} lacks {needle:?}"
        );
    }
}

#[test]
fn a_signal_leaves_neither_output_nor_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // Binary records: the byte model takes seconds on 3 MB, long enough to be interrupted.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ (i >> 11) as u8).collect();
    fs::write(dir.path().join("big.bin"), &data).unwrap();
    for signal in ["-TERM", "-INT"] {
        let child = Command::new(env!("CARGO_BIN_EXE_nacz"))
            .args(["--model", "@fake", "compress", "big.bin"])
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let killed = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{signal}: {}", stderr(&out));
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["big.bin"], "{signal}: left behind");
    }
}

#[test]
fn levels_are_recorded_and_named_by_info() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), TEXT.repeat(20)).unwrap();
    for (flags, named) in [
        (&[][..], "level 6's settings"),
        (&["-1"][..], "level 1's settings"),
        (&["--fast"][..], "level 1's settings"),
        (&["-4"][..], "level 4's settings"),
        (&["-8"][..], "level 8's settings"),
        (&["-2", "--window", "768"][..], "custom settings"),
    ] {
        // The byte model would take this repetitive text; levels are about the LM's frames.
        let mut args = vec!["compress", "-c", "--no-byte-model"];
        args.extend_from_slice(flags);
        args.push("a.txt");
        let out = nacz(dir.path(), &args, b"");
        assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
        fs::write(dir.path().join("a.nacz"), &out.stdout).unwrap();
        let info = nacz(dir.path(), &["info", "a.nacz"], b"");
        let shown = String::from_utf8_lossy(&info.stdout);
        // The stand-in model is no manifest model, so info names the level's settings, not the level.
        assert!(shown.contains(named), "{flags:?}: {shown}");
        let back = nacz(dir.path(), &["decompress", "-c", "a.nacz"], b"");
        assert_eq!(back.stdout, TEXT.repeat(20), "{flags:?}");
    }
    let both = nacz(dir.path(), &["compress", "-c", "-1", "-9", "a.txt"], b"");
    assert_eq!(both.status.code(), Some(2), "two levels are a usage error");
    assert!(both.stdout.is_empty());
}

/// Lane groups are recorded in the file and change its bytes; worker and thread counts never do. A GPU device
/// is refused by this CPU build before anything is written.
#[test]
fn workers_and_threads_never_change_the_bytes_and_cuda_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = TEXT.repeat(60);
    fs::write(dir.path().join("a.txt"), &input).unwrap();
    let compress = |extra: &[&str]| {
        let mut args = vec![
            "compress",
            "-c",
            "--no-byte-model",
            "--lanes",
            "5",
            "--min-chunk-tokens",
            "16",
        ];
        args.extend_from_slice(extra);
        args.push("a.txt");
        let out = nacz(dir.path(), &args, b"");
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        out.stdout
    };
    let grouped = compress(&["--lane-group", "2"]);
    for extra in [
        &["--lane-group", "2", "--workers", "2"][..],
        &["--lane-group", "2", "--workers", "3"],
        &["--lane-group", "2", "--workers", "3", "--threads", "1"],
        &["--lane-group", "2", "--threads", "4"],
    ] {
        assert!(compress(extra) == grouped, "{extra:?} changed the bytes");
    }
    assert!(compress(&[]) != grouped, "the grouping changes the predictions");
    fs::write(dir.path().join("a.nacz"), &grouped).unwrap();
    let back = nacz(dir.path(), &["--workers", "2", "decompress", "-c", "a.nacz"], b"");
    assert!(back.status.success() && back.stdout == input, "{}", stderr(&back));
    let info = nacz(dir.path(), &["info", "a.nacz"], b"");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("lanes 5 (3 groups of 2)"), "{info}");

    for args in [
        &["--device", "cuda", "compress", "a.txt"][..],
        &["--device", "cuda:0,1", "decompress", "-c", "a.nacz"],
    ] {
        let out = nacz(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr(&out).contains("this nacz is the CPU build"), "{}", stderr(&out));
    }
    assert!(!dir.path().join("a.txt.nacz").exists());
    let bad = nacz(dir.path(), &["--device", "tpu", "info", "a.nacz"], b"");
    assert_eq!(bad.status.code(), Some(2), "an unknown device is a usage error");
    let cpu = nacz(dir.path(), &["--device", "cpu", "decompress", "-c", "a.nacz"], b"");
    assert!(cpu.status.success() && cpu.stdout == input);
}

/// The README's sharding recipe: GNU parallel cuts a file into blocks at line ends, compresses them in parallel
/// and keeps their order; the concatenated frames decode to the original.
#[test]
fn the_gnu_parallel_recipe_round_trips() {
    if Command::new("parallel").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install GNU parallel");
        eprintln!("GNU parallel is not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    for i in 0..3000 {
        text.extend_from_slice(format!("line {i}: {}", String::from_utf8_lossy(TEXT)).as_bytes());
    }
    fs::write(dir.path().join("big.txt"), &text).unwrap();
    let nacz_bin = env!("CARGO_BIN_EXE_nacz");
    let recipe = format!(
        "parallel --pipepart -a big.txt --block 40k -k -j 2 {nacz_bin} --model @fake compress -c > big.txt.nacz"
    );
    let out = Command::new("bash")
        .args(["-c", &recipe])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let info = nacz(dir.path(), &["info", "big.txt.nacz"], b"");
    let shown = String::from_utf8_lossy(&info.stdout);
    let frames: usize = shown
        .split(" frame(s)")
        .next()
        .and_then(|head| head.rsplit(", ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 3, "one frame per block expected: {shown}");
    let back = nacz(dir.path(), &["decompress", "-c", "big.txt.nacz"], b"");
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(back.stdout, text);
}

/// A file whose model is missing or does not load: the message names the model the file was made with and how to
/// fetch it, whatever llama.cpp said.
#[test]
fn a_missing_or_broken_model_names_the_model_the_file_needs() {
    let dir = tempfile::tempdir().unwrap();
    let frame = util::compress_with(&TEXT.repeat(10), &util::settings(1, 256, 16), 1 << 20);
    let smollm2 = nacz::model::manifest()
        .into_iter()
        .find(|e| e.name == "smollm2-135m")
        .unwrap();
    let id: [u8; 4] = std::array::from_fn(|i| u8::from_str_radix(&smollm2.sha256[2 * i..2 * i + 2], 16).unwrap());
    fs::write(dir.path().join("a.nacz"), util::forge(&frame, |p| p.model_id = id)).unwrap();
    fs::write(dir.path().join("broken.gguf"), b"GGUF but not really a model").unwrap();
    let decode = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nacz"))
            .args(extra)
            .args(["decompress", "-c", "a.nacz"])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env_remove("NACZ_MODEL")
            .env_remove("NACZ_MODEL_DIR")
            .output()
            .unwrap()
    };
    for (extra, cause) in [
        (&[][..], "not found"),
        (&["--model", "broken.gguf"][..], "cannot load model"),
    ] {
        let out = decode(extra);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{message}");
        assert!(out.stdout.is_empty());
        assert!(message.contains(cause), "{message}");
        assert!(
            message.contains(&smollm2.sha256) && message.contains("bash models/fetch.sh smollm2-135m"),
            "{message}"
        );
        assert!(!message.contains("null"), "{message}");
    }
}
