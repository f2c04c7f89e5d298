//! `nacz bench`: nacz levels and classical compressors measured on the same files. This module owns the
//! benchmark's inputs (files, directories, the corpora of `corpus/manifest.tsv`), the runs (nacz through
//! [`crate::compress`] and [`crate::decompress`], the classical tools as subprocesses), the byte-exact round-trip
//! check, and the report: a markdown table, JSON, CSV and an SVG plot of bits per byte against speed.
//!
//! Serialization and the plot are written by hand: the report is one flat table, so serde_json would be a
//! dependency for a few lines of escaping, and plotters would bring a large dependency tree (fonts, bitmap
//! backends) for one scatter plot of a dozen points.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::{compress, decompress, model, Error, Options};

/// Compiled in like the model manifest, so `--corpus` works from any directory.
const CORPUS_MANIFEST: &str = include_str!("../corpus/manifest.tsv");

/// The names `--corpus` accepts.
pub const CORPORA: [&str; 5] = ["canterbury", "canterbury-text", "calgary", "large", "enwik6"];

/// The text files of the Canterbury corpus (`canterbury-text`).
const CANTERBURY_TEXT: [&str; 8] = [
    "alice29.txt",
    "asyoulik.txt",
    "cp.html",
    "fields.c",
    "grammar.lsp",
    "lcet10.txt",
    "plrabn12.txt",
    "xargs.1",
];

/// An error with the file (or corpus, or directory) it concerns, printed as `FILE: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {source}")]
pub struct FileError {
    pub file: String,
    #[source]
    pub source: Error,
}

impl FileError {
    fn new(file: impl Into<String>, source: impl Into<Error>) -> Self {
        Self {
            file: file.into(),
            source: source.into(),
        }
    }
}

/// One file to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// How the report names it.
    pub name: String,
    pub path: PathBuf,
    /// For corpus files: the manifest's sha256, checked before measuring.
    pub sha256: Option<String>,
}

/// FILEs as given, each DIR as the regular files directly inside it, sorted by name.
pub fn inputs_from_paths(paths: &[PathBuf]) -> Result<Vec<Input>, FileError> {
    let mut inputs = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let is_dir = fs::metadata(path).map_err(|e| FileError::new(&shown, e))?.is_dir();
        if !is_dir {
            inputs.push(Input {
                name: shown,
                path: path.clone(),
                sha256: None,
            });
            continue;
        }
        let mut files = Vec::new();
        for entry in fs::read_dir(path).map_err(|e| FileError::new(&shown, e))? {
            let entry = entry.map_err(|e| FileError::new(&shown, e))?;
            if entry.file_type().map_err(|e| FileError::new(&shown, e))?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        inputs.extend(files.into_iter().map(|path| Input {
            name: path.display().to_string(),
            path,
            sha256: None,
        }));
    }
    Ok(inputs)
}

/// Where corpus files are looked up, each as `DIR/SET/FILE` (the layout `corpus/fetch.sh` writes): `explicit`
/// alone when given; otherwise `NACZ_CORPUS`, then `corpus/data` (fetch.sh's default) and `../shared/corpus`,
/// relative to the source tree one runs in, as `benches/vs-classical.sh` looks.
pub fn corpus_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    match explicit {
        Some(dir) => vec![dir.to_path_buf()],
        None => std::env::var_os("NACZ_CORPUS")
            .map(PathBuf::from)
            .into_iter()
            .chain(["corpus/data", "../shared/corpus"].map(PathBuf::from))
            .collect(),
    }
}

