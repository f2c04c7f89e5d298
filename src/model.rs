//! Finding the model file and knowing which one it is: the manifest of named models (`models/manifest.tsv`,
//! compiled in), the lookup order (`--model`, `NACZ_MODEL`, the model directories), and the sha256 fingerprint,
//! cached per (path, size, mtime) so a 100 MB model is not hashed on every run; and loading it ([`loader`]).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::lm::{Device, FakeLm, LanguageModel};
use sha2::{Digest, Sha256};

use crate::codec::ModelLoader;
use crate::Error;

const MANIFEST: &str = include_str!("../models/manifest.tsv");
/// The manifest entry used when no model is named.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// One named model of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// The compiled-in manifest.
pub fn manifest() -> Vec<ManifestEntry> {
    MANIFEST
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.len() >= 6).then(|| ManifestEntry {
                name: cols[0].to_string(),
                file: cols[1].to_string(),
                size: cols[4].parse().unwrap_or(0),
                sha256: cols[5].to_string(),
            })
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest model whose sha256 starts with this model id.
pub fn entry_for_model_id(id: &[u8; 4]) -> Option<ManifestEntry> {
    let prefix = hex(id);
    manifest().into_iter().find(|e| e.sha256.starts_with(&prefix))
}

/// " (smollm2-135m, SmolLM2-135M-Instruct.Q4_1.gguf, sha256 …)" for a known model, "" otherwise.
pub fn describe_model_id(id: &[u8; 4]) -> String {
    entry_for_model_id(id).map_or_else(String::new, |e| {
        format!(" ({}, {}, sha256 {})", e.name, e.file, e.sha256)
    })
}

/// How to get the model with this id.
pub fn fetch_hint_for_model_id(id: &[u8; 4]) -> String {
    match entry_for_model_id(id) {
        Some(e) => format!(
            "fetch it with `bash models/fetch.sh {}` and pass --model {}",
            e.name, e.name
        ),
        None => "pass the same GGUF file the file was compressed with via --model PATH".to_string(),
    }
}

/// Directories searched for manifest models, in order.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("NACZ_MODEL_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        dirs.push(PathBuf::from(data).join("nacz/models"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/share/nacz/models"));
    }
    dirs.push(PathBuf::from("/usr/local/share/nacz/models"));
    dirs
}

