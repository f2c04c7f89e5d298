//! Byte-exact round trips of every benchmark corpus file (Canterbury, Canterbury large, Calgary, enwik6) through
//! the whole pipeline with the fast fake model, so CI covers real-world inputs of every kind. The corpus is found
//! through `NACZ_CORPUS`, `corpus/data` or `../shared/corpus`; without one the test says so and passes,
//! except under CI, where a missing corpus is a failure.

use std::path::{Path, PathBuf};

use nacz::codec::{CompressSettings, Engine, NoProgress, DEFAULT_PREDICTORS};
use nacz::lm::{FakeLm, SessionConfig};
use nacz::stream;

fn corpus_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("NACZ_CORPUS").map(PathBuf::from),
        Some(root.join("corpus/data")),
        Some(root.join("../shared/corpus")),
    ];
    candidates.into_iter().flatten().find(|d| d.is_dir())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_none_or(|e| e != "md") && path.file_name().is_some_and(|n| n != "SHA256SUMS") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_file_round_trips() {
    let Some(dir) = corpus_dir() else {
        // CI has ../shared/corpus beside its clone: there a missing corpus is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the corpus (../shared/corpus or NACZ_CORPUS)"
        );
        eprintln!("no corpus directory: skipped (run corpus/fetch.sh)");
        return;
    };
    let settings = CompressSettings::new(
        SessionConfig {
            lanes: 4,
            lane_group: 4,
            window: 512,
            slide: 32,
            sink: 4,
            flash_attention: true,
            kv_q8: false,
            max_feed: 1,
        },
        DEFAULT_PREDICTORS,
        4096,
    );
    let files = files(&dir);
    assert!(!files.is_empty(), "{} holds no files", dir.display());
    for path in files {
        let input = std::fs::read(&path).unwrap();
        let mut engine = Engine::with_model(Box::new(FakeLm::new()));
        let mut compressed = Vec::new();
        stream::compress(
            &mut engine,
            &settings,
            1 << 20,
            &mut &input[..],
            &mut compressed,
            &mut NoProgress,
        )
        .unwrap();
        let mut restored = Vec::new();
        stream::decompress(&mut engine, &mut &compressed[..], Some(&mut restored), &mut NoProgress).unwrap();
        assert!(restored == input, "{} did not round-trip", path.display());
        // The guarantee, on every file that fits one frame: never more than xz -9e + 0.5% + 64 bytes.
        if let Some(xz) = xz_size(&path).filter(|_| input.len() <= 1 << 20) {
            assert!(
                compressed.len() as f64 <= xz as f64 * 1.005 + 64.0,
                "{}: {} bytes, xz -9e {xz}",
                path.display(),
                compressed.len()
            );
        }
    }
}

/// The size of `xz -9e`'s output for `path`, if xz is installed.
fn xz_size(path: &Path) -> Option<usize> {
    let out = std::process::Command::new("xz")
        .args(["-9e", "-c", "-T1"])
        .arg(path)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len())
}