/// The files of corpus `name` (one of [`CORPORA`]) from the first of `dirs` that holds them all, in manifest
/// order, each with its sha256.
pub fn corpus_inputs(name: &str, dirs: &[PathBuf]) -> Result<Vec<Input>, FileError> {
    let (set, only): (&str, Option<&[&str]>) = match name {
        "canterbury" | "calgary" | "large" => (name, None),
        "canterbury-text" => ("canterbury", Some(&CANTERBURY_TEXT)),
        "enwik6" => ("enwik", Some(&["enwik6"])),
        _ => {
            return Err(FileError::new(
                name,
                Error::Usage(format!("unknown corpus; known: {}", CORPORA.join(", "))),
            ))
        }
    };
    let files: Vec<(&str, &str)> = CORPUS_MANIFEST
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.len() >= 4 && cols[0] == set && only.is_none_or(|files| files.contains(&cols[1])))
                .then(|| (cols[1], cols[3]))
        })
        .collect();
    let dir = dirs
        .iter()
        .find(|dir| files.iter().all(|(file, _)| dir.join(set).join(file).is_file()))
        .ok_or_else(|| {
            let tried: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            FileError::new(
                format!("corpus {name}"),
                Error::Corpus(format!(
                    "not found in {}: fetch it with `corpus/fetch.sh` (or `corpus/fetch.sh --from DIR` for a \
                     local copy), or point --corpus-dir or NACZ_CORPUS at a copy laid out as DIR/SET/FILE",
                    tried.join(", ")
                )),
            )
        })?;
    Ok(files
        .into_iter()
        .map(|(file, sha256)| Input {
            name: file.to_string(),
            path: dir.join(set).join(file),
            sha256: Some(sha256.to_string()),
        })
        .collect())
}

/// A classical compressor run as a subprocess, reading stdin and writing stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    pub program: &'static str,
    /// The level flags, part of the method's name.
    pub level_args: &'static [&'static str],
    /// Flags for both directions (keeping a tool quiet).
    pub common_args: &'static [&'static str],
}

/// The tools compared, each at its strongest usual setting.
pub const TOOLS: [Tool; 5] = [
    tool("gzip", &["-9"], &[]),
    tool("bzip2", &["-9"], &[]),
    tool("xz", &["-9e"], &[]),
    tool("zstd", &["-19"], &["-q"]),
    tool("brotli", &["-q", "11"], &[]),
];

const fn tool(
    program: &'static str,
    level_args: &'static [&'static str],
    common_args: &'static [&'static str],
) -> Tool {
    Tool {
        program,
        level_args,
        common_args,
    }
}

impl Tool {
    /// "xz -9e".
    pub fn label(&self) -> String {
        std::iter::once(self.program)
            .chain(self.level_args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn compress_args(&self) -> Vec<&'static str> {
        [self.level_args, self.common_args, &["-c"]].concat()
    }

    fn decompress_args(&self) -> Vec<&'static str> {
        [self.common_args, &["-d", "-c"]].concat()
    }
}

/// The first executable named `program` on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What to measure, and with which model.
#[derive(Clone, Debug, Default)]
pub struct BenchConfig {
    /// nacz levels, each a method of its own.
    pub levels: Vec<u8>,
    /// As [`Options::model`]; `None` takes each level's model.
    pub model: Option<String>,
    pub threads: Option<usize>,
    pub memory_limit: Option<u64>,
    /// Only the first this many bytes of each file.
    pub max_bytes: Option<u64>,
    /// Also run the classical [`TOOLS`] that are installed.
    pub tools: bool,
}

impl BenchConfig {
    fn options(&self, level: u8) -> Options {
        let mut options = Options::new().level(level);
        if let Some(model) = &self.model {
            options = options.model(model.clone());
        }
        if let Some(threads) = self.threads {
            options = options.threads(threads);
        }
        if let Some(limit) = self.memory_limit {
            options = options.memory_limit(limit);
        }
        options
    }
}

/// Told what the benchmark is doing, e.g. to draw a progress bar.
pub trait Progress {
    /// A file starts; `methods` methods will run on it.
    fn file_started(&mut self, _name: &str, _methods: u64) {}
    /// Method number `index` (from 0) starts on the current file.
    fn method_started(&mut self, _index: u64, _method: &str) {}
    /// The current file is done.
    fn file_done(&mut self) {}
}

/// No progress reports.
pub struct Silent;
impl Progress for Silent {}

/// One method on one file, or (with [`TOTAL`] as the file) on all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub file: String,
    /// "nacz -6", "gzip -9".
    pub method: String,
    pub bytes: u64,
    pub compressed: u64,
    pub compress_secs: f64,
    pub decompress_secs: f64,
    /// Tokens nacz coded (bytes coded by the byte model are not tokens); `None` for the classical tools.
    pub tokens: Option<u64>,
}

/// The file name of the totals rows.
pub const TOTAL: &str = "total";