/// Where the model is, from `--model` (a manifest name or a path), then `NACZ_MODEL`, then the default model in
/// the model directories.
pub fn resolve(arg: Option<&str>) -> Result<PathBuf, Error> {
    let choice = arg.map(str::to_string).or_else(|| std::env::var("NACZ_MODEL").ok());
    let name = match choice {
        Some(choice) => {
            if let Some(entry) = manifest().into_iter().find(|e| e.name == choice) {
                return find_entry(&entry);
            }
            let path = PathBuf::from(&choice);
            if path.is_file() {
                return Ok(path);
            }
            return Err(Error::Model(format!(
                "model `{choice}` is neither a file nor a known model name ({}); fetch the default with \
                 `bash models/fetch.sh {DEFAULT_MODEL}`",
                manifest()
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => DEFAULT_MODEL.to_string(),
    };
    let entry = manifest()
        .into_iter()
        .find(|e| e.name == name)
        .expect("the default model is in the manifest");
    find_entry(&entry)
}

fn find_entry(entry: &ManifestEntry) -> Result<PathBuf, Error> {
    let dirs = model_dirs();
    dirs.iter()
        .map(|d| d.join(&entry.file))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Model(format!(
                "model {} ({}) not found in {}; fetch and verify it with `bash models/fetch.sh {}` (from the nacz \
             source tree), or pass --model PATH",
                entry.name,
                entry.file,
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                entry.name
            ))
        })
}

/// Which model an engine loads, and how.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// A manifest name, a GGUF path, or `@fake` (the deterministic stand-in model of the tests). `None`: the
    /// `NACZ_MODEL` environment variable, then the model a file names when decoding, then [`Self::default_model`].
    pub model: Option<String>,
    /// The manifest model compressing uses when none is named (the level's); `None` means [`DEFAULT_MODEL`].
    pub default_model: Option<String>,
    /// Inference threads; `None` follows the load (as many as other processes leave idle).
    pub threads: Option<usize>,
    /// Worker threads running the lane groups (0 or 1: one). Never changes an output byte.
    pub workers: usize,
    /// Where the lane groups run.
    pub device: Device,
    /// Report the model and its load time on stderr.
    pub verbose: bool,
}

/// A [`ModelLoader`] for an [`crate::codec::Engine`]: it loads the model on first use, chosen by `options` and,
/// when decoding, by the model id the file names.
pub fn loader(options: LoadOptions) -> ModelLoader {
    Box::new(
        move |wanted: Option<&[u8; 4]>| -> Result<Box<dyn LanguageModel>, Error> {
            options.device.resolve()?;
            let lm: Box<dyn LanguageModel> = if options.model.as_deref() == Some("@fake") {
                Box::new(FakeLm::new().with_workers(options.workers))
            } else {
                let explicit = options.model.clone().or_else(|| std::env::var("NACZ_MODEL").ok());
                let named = match wanted {
                    Some(id) => entry_for_model_id(id).map(|e| e.name),
                    None => options.default_model.clone(),
                };
                let loaded = resolve(explicit.or(named).as_deref()).and_then(|path| load(&path, &options));
                match (loaded, wanted) {
                    (Ok(lm), _) => lm,
                    // Decoding: say which model the file needs and how to get it.
                    (Err(e), Some(id)) => {
                        return Err(Error::Model(format!(
                            "{e}\nthis file was compressed with the model whose sha256 starts {}{}; {}",
                            hex(id),
                            describe_model_id(id),
                            fetch_hint_for_model_id(id)
                        )))
                    }
                    (Err(e), None) => return Err(e),
                }
            };
            // Developer aids for tuning the predictors (CONTRIBUTING.md): record the model's predictions once, replay
            // them in later runs over the same input and lanes.
            if let Some(path) = std::env::var_os("NACZ_LM_RECORD") {
                return Ok(Box::new(crate::lm::Recorder::new(lm, Path::new(&path))?));
            }
            if let Some(path) = std::env::var_os("NACZ_LM_REPLAY") {
                return Ok(Box::new(crate::lm::Replayer::new(lm, Path::new(&path))?));
            }
            Ok(lm)
        },
    )
}

/// Loads the GGUF model at `path` into llama.cpp.
#[cfg(feature = "llama")]
pub fn load(path: &Path, options: &LoadOptions) -> Result<Box<dyn LanguageModel>, Error> {
    use crate::lm::Threads;
    check_cpu()?;
    let start = std::time::Instant::now();
    let fingerprint = fingerprint(path)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (policy, described) = match options.threads {
        Some(n) => (Threads::Fixed(n), format!("{n} threads")),
        None => (
            Threads::follow_load(cores),
            format!("up to {cores} threads, as the load allows"),
        ),
    };
    let lm = crate::lm::LlamaLm::load(path, fingerprint, policy, options.workers).map_err(|e| {
        Error::Model(format!(
            "cannot load model {} (sha256 {}): {e}; a model damaged on disk is fetched again with `bash \
             models/fetch.sh NAME`",
            path.display(),
            hex(&fingerprint)
        ))
    })?;
    if options.verbose {
        eprintln!(
            "nacz: model {} (sha256 {}) loaded in {:.2} s, {described}",
            path.display(),
            hex(&fingerprint),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Box::new(lm))
}

/// Without llama.cpp compiled in, only the stand-in model is available.
#[cfg(not(feature = "llama"))]
pub fn load(_: &Path, _: &LoadOptions) -> Result<Box<dyn LanguageModel>, Error> {
    Err(Error::Model("this nacz was built without the `llama` feature".into()))
}

/// ggml in this build uses AVX2, FMA and F16C; without them it would die on an illegal instruction.
#[cfg(feature = "llama")]
fn check_cpu() -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")) {
        return Err(Error::Model("this nacz needs a CPU with AVX2, FMA and F16C".into()));
    }
    Ok(())
}

fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("nacz/fingerprints.tsv"))
}

/// sha256 of the model file, from the cache when the file's path, size and mtime are unchanged.
pub fn fingerprint(path: &Path) -> Result<[u8; 32], Error> {
    let canonical = fs::canonicalize(path)?;
    let meta = fs::metadata(&canonical)?;
    let mtime = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let key = format!("{}\t{}\t{}", canonical.display(), meta.len(), mtime);
    let cache = cache_file();
    let cached = cache
        .as_ref()
        .and_then(|c| fs::read_to_string(c).ok())
        .unwrap_or_default();
    for line in cached.lines() {
        if let Some((k, sha)) = line.rsplit_once('\t') {
            if k == key {
                if let Some(sha) = parse_hex32(sha) {
                    return Ok(sha);
                }
            }
        }
    }
    let mut file = fs::File::open(&canonical)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha: [u8; 32] = hasher.finalize().into();
    if let Some(cache) = cache {
        // A cache that cannot be written only costs time on the next run.
        let mut kept: Vec<&str> = cached
            .lines()
            .filter(|l| !l.starts_with(&format!("{}\t", canonical.display())))
            .collect();
        let line = format!("{key}\t{}", hex(&sha));
        kept.push(&line);
        if let Some(dir) = cache.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
        if fs::write(&tmp, kept.join("\n") + "\n").is_ok() {
            let _ = fs::rename(&tmp, &cache);
        }
    }
    Ok(sha)
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_the_default_model() {
        let entry = manifest().into_iter().find(|e| e.name == DEFAULT_MODEL).unwrap();
        assert_eq!(entry.size, 98_362_432);
        assert_eq!(parse_hex32(&entry.sha256).map(|s| hex(&s)), Some(entry.sha256.clone()));
    }

    #[test]
    fn fingerprint_is_sha256_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("XDG_CACHE_HOME", dir.path());
        let file = dir.path().join("m.gguf");
        fs::write(&file, b"abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex(&fingerprint(&file).unwrap()), expected);
        assert!(fs::read_to_string(dir.path().join("nacz/fingerprints.tsv"))
            .unwrap()
            .contains(expected));
        assert_eq!(hex(&fingerprint(&file).unwrap()), expected);
    }
}
