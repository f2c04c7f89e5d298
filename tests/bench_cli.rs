//! `nacz bench`, `nacz completions` and `nacz man` as a user runs them, with the fake model (`--model @fake`) on
//! small generated files. The classical tools the benchmark finds are controlled through `PATH`: a folder holding
//! only what a test puts there (a link to the real gzip, or a stand-in script).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod util;

/// Runs `nacz --model @fake ARGS` in `dir` with `PATH` = `path`.
fn nacz(dir: &Path, path: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nacz"))
        .args(["--model", "@fake"])
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("NACZ_CORPUS")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A work folder with two text files, and an empty `bin` folder to serve as `PATH`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), util::text(1500)).unwrap();
    fs::write(dir.path().join("b.txt"), util::text(2500)).unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    (dir, bin)
}

/// Links the real `program` into `bin`; false where it is not installed here.
fn link_real(bin: &Path, program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    match std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
    {
        Some(real) => {
            std::os::unix::fs::symlink(real, bin.join(program)).unwrap();
            true
        }
        None => false,
    }
}

/// A script named `program` in `bin` (`PATH` holds only `bin`, so it names other programs by their full path).
fn stand_in(bin: &Path, program: &str, script: &str) {
    let path = bin.join(program);
    fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn markdown_has_rows_per_file_and_method_totals_and_missing_tools() {
    let (dir, bin) = setup();
    let gzip = link_real(&bin, "gzip");
    let out = nacz(dir.path(), &bin, &["bench", "a.txt", "b.txt", "--levels", "1,6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    for row in [
        "| a.txt | nacz -1 | 1500 |",
        "| a.txt | nacz -6 | 1500 |",
        "| b.txt | nacz -1 | 2500 |",
        "| total | nacz -1 | 4000 |",
        "| total | nacz -6 | 4000 |",
    ] {
        assert!(md.contains(row), "{row} missing from\n{md}");
    }
    let rows = md.lines().filter(|l| l.starts_with("| ")).collect::<Vec<_>>();
    let methods = if gzip { 3 } else { 2 };
    assert_eq!(rows.len(), 1 + 2 * methods + methods, "{md}");
    assert!(rows[1..].iter().all(|r| r.ends_with("| ok |")), "{md}");
    if gzip {
        assert!(md.contains("| a.txt | gzip -9 | 1500 |"), "{md}");
        assert!(md.contains("not installed: bzip2, xz, zstd, brotli"), "{md}");
    } else {
        assert!(md.contains("not installed: gzip, bzip2, xz, zstd, brotli"), "{md}");
    }
}

#[test]
fn json_and_csv_carry_the_same_rows() {
    let (dir, bin) = setup();
    let json = nacz(dir.path(), &bin, &["bench", "a.txt", "b.txt", "--format", "json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let json = stdout(&json);
    assert!(
        json.contains("{\"file\": \"a.txt\", \"method\": \"nacz -6\", \"bytes\": 1500,"),
        "{json}"
    );
    assert!(
        json.contains("{\"file\": \"total\", \"method\": \"nacz -6\", \"bytes\": 4000,"),
        "{json}"
    );
    assert_eq!(json.matches("\"round_trip\": \"ok\"").count(), 3, "{json}");
    assert!(
        json.contains("\"not_installed\": [\"gzip\", \"bzip2\", \"xz\", \"zstd\", \"brotli\"]"),
        "{json}"
    );

    let csv = nacz(dir.path(), &bin, &["bench", "a.txt", "b.txt", "--format", "csv"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    assert!(stderr(&csv).contains("nacz: not installed: gzip"), "{}", stderr(&csv));
    let csv = stdout(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[0].starts_with("file,method,bytes,compressed_bytes,bits_per_byte,"),
        "{csv}"
    );
    assert!(lines[1].starts_with("a.txt,nacz -6,1500,"), "{csv}");
    assert!(lines[2].starts_with("b.txt,nacz -6,2500,"), "{csv}");
    assert!(
        lines[3].starts_with("total,nacz -6,4000,") && lines[3].ends_with(",ok"),
        "{csv}"
    );
}

#[test]
fn plot_is_an_svg_with_a_labeled_point_per_method() {
    let (dir, bin) = setup();
    let gzip = link_real(&bin, "gzip");
    let out = nacz(
        dir.path(),
        &bin,
        &["bench", "a.txt", "--levels", "1,6", "--plot", "plot.svg", "-q"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = fs::read_to_string(dir.path().join("plot.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let with_class = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect::<Vec<_>>()
    };
    let methods = if gzip { 3 } else { 2 };
    assert_eq!(with_class("point").len(), methods);
    let labels: Vec<&str> = with_class("label").iter().filter_map(|n| n.text()).collect();
    assert_eq!(labels.len(), methods);
    assert!(labels.iter().any(|l| l.starts_with("nacz -1 (")), "{labels:?}");
    assert_eq!(gzip, labels.iter().any(|l| l.starts_with("gzip -9 (")), "{labels:?}");
    assert_eq!(with_class("axis-title").len(), 2);
    assert!(with_class("tick").len() >= 4);
    assert_eq!(with_class("levels").len(), 1, "the levels are joined by a line");
}

#[test]
fn a_directory_means_its_files_and_max_bytes_cuts_them() {
    let (dir, bin) = setup();
    let out = nacz(
        dir.path(),
        &bin,
        &["bench", ".", "--max-bytes", "1K", "--no-tools", "--format", "csv"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = stdout(&out);
    assert!(csv.contains("\n./a.txt,nacz -6,1024,"), "{csv}");
    assert!(csv.contains("\n./b.txt,nacz -6,1024,"), "{csv}");
    assert!(csv.contains("\ntotal,nacz -6,2048,"), "{csv}");
    assert!(!stderr(&out).contains("not installed"), "--no-tools looks for none");
}

#[test]
fn a_tool_that_breaks_the_round_trip_is_an_error() {
    let (dir, bin) = setup();
    stand_in(
        &bin,
        "gzip",
        r#"case "$*" in *-d*) printf broken ;; *) /bin/cat ;; esac"#,
    );
    let out = nacz(dir.path(), &bin, &["bench", "a.txt"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nacz: a.txt: round trip through gzip -9 did not give the input back"),
        "{}",
        stderr(&out)
    );

    stand_in(&bin, "gzip", "echo 'out of cheese' >&2; exit 3");
    let out = nacz(dir.path(), &bin, &["bench", "a.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nacz: a.txt: gzip -9 (-9 -c) failed: exit status: 3: out of cheese"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_inputs_and_corpora_are_reported() {
    let (dir, bin) = setup();
    let out = nacz(dir.path(), &bin, &["bench", "nope.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("nacz: nope.txt: "), "{}", stderr(&out));

    let out = nacz(dir.path(), &bin, &["bench"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nothing to measure"), "{}", stderr(&out));

    let out = nacz(
        dir.path(),
        &bin,
        &["bench", "--corpus", "canterbury-text", "--corpus-dir", "missing"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nacz: corpus canterbury-text: not found in missing: fetch it with `corpus/fetch.sh`"),
        "{}",
        stderr(&out)
    );

    // A copy whose files are not the manifest's is refused before anything is measured.
    let copy = dir.path().join("copy/canterbury");
    fs::create_dir_all(&copy).unwrap();
    for file in [
        "alice29.txt",
        "asyoulik.txt",
        "cp.html",
        "fields.c",
        "grammar.lsp",
        "lcet10.txt",
        "plrabn12.txt",
        "xargs.1",
    ] {
        fs::write(copy.join(file), "not the corpus").unwrap();
    }
    let out = nacz(
        dir.path(),
        &bin,
        &["bench", "--corpus", "canterbury-text", "--corpus-dir", "copy"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("nacz: alice29.txt: sha256 ") && stderr(&out).contains("differs from the manifest's"),
        "{}",
        stderr(&out)
    );
}

/// The shared corpus copy beside the source tree, where there is one (CI lays it out; a bare clone has none).
#[test]
fn canterbury_text_is_its_eight_text_files() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !corpus.join("canterbury").is_dir() {
        eprintln!("skipped: no corpus at {}", corpus.display());
        return;
    }
    let (dir, bin) = setup();
    let out = nacz(
        dir.path(),
        &bin,
        &[
            "bench",
            "--corpus",
            "canterbury-text",
            "--corpus-dir",
            corpus.to_str().unwrap(),
            "--max-bytes",
            "300",
            "--levels",
            "1",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = stdout(&out);
    let files: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        files,
        [
            "alice29.txt",
            "asyoulik.txt",
            "cp.html",
            "fields.c",
            "grammar.lsp",
            "lcet10.txt",
            "plrabn12.txt",
            "xargs.1",
            "total"
        ]
    );
    assert!(csv.contains("\ntotal,nacz -1,2400,"), "{csv}");
}

#[test]
fn completions_and_man_pages() {
    let (dir, bin) = setup();
    let out = nacz(dir.path(), &bin, &["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("nacz") && script.contains("bench"), "{script}");

    let out = nacz(dir.path(), &bin, &["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with('.'), "{page}");
    assert!(page.contains(".TH nacz 1"), "{page}");

    let out = nacz(dir.path(), &bin, &["man", "--dir", "man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["nacz.1", "nacz-bench.1", "nacz-compress.1"] {
        let text = fs::read_to_string(dir.path().join("man").join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}