/// `numerator / denominator` where the denominator is positive.
fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

impl Measurement {
    pub fn bits_per_byte(&self) -> Option<f64> {
        ratio(8.0 * self.compressed as f64, self.bytes as f64)
    }

    /// Input bytes per second of compression.
    pub fn compress_speed(&self) -> Option<f64> {
        ratio(self.bytes as f64, self.compress_secs)
    }

    /// Output (original) bytes per second of decompression.
    pub fn decompress_speed(&self) -> Option<f64> {
        ratio(self.bytes as f64, self.decompress_secs)
    }

    pub fn compress_tokens_per_sec(&self) -> Option<f64> {
        ratio(self.tokens? as f64, self.compress_secs)
    }

    pub fn decompress_tokens_per_sec(&self) -> Option<f64> {
        ratio(self.tokens? as f64, self.decompress_secs)
    }
}

/// Everything measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Per file, each file's methods together, in the order run.
    pub rows: Vec<Measurement>,
    /// Per method over all files: sums of bytes and seconds (so bits per byte are those of the sums).
    pub totals: Vec<Measurement>,
    /// Classical tools not found on `PATH`.
    pub not_installed: Vec<String>,
}

/// Measures every input with every nacz level of `config` and every installed tool, checking each round trip.
pub fn run(inputs: &[Input], config: &BenchConfig, progress: &mut dyn Progress) -> Result<Report, FileError> {
    let mut tools = Vec::new();
    let mut not_installed = Vec::new();
    if config.tools {
        for tool in TOOLS {
            match find_program(tool.program) {
                Some(path) => tools.push((tool, path)),
                None => not_installed.push(tool.program.to_string()),
            }
        }
    }
    let methods = (config.levels.len() + tools.len()) as u64;
    let mut rows = Vec::new();
    for input in inputs {
        let data = load(input, config.max_bytes).map_err(|e| FileError::new(&input.name, e))?;
        progress.file_started(&input.name, methods);
        let mut index = 0;
        for &level in &config.levels {
            let method = format!("nacz -{level}");
            progress.method_started(index, &method);
            index += 1;
            let measured = measure_nacz(&data, config, level).map_err(|e| FileError::new(&input.name, e))?;
            rows.push(Measurement {
                file: input.name.clone(),
                method,
                ..measured
            });
        }
        for (tool, path) in &tools {
            let method = tool.label();
            progress.method_started(index, &method);
            index += 1;
            let measured = measure_tool(&data, tool, path).map_err(|e| FileError::new(&input.name, e))?;
            rows.push(Measurement {
                file: input.name.clone(),
                method,
                ..measured
            });
        }
        progress.file_done();
    }
    let totals = totals(&rows);
    Ok(Report {
        rows,
        totals,
        not_installed,
    })
}

/// The file's bytes (the first `max_bytes` of them), after checking a corpus file against its manifest sha256.
fn load(input: &Input, max_bytes: Option<u64>) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    match &input.sha256 {
        Some(expected) => {
            File::open(&input.path)?.read_to_end(&mut data)?;
            let found = model::hex(&Sha256::digest(&data));
            if found != *expected {
                return Err(Error::Corpus(format!(
                    "sha256 {found} differs from the manifest's {expected}: fetch the corpus again with \
                     `corpus/fetch.sh`"
                )));
            }
            if let Some(max) = max_bytes {
                data.truncate(usize::try_from(max).unwrap_or(usize::MAX));
            }
        }
        None => {
            File::open(&input.path)?
                .take(max_bytes.unwrap_or(u64::MAX))
                .read_to_end(&mut data)?;
        }
    }
    Ok(data)
}

/// Where two byte strings first differ, if they do.
fn first_difference(expected: &[u8], found: &[u8]) -> Option<u64> {
    let common = expected.iter().zip(found).position(|(a, b)| a != b);
    match common {
        Some(offset) => Some(offset as u64),
        None => (expected.len() != found.len()).then(|| expected.len().min(found.len()) as u64),
    }
}

fn check_round_trip(method: &str, expected: &[u8], found: &[u8]) -> Result<(), Error> {
    match first_difference(expected, found) {
        None => Ok(()),
        Some(offset) => Err(Error::RoundTrip {
            method: method.to_string(),
            offset,
            expected: expected.len() as u64,
            found: found.len() as u64,
        }),
    }
}

/// One nacz level on one file; the file and method names are the caller's to fill in.
fn measure_nacz(data: &[u8], config: &BenchConfig, level: u8) -> Result<Measurement, Error> {
    let mut packed = Vec::new();
    let start = Instant::now();
    let totals = compress(data, &mut packed, config.options(level))?;
    let compress_secs = start.elapsed().as_secs_f64();
    let mut unpacked = Vec::with_capacity(data.len());
    let start = Instant::now();
    decompress(&packed[..], &mut unpacked, config.options(level))?;
    let decompress_secs = start.elapsed().as_secs_f64();
    check_round_trip(&format!("nacz -{level}"), data, &unpacked)?;
    Ok(Measurement {
        file: String::new(),
        method: String::new(),
        bytes: data.len() as u64,
        compressed: packed.len() as u64,
        compress_secs,
        decompress_secs,
        tokens: Some(totals.tokens),
    })
}

/// One classical tool on one file, both directions through pipes; the input is staged in a temporary file first
/// so the timing covers the tool (and its process start), not our writing to it.
fn measure_tool(data: &[u8], tool: &Tool, program: &Path) -> Result<Measurement, Error> {
    let label = tool.label();
    let (packed, compress_secs) = run_tool(&label, program, &tool.compress_args(), data)?;
    let (unpacked, decompress_secs) = run_tool(&label, program, &tool.decompress_args(), &packed)?;
    check_round_trip(&label, data, &unpacked)?;
    Ok(Measurement {
        file: String::new(),
        method: String::new(),
        bytes: data.len() as u64,
        compressed: packed.len() as u64,
        compress_secs,
        decompress_secs,
        tokens: None,
    })
}

fn run_tool(label: &str, program: &Path, args: &[&str], input: &[u8]) -> Result<(Vec<u8>, f64), Error> {
    let mut staged = tempfile::tempfile()?;
    staged.write_all(input)?;
    std::io::Seek::rewind(&mut staged)?;
    let start = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::from(staged))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    let secs = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(Error::Tool {
            tool: format!("{label} ({})", args.join(" ")),
            detail: format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    Ok((output.stdout, secs))
}

/// One row per method, in the order methods first appear: sums of bytes and seconds over all files.
fn totals(rows: &[Measurement]) -> Vec<Measurement> {
    let mut totals: Vec<Measurement> = Vec::new();
    for row in rows {
        match totals.iter_mut().find(|t| t.method == row.method) {
            Some(total) => {
                total.bytes += row.bytes;
                total.compressed += row.compressed;
                total.compress_secs += row.compress_secs;
                total.decompress_secs += row.decompress_secs;
                total.tokens = total.tokens.zip(row.tokens).map(|(a, b)| a + b);
            }
            None => totals.push(Measurement {
                file: TOTAL.to_string(),
                ..row.clone()
            }),
        }
    }
    totals
}

/// How the report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    Csv,
}

/// "12.3 MB/s" (decimal units, as compression benchmarks quote them).
pub fn human_rate(per_sec: f64, unit: &str) -> String {
    let prefixes = ["", "k", "M", "G", "T"];
    let mut value = per_sec;
    let mut prefix = 0;
    while value >= 1000.0 && prefix + 1 < prefixes.len() {
        value /= 1000.0;
        prefix += 1;
    }
    let digits = if value >= 100.0 || prefix == 0 || value.fract() == 0.0 {
        0
    } else {
        1
    };
    format!("{value:.digits$} {}{unit}/s", prefixes[prefix])
}

/// The CSV/JSON columns, in order.
const COLUMNS: [&str; 13] = [
    "file",
    "method",
    "bytes",
    "compressed_bytes",
    "bits_per_byte",
    "compress_seconds",
    "compress_bytes_per_second",
    "decompress_seconds",
    "decompress_bytes_per_second",
    "tokens",
    "compress_tokens_per_second",
    "decompress_tokens_per_second",
    "round_trip",
];

/// A value of a row, typed for JSON.
enum Value {
    Text(String),
    Int(u64),
    Real(Option<f64>),
}

/// What every row says in the round-trip column: a row exists only when its round trip was byte-exact.
const ROUND_TRIP_OK: &str = "ok";

impl Measurement {
    /// The row's values in [`COLUMNS`] order.
    fn values(&self) -> [Value; 13] {
        [
            Value::Text(self.file.clone()),
            Value::Text(self.method.clone()),
            Value::Int(self.bytes),
            Value::Int(self.compressed),
            Value::Real(self.bits_per_byte()),
            Value::Real(Some(self.compress_secs)),
            Value::Real(self.compress_speed()),
            Value::Real(Some(self.decompress_secs)),
            Value::Real(self.decompress_speed()),
            self.tokens.map_or(Value::Real(None), Value::Int),
            Value::Real(self.compress_tokens_per_sec()),
            Value::Real(self.decompress_tokens_per_sec()),
            Value::Text(ROUND_TRIP_OK.into()),
        ]
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite number as JSON/CSV write it (Rust's shortest round-tripping form never uses an exponent).
fn real(value: Option<f64>) -> Option<String> {
    value.filter(|v| v.is_finite()).map(|v| v.to_string())
}

impl Report {
    /// Per-file rows, then the totals rows.
    fn all_rows(&self) -> impl Iterator<Item = &Measurement> {
        self.rows.iter().chain(&self.totals)
    }

    /// "not installed: brotli, xz", if any tool is missing.
    pub fn not_installed_note(&self) -> Option<String> {
        (!self.not_installed.is_empty()).then(|| format!("not installed: {}", self.not_installed.join(", ")))
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Markdown => self.markdown(),
            Format::Json => self.json(),
            Format::Csv => self.csv(),
        }
    }

    /// A markdown table, then the note on missing tools.
    pub fn markdown(&self) -> String {
        let dash = || "-".to_string();
        let rate = |v: Option<f64>| v.map_or_else(dash, |v| human_rate(v, "B"));
        let tokens_rate = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.0}"));
        let mut out = String::from(
            "| file | method | bytes | compressed | bits/byte | compress s | compress speed | decompress s | \
             decompress speed | tokens | compress tok/s | decompress tok/s | round trip |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for row in self.all_rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.3} | {} | {:.3} | {} | {} | {} | {} | {ROUND_TRIP_OK} |",
                row.file.replace('|', "\\|"),
                row.method,
                row.bytes,
                row.compressed,
                row.bits_per_byte().map_or_else(dash, |v| format!("{v:.3}")),
                row.compress_secs,
                rate(row.compress_speed()),
                row.decompress_secs,
                rate(row.decompress_speed()),
                row.tokens.map_or_else(dash, |t| t.to_string()),
                tokens_rate(row.compress_tokens_per_sec()),
                tokens_rate(row.decompress_tokens_per_sec()),
            );
        }
        if let Some(note) = self.not_installed_note() {
            let _ = write!(out, "\n{note}\n");
        }
        out
    }

    /// CSV with a header line; totals rows have the file `total`. Missing tools are not in it (see
    /// [`Report::not_installed_note`]), so it stays one table.
    pub fn csv(&self) -> String {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for row in self.all_rows() {
            let fields: Vec<String> = row
                .values()
                .into_iter()
                .map(|value| match value {
                    Value::Text(text) => csv_field(&text),
                    Value::Int(n) => n.to_string(),
                    Value::Real(v) => real(v).unwrap_or_default(),
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }

    /// `{"rows": [...], "totals": [...], "not_installed": [...]}`, each row an object keyed by column name;
    /// values that do not exist (a tool's tokens, a speed over zero seconds) are null.
    pub fn json(&self) -> String {
        let object = |row: &Measurement| {
            let fields: Vec<String> = COLUMNS
                .iter()
                .zip(row.values())
                .map(|(name, value)| {
                    let value = match value {
                        Value::Text(text) => json_string(&text),
                        Value::Int(n) => n.to_string(),
                        Value::Real(v) => real(v).unwrap_or_else(|| "null".into()),
                    };
                    format!("{}: {value}", json_string(name))
                })
                .collect();
            format!("    {{{}}}", fields.join(", "))
        };
        let list = |rows: &[Measurement]| rows.iter().map(object).collect::<Vec<_>>().join(",\n");
        let missing: Vec<String> = self.not_installed.iter().map(|t| json_string(t)).collect();
        format!(
            "{{\n  \"rows\": [\n{}\n  ],\n  \"totals\": [\n{}\n  ],\n  \"not_installed\": [{}]\n}}\n",
            list(&self.rows),
            list(&self.totals),
            missing.join(", ")
        )
    }

    /// An SVG plot of bits per byte (y) against compression speed (x, log scale) over all files: the nacz levels
    /// joined by a line, each classical tool a point, every point labeled.
    pub fn svg(&self) -> String {
        let points: Vec<(&Measurement, f64, f64)> = self
            .totals
            .iter()
            .filter_map(|t| Some((t, t.compress_speed()?, t.bits_per_byte()?)))
            .collect();
        plot(&points)
    }
}

/// A log10 axis over whole decades, mapping values to pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogScale {
    pub first_decade: i32,
    pub last_decade: i32,
    pub from_px: f64,
    pub to_px: f64,
}

impl LogScale {
    /// The decades around `min..=max` (positive values), at least one decade wide.
    pub fn new(min: f64, max: f64, from_px: f64, to_px: f64) -> Self {
        let first_decade = min.log10().floor() as i32;
        let last_decade = (max.log10().ceil() as i32).max(first_decade + 1);
        Self {
            first_decade,
            last_decade,
            from_px,
            to_px,
        }
    }

    pub fn px(&self, value: f64) -> f64 {
        let span = f64::from(self.last_decade - self.first_decade);
        self.from_px + (value.log10() - f64::from(self.first_decade)) / span * (self.to_px - self.from_px)
    }

    /// 10^k for every decade, first to last.
    pub fn ticks(&self) -> Vec<f64> {
        (self.first_decade..=self.last_decade).map(|k| 10f64.powi(k)).collect()
    }
}

/// A linear axis from 0 to a round number at or above the largest value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScale {
    pub step: f64,
    pub max: f64,
    pub from_px: f64,
    pub to_px: f64,
}

impl LinearScale {
    /// Steps of 1, 2 or 5 × 10^k, at most about 6 of them up to `max`.
    pub fn new(max: f64, from_px: f64, to_px: f64) -> Self {
        let max = if max > 0.0 { max } else { 1.0 };
        let raw = max / 6.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|&s| s >= raw)
            .unwrap_or(10.0 * magnitude);
        Self {
            step,
            max: (max / step).ceil() * step,
            from_px,
            to_px,
        }
    }

    pub fn px(&self, value: f64) -> f64 {
        self.from_px + value / self.max * (self.to_px - self.from_px)
    }

    /// 0, step, 2·step … max.
    pub fn ticks(&self) -> Vec<f64> {
        let n = (self.max / self.step).round() as u32;
        (0..=n).map(|i| f64::from(i) * self.step).collect()
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
/// Room for the labels of the fastest points.
const RIGHT: f64 = 110.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// The plot of `(measurement, bytes/s, bits per byte)` points.
fn plot(points: &[(&Measurement, f64, f64)]) -> String {
    let speeds = points.iter().map(|p| p.1);
    let min_speed = speeds.clone().fold(f64::INFINITY, f64::min);
    let max_speed = speeds.fold(0.0, f64::max);
    let (min_speed, max_speed) = if points.is_empty() {
        (1.0, 10.0)
    } else {
        (min_speed, max_speed)
    };
    let x = LogScale::new(min_speed, max_speed, LEFT, WIDTH - RIGHT);
    let y = LinearScale::new(points.iter().map(|p| p.2).fold(0.0, f64::max), HEIGHT - BOTTOM, TOP);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text class=\"title\" x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">\
         Bits per byte against compression speed (all files)</text>\n",
        WIDTH / 2.0
    );
    // Grid lines and ticks.
    for tick in x.ticks() {
        let px = x.px(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n\
             <text class=\"tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            human_rate(tick, "B")
        );
    }
    for tick in y.ticks() {
        let py = y.px(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\n\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            tick_label(tick, y.step)
        );
    }
    let _ = writeln!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"black\"/>\n\
         <text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
         compression speed (input bytes/s, log scale)</text>\n\
         <text class=\"axis-title\" x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" \
         transform=\"rotate(-90 18 {:.1})\">bits per byte</text>",
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 16.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
    );
    // The nacz levels form one speed/size curve.
    let is_nacz = |m: &Measurement| m.tokens.is_some();
    let curve: Vec<String> = points
        .iter()
        .filter(|p| is_nacz(p.0))
        .map(|p| format!("{:.1},{:.1}", x.px(p.1), y.px(p.2)))
        .collect();
    if curve.len() > 1 {
        let _ = writeln!(
            svg,
            "<polyline class=\"levels\" points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>",
            curve.join(" ")
        );
    }
    for (measurement, speed, bpb) in points {
        let (px, py) = (x.px(*speed), y.px(*bpb));
        let color = if is_nacz(measurement) { "#1f77b4" } else { "#d62728" };
        let _ = writeln!(
            svg,
            "<circle class=\"point\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{color}\"/>\n\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{} ({bpb:.3})</text>",
            px + 7.0,
            py - 6.0,
            xml_escape(&measurement.method)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A y tick with as many decimals as the step needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(file: &str, method: &str, bytes: u64, compressed: u64, tokens: Option<u64>) -> Measurement {
        Measurement {
            file: file.into(),
            method: method.into(),
            bytes,
            compressed,
            compress_secs: 0.5,
            decompress_secs: 0.25,
            tokens,
        }
    }

    fn report() -> Report {
        let rows = vec![
            row("a.txt", "nacz -6", 1000, 250, Some(400)),
            row("a.txt", "gzip -9", 1000, 400, None),
            row("b, \"c\".txt", "nacz -6", 3000, 500, Some(1000)),
            row("b, \"c\".txt", "gzip -9", 3000, 900, None),
        ];
        Report {
            totals: totals(&rows),
            rows,
            not_installed: vec!["brotli".into()],
        }
    }

    #[test]
    fn totals_sum_bytes_and_seconds_per_method() {
        let totals = report().totals;
        assert_eq!(totals.len(), 2);
        let nacz = &totals[0];
        assert_eq!((nacz.file.as_str(), nacz.method.as_str()), (TOTAL, "nacz -6"));
        assert_eq!((nacz.bytes, nacz.compressed, nacz.tokens), (4000, 750, Some(1400)));
        assert_eq!(nacz.bits_per_byte(), Some(1.5));
        assert_eq!(nacz.compress_speed(), Some(4000.0));
        assert_eq!(nacz.decompress_tokens_per_sec(), Some(2800.0));
        assert_eq!(totals[1].tokens, None);
        assert_eq!(totals[1].compress_tokens_per_sec(), None);
    }

    #[test]
    fn markdown_has_a_row_per_file_and_method_then_totals_and_missing_tools() {
        let md = report().markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert!(lines[0].starts_with("| file | method | bytes |"), "{md}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("| ")).count(), 1 + 4 + 2);
        assert!(
            md.contains(
                "| a.txt | nacz -6 | 1000 | 250 | 2.000 | 0.500 | 2 kB/s | 0.250 | 4 kB/s | 400 | 800 | 1600 | ok |"
            ),
            "{md}"
        );
        assert!(md.contains("| total | gzip -9 | 4000 | 1300 | 2.600 |"), "{md}");
        assert!(md.contains("| gzip -9 | 1000 | 400 | 3.200 | 0.500 | 2 kB/s | 0.250 | 4 kB/s | - | - | - | ok |"));
        assert!(md.ends_with("\nnot installed: brotli\n"), "{md}");
    }

    #[test]
    fn csv_quotes_fields_and_leaves_missing_values_empty() {
        let csv = report().csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(lines.len(), 1 + 4 + 2);
        assert_eq!(lines[1], "a.txt,nacz -6,1000,250,2,0.5,2000,0.25,4000,400,800,1600,ok");
        assert_eq!(
            lines[4],
            "\"b, \"\"c\"\".txt\",gzip -9,3000,900,2.4,0.5,6000,0.25,12000,,,,ok"
        );
        assert!(
            lines[6].starts_with("total,gzip -9,4000,1300,2.6,1,4000,"),
            "{}",
            lines[6]
        );
    }

    #[test]
    fn json_escapes_strings_and_writes_null_for_missing_values() {
        let json = report().json();
        assert!(
            json.starts_with("{\n  \"rows\": [\n    {\"file\": \"a.txt\", \"method\": \"nacz -6\", \"bytes\": 1000,")
        );
        assert!(json.contains("\"file\": \"b, \\\"c\\\".txt\""), "{json}");
        assert!(
            json.contains("\"tokens\": null, \"compress_tokens_per_second\": null"),
            "{json}"
        );
        assert!(
            json.contains("\"totals\": [\n    {\"file\": \"total\", \"method\": \"nacz -6\""),
            "{json}"
        );
        assert!(json.contains("\"round_trip\": \"ok\""));
        assert!(json.ends_with("\"not_installed\": [\"brotli\"]\n}\n"), "{json}");
        assert_eq!(json_string("a\u{1}\\\n"), "\"a\\u0001\\\\\\n\"");
    }

    #[test]
    fn log_scale_spans_whole_decades() {
        let x = LogScale::new(2_500.0, 3.0e6, 0.0, 400.0);
        assert_eq!((x.first_decade, x.last_decade), (3, 7));
        assert_eq!(x.px(1e3), 0.0);
        assert_eq!(x.px(1e5), 200.0);
        assert!((x.px(1e7) - 400.0).abs() < 1e-9);
        assert_eq!(x.ticks(), vec![1e3, 1e4, 1e5, 1e6, 1e7]);
        let one = LogScale::new(1000.0, 1000.0, 0.0, 100.0);
        assert_eq!(
            (one.first_decade, one.last_decade),
            (3, 4),
            "one value still gets a decade"
        );
    }

    #[test]
    fn linear_scale_uses_round_steps_from_zero() {
        let y = LinearScale::new(2.7, 400.0, 40.0);
        assert_eq!((y.step, y.max), (0.5, 3.0));
        assert_eq!(y.ticks(), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
        assert_eq!(y.px(0.0), 400.0);
        assert_eq!(y.px(3.0), 40.0);
        assert_eq!(tick_label(1.5, y.step), "1.5");
        assert_eq!(LinearScale::new(7.9, 0.0, 1.0).step, 2.0);
    }

    #[test]
    fn plot_labels_every_method_and_escapes_them() {
        let mut report = report();
        report.totals[1].method = "a<b&c".into();
        let svg = report.svg();
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 2);
        assert!(svg.contains(">nacz -6 (1.500)</text>"), "{svg}");
        assert!(svg.contains(">a&lt;b&amp;c (2.600)</text>"), "{svg}");
        assert!(
            svg.contains(">1 kB/s</text>") && svg.contains(">10 kB/s</text>"),
            "{svg}"
        );
    }

    #[test]
    fn rates_use_decimal_prefixes() {
        assert_eq!(human_rate(950.0, "B"), "950 B/s");
        assert_eq!(human_rate(1234.0, "B"), "1.2 kB/s");
        assert_eq!(human_rate(1e4, "B"), "10 kB/s");
        assert_eq!(human_rate(123_456_789.0, "B"), "123 MB/s");
    }

    #[test]
    fn corpora_resolve_from_the_manifest() {
        let dirs = [PathBuf::from("/nonexistent")];
        let err = corpus_inputs("canterbury-text", &dirs).unwrap_err();
        assert!(matches!(err.source, Error::Corpus(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("corpus canterbury-text: not found in /nonexistent:"),
            "{err}"
        );
        assert!(corpus_inputs("nope", &dirs).is_err());
        assert_eq!(corpus_dirs(Some(Path::new("x"))), [PathBuf::from("x")]);
        let names = |set: &str| -> Vec<String> {
            CORPUS_MANIFEST
                .lines()
                .filter(|l| l.starts_with(&format!("{set}\t")))
                .map(|l| l.split('\t').nth(1).unwrap().to_string())
                .collect()
        };
        for file in CANTERBURY_TEXT {
            assert!(names("canterbury").iter().any(|n| n == file), "{file}");
        }
        assert_eq!(names("enwik"), ["enwik6"]);
    }

    #[test]
    fn first_difference_finds_changes_and_length_mismatches() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
    }
}
