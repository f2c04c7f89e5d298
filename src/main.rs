//! The `nacz` command line: gzip/zstd-style compress, decompress, test and info over files and pipes.
//!
//! Output is written to a temporary file beside the target, synced and renamed into place, so an error or a full
//! disk never leaves a partial output; sources are removed only with `--rm` and only after that.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nacz::codec::{predictor_set, CompressSettings, Engine, ModelLoader, Progress, DEFAULT_PREDICTORS};
use nacz::container::{FrameBody, FrameRef};
use nacz::stream::{self, FRAME_BYTES};
use nacz::{model, Error};
use nacz_predictors::{FakeLm, LanguageModel, MixerKind, PredictorConfig, SessionConfig};

const SUFFIX: &str = ".nacz";

#[derive(Parser)]
#[command(
    name = "nacz",
    version,
    about = "Neural lossless compression: a small language model predicts every token"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Args, Clone)]
struct Global {
    /// Model: a manifest name (smollm2-135m) or a GGUF path. Default: $NACZ_MODEL, then smollm2-135m.
    #[arg(long, global = true)]
    model: Option<String>,
    /// Inference threads (default: as many cores as other processes leave idle, followed as the load changes).
    /// Output bytes do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Most memory one frame may need to compress or decode, e.g. 8G or 512M (default 4G). A file that needs more
    /// is refused before anything is allocated for it.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// No progress or summary on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Args, Clone)]
struct Output {
    /// Write to standard output.
    #[arg(short = 'c', long = "stdout")]
    stdout: bool,
    /// Output file (one input only).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(short, long)]
    force: bool,
    /// Keep source files (the default).
    #[arg(short, long, conflicts_with = "rm")]
    keep: bool,
    /// Remove each source file after its output is complete.
    #[arg(long)]
    rm: bool,
}

/// The online predictors mixed with the LM.
#[derive(Args, Clone)]
struct PredictorArgs {
    /// Predictors mixed with the LM: `all`, or `lm` joined by `+` with any of ngram, match, bias, apm, skip.
    #[arg(long, default_value = "all")]
    predictors: String,
    /// How predictions are mixed: `context` (learned weights per context), `multi` (weights summed from several
    /// context-selected sets) or `nacrith` (the baseline).
    #[arg(long, value_enum, default_value_t = MixerArg::Multi)]
    mixer: MixerArg,
    /// Highest token n-gram order.
    #[arg(long, hide = true)]
    ngram_order: Option<u8>,
    /// log2 of the n-gram table's buckets (48 bytes each).
    #[arg(long, hide = true)]
    ngram_bits: Option<u8>,
    /// Tokens of context the match model looks up.
    #[arg(long, hide = true)]
    match_min: Option<u8>,
    /// Bias head learning rate in 2^-16.
    #[arg(long, hide = true)]
    bias_rate: Option<u16>,
    /// Mixer learning rate in 2^-16.
    #[arg(long, hide = true)]
    mixer_rate: Option<u16>,
    /// Skip the LM where the match model's miss rate is at most this, in 2^-16.
    #[arg(long, hide = true)]
    skip_rate: Option<u16>,
    /// Give each lane its own predictor state instead of one shared by all lanes.
    #[arg(long, hide = true)]
    no_share: bool,
    /// Feed every skipped token to the LM instead of leaving long skipped runs out of its context.
    #[arg(long, hide = true)]
    no_skip_gap: bool,
    /// Learning rate of the final adaptive probability map in 2^-16.
    #[arg(long, hide = true)]
    apm_rate: Option<u16>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AttentionArg {
    Plain,
    Flash,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum MixerArg {
    Context,
    Multi,
    Nacrith,
}

impl PredictorArgs {
    fn config(&self) -> Result<PredictorConfig, Error> {
        let mut base = DEFAULT_PREDICTORS;
        match self.mixer {
            MixerArg::Context => base.mixer = MixerKind::Context,
            MixerArg::Multi => base.mixer = MixerKind::MultiContext,
            MixerArg::Nacrith => {
                // Nacrith's own rate (0.5); its mixer has no match-length context, so no skip either.
                base.mixer = MixerKind::Nacrith;
                base.mixer_rate = 1 << 15;
                base.skip_miss_rate = 0;
                base.apm_rate = 0;
            }
        }
        base.ngram_order = self.ngram_order.unwrap_or(base.ngram_order);
        base.ngram_table_bits = self.ngram_bits.unwrap_or(base.ngram_table_bits);
        base.match_min_len = self.match_min.unwrap_or(base.match_min_len);
        base.bias_rate = self.bias_rate.unwrap_or(base.bias_rate);
        base.mixer_rate = self.mixer_rate.unwrap_or(base.mixer_rate);
        base.skip_miss_rate = self.skip_rate.unwrap_or(base.skip_miss_rate);
        base.share_lanes = !self.no_share;
        base.skip_gap = !self.no_skip_gap;
        base.apm_rate = self.apm_rate.unwrap_or(base.apm_rate);
        predictor_set(&self.predictors, base)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compress FILEs to FILE.nacz (no FILE or `-`: stdin to stdout).
    Compress {
        files: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
        /// Chunks coded in lockstep (more: faster on multi-core CPUs, slightly larger output).
        #[arg(long, default_value_t = DEFAULT_LANES)]
        lanes: u32,
        /// Tokens of context the model sees.
        #[arg(long, default_value_t = DEFAULT_WINDOW)]
        window: u32,
        /// Tokens dropped from a full window at once (default: 1/16 of the window).
        #[arg(long)]
        slide: Option<u32>,
        /// Tokens at the start of each lane that stay in its window (attention sinks).
        #[arg(long, default_value_t = SINK_TOKENS)]
        sink: u32,
        /// Fewest tokens a lane's chunk gets: short inputs use fewer lanes, paying for fewer cold starts.
        #[arg(long, default_value_t = MIN_CHUNK_TOKENS)]
        min_chunk_tokens: u32,
        /// Keep the model's keys and values as q8_0 instead of f16 (needs flash attention).
        #[arg(long)]
        kv_q8: bool,
        /// Attention kernel: `plain` (the default: faster on CPU for batched lanes) or `flash`.
        #[arg(long, value_enum, default_value_t = AttentionArg::Plain)]
        attention: AttentionArg,
        /// Input bytes per frame.
        #[arg(long, default_value_t = FRAME_BYTES, hide = true)]
        frame_bytes: usize,
        /// Never code a frame with the byte model: binary frames are stored, text frames always use the LM.
        #[arg(long, hide = true)]
        no_byte_model: bool,
        #[command(flatten)]
        predictors: PredictorArgs,
    },
    /// Decompress FILE.nacz to FILE (no FILE or `-`: stdin to stdout).
    Decompress {
        files: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Decode and verify FILEs, writing nothing.
    Test {
        files: Vec<PathBuf>,
        /// Only check the container's checksums (milliseconds, no model needed).
        #[arg(long)]
        quick: bool,
    },
    /// Show what a compressed file holds.
    Info { files: Vec<PathBuf> },
}

const DEFAULT_LANES: u32 = 8;
const DEFAULT_WINDOW: u32 = 4096;
/// A lane's chunk is at least this long, so short inputs use few lanes and pay for few cold starts.
const MIN_CHUNK_TOKENS: u32 = 8192;
/// Tokens at the start of each lane kept in its window for good (attention sinks).
const SINK_TOKENS: u32 = 4;

/// The temporary output file being written, if any: removed when a signal ends the process, so an interrupted
/// run leaves neither a partial output nor a temporary file behind.
static PENDING_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Ctrl-C, SIGTERM and SIGHUP remove the pending temporary file, then end the process (status 130, as a shell
/// reports an interrupt).
fn remove_pending_output_on_signal() {
    // Failing to install the handler costs only the cleanup; compression itself is unaffected.
    let _ = ctrlc::set_handler(|| {
        let pending = PENDING_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = pending.as_ref() {
            let _ = fs::remove_file(path);
        }
        std::process::exit(130);
    });
}

fn main() -> ExitCode {
    remove_pending_output_on_signal();
    let cli = Cli::parse();
    let global = cli.global.clone();
    let mut failed = false;
    let mut report = |path: &str, result: Result<(), Error>| {
        if let Err(e) = result {
            if !is_broken_pipe(&e) {
                eprintln!("nacz: {path}: {e}");
                failed = true;
            }
        }
    };
    match cli.command {
        Command::Compress {
            files,
            output,
            lanes,
            window,
            slide,
            sink,
            min_chunk_tokens,
            kv_q8,
            attention,
            frame_bytes,
            no_byte_model,
            predictors,
        } => {
            let predictors = match predictors.config() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("nacz: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut settings = CompressSettings::new(
                SessionConfig {
                    lanes,
                    window,
                    slide: slide.unwrap_or(window / 16),
                    sink,
                    flash_attention: matches!(attention, AttentionArg::Flash),
                    kv_q8,
                    max_feed: 1,
                },
                predictors,
                min_chunk_tokens,
            );
            settings.byte_model = !no_byte_model;
            if let Err(e) = check_settings(&settings, frame_bytes) {
                eprintln!("nacz: {e}");
                return ExitCode::FAILURE;
            }
            let mut engine = engine(&global);
            for (name, input) in inputs(&files) {
                let r = compress_one(
                    &mut engine,
                    &settings,
                    frame_bytes,
                    &input,
                    &output,
                    &global,
                    files.len(),
                );
                report(&name, r);
            }
        }
        Command::Decompress { files, output } => {
            let mut engine = engine(&global);
            for (name, input) in inputs(&files) {
                report(
                    &name,
                    decompress_one(&mut engine, &input, &output, &global, files.len()),
                );
            }
        }
        Command::Test { files, quick } => {
            let mut engine = engine(&global);
            for (name, input) in inputs(&files) {
                report(&name, test_one(&mut engine, &input, quick, &global));
            }
        }
        Command::Info { files } => {
            for (name, input) in inputs(&files) {
                report(&name, info_one(&input));
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Settings the container or llama.cpp would refuse, caught before any work.
fn check_settings(settings: &CompressSettings, frame_bytes: usize) -> Result<(), Error> {
    let session = &settings.session;
    session.validate()?;
    settings.predictors.validate(session.lanes)?;
    if !session.window.is_multiple_of(nacz_predictors::CONTEXT_PAD) {
        return Err(Error::Usage(format!(
            "--window must be a multiple of {}",
            nacz_predictors::CONTEXT_PAD
        )));
    }
    if session.kv_q8 && !session.flash_attention {
        // llama.cpp quantizes the V cache only with its flash-attention kernels.
        return Err(Error::Usage("--kv-q8 needs --attention flash".into()));
    }
    if session.lanes as usize > nacz::container::MAX_CHUNKS {
        return Err(Error::Usage(format!(
            "--lanes must be at most {}",
            nacz::container::MAX_CHUNKS
        )));
    }
    if frame_bytes == 0 || frame_bytes as u64 > nacz::container::MAX_FRAME_CONTENT {
        return Err(Error::Usage(format!(
            "--frame-bytes must be 1..={}",
            nacz::container::MAX_FRAME_CONTENT
        )));
    }
    Ok(())
}

/// A byte count with an optional binary suffix: 4G, 512M, 64K or plain bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&text[..text.len() - 1], 10),
        Some(b'M') => (&text[..text.len() - 1], 20),
        Some(b'G') => (&text[..text.len() - 1], 30),
        Some(b'T') => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size such as 4G, 512M or 65536"))
}

/// An engine with the user's memory limit.
fn engine(global: &Global) -> Engine {
    let mut engine = Engine::new(loader(global));
    if let Some(limit) = global.memory_limit {
        engine.set_memory_limit(limit);
    }
    engine
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

/// None stands for stdin.
fn inputs(files: &[PathBuf]) -> Vec<(String, Option<PathBuf>)> {
    if files.is_empty() {
        return vec![("(stdin)".into(), None)];
    }
    files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                ("(stdin)".into(), None)
            } else {
                (f.display().to_string(), Some(f.clone()))
            }
        })
        .collect()
}

fn loader(global: &Global) -> ModelLoader {
    let model_arg = global.model.clone();
    let threads = global.threads;
    let verbose = global.verbose;
    Box::new(
        move |wanted: Option<&[u8; 4]>| -> Result<Box<dyn LanguageModel>, Error> {
            let lm: Box<dyn LanguageModel> = if model_arg.as_deref() == Some("@fake") {
                // A deterministic stand-in for tests without weights.
                Box::new(FakeLm::new())
            } else {
                load_for(model_arg.as_deref(), wanted, threads, verbose)?
            };
            // Developer aids for tuning the predictors (see CONTRIBUTING.md): record the model's predictions
            // once, replay them in later runs over the same input and lanes.
            if let Some(path) = std::env::var_os("NACZ_LM_RECORD") {
                return Ok(Box::new(nacz_predictors::Recorder::new(lm, Path::new(&path))?));
            }
            if let Some(path) = std::env::var_os("NACZ_LM_REPLAY") {
                return Ok(Box::new(nacz_predictors::Replayer::new(lm, Path::new(&path))?));
            }
            Ok(lm)
        },
    )
}

/// Finds and loads the model: `--model`, `NACZ_MODEL`, or on decode the manifest model the file names.
fn load_for(
    model_arg: Option<&str>,
    wanted: Option<&[u8; 4]>,
    threads: Option<usize>,
    verbose: bool,
) -> Result<Box<dyn LanguageModel>, Error> {
    let explicit = model_arg
        .map(str::to_string)
        .or_else(|| std::env::var("NACZ_MODEL").ok());
    // Decoding without an explicit model: take the manifest model the file names.
    let named = match (explicit.is_none(), wanted) {
        (true, Some(id)) => model::entry_for_model_id(id).map(|e| e.name),
        _ => None,
    };
    let path = model::resolve(explicit.as_deref().or(named.as_deref()))?;
    load_model(&path, threads, verbose)
}

#[cfg(feature = "llama")]
fn load_model(path: &Path, threads: Option<usize>, verbose: bool) -> Result<Box<dyn LanguageModel>, Error> {
    use nacz_predictors::Threads;
    check_cpu()?;
    let start = Instant::now();
    let fingerprint = model::fingerprint(path)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (policy, described) = match threads {
        Some(n) => (Threads::Fixed(n), format!("{n} threads")),
        None => (
            Threads::follow_load(cores),
            format!("up to {cores} threads, as the load allows"),
        ),
    };
    let lm = nacz_predictors::LlamaLm::load(path, fingerprint, policy)?;
    if verbose {
        eprintln!(
            "nacz: model {} (sha256 {}) loaded in {:.2} s, {described}",
            path.display(),
            model::hex(&fingerprint),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Box::new(lm))
}

#[cfg(not(feature = "llama"))]
fn load_model(_: &Path, _: Option<usize>, _: bool) -> Result<Box<dyn LanguageModel>, Error> {
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

/// Where an output goes.
enum Target {
    Stdout,
    File(PathBuf),
}

fn target_for(input: &Option<PathBuf>, output: &Output, n_inputs: usize, compress: bool) -> Result<Target, Error> {
    if output.stdout {
        return Ok(Target::Stdout);
    }
    if let Some(out) = &output.output {
        if n_inputs > 1 {
            return Err(Error::Usage("-o/--output takes one input file".into()));
        }
        return Ok(if out.as_os_str() == "-" {
            Target::Stdout
        } else {
            Target::File(out.clone())
        });
    }
    let Some(input) = input else {
        return Ok(Target::Stdout);
    };
    let name = input.as_os_str().to_string_lossy();
    if compress {
        if name.ends_with(SUFFIX) {
            return Err(Error::Usage(format!(
                "already has the {SUFFIX} suffix (use -f with -o to force)"
            )));
        }
        let mut out = input.clone().into_os_string();
        out.push(SUFFIX);
        Ok(Target::File(out.into()))
    } else {
        match name.strip_suffix(SUFFIX) {
            Some(stem) if !stem.is_empty() && !stem.ends_with('/') => Ok(Target::File(PathBuf::from(stem))),
            _ => Err(Error::Usage(format!(
                "unknown suffix: expected {SUFFIX} (or use -o / -c)"
            ))),
        }
    }
}

fn open_input(input: &Option<PathBuf>) -> Result<Box<dyn Read>, Error> {
    match input {
        None => Ok(Box::new(io::stdin().lock())),
        Some(path) => {
            if fs::metadata(path)?.is_dir() {
                return Err(Error::Usage("is a directory".into()));
            }
            Ok(Box::new(BufReader::with_capacity(1 << 16, File::open(path)?)))
        }
    }
}

/// Runs `write` into the target: stdout directly, a file through a synced temporary renamed into place.
fn write_target(
    target: &Target,
    force: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<(), Error>,
) -> Result<(), Error> {
    match target {
        Target::Stdout => {
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&mut out)?;
            out.flush()?;
            Ok(())
        }
        Target::File(path) => {
            if !force && fs::symlink_metadata(path).is_ok() {
                return Err(Error::Usage(format!(
                    "{} already exists (use -f to overwrite)",
                    path.display()
                )));
            }
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".nacz-")
                .suffix(".tmp")
                .tempfile_in(dir)?;
            let pending = |path: Option<PathBuf>| {
                *PENDING_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = path;
            };
            pending(Some(tmp.path().to_path_buf()));
            let mut out = BufWriter::with_capacity(1 << 16, tmp);
            let written = write(&mut out);
            let tmp = out.into_inner().map_err(|e| e.into_error());
            // From here on the temporary file is renamed or removed on drop, not by the signal handler.
            let lock = PENDING_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
            written?;
            let tmp = tmp?;
            tmp.as_file().sync_all()?;
            // Without -f the rename itself refuses an existing target, so a file created meanwhile survives.
            let persisted = if force {
                tmp.persist(path)
            } else {
                tmp.persist_noclobber(path)
            };
            drop(lock);
            pending(None);
            persisted.map_err(|e| match e.error.kind() {
                io::ErrorKind::AlreadyExists => {
                    Error::Usage(format!("{} already exists (use -f to overwrite)", path.display()))
                }
                _ => Error::Io(e.error),
            })?;
            if let Ok(dir) = File::open(dir) {
                // Make the rename itself durable; not all filesystems allow syncing a directory.
                let _ = dir.sync_all();
            }
            Ok(())
        }
    }
}

/// Removes the source after `--rm`, only once its output file is complete; output to stdout keeps it, as with gzip.
fn finish_source(input: &Option<PathBuf>, target: &Target, output: &Output) -> Result<(), Error> {
    if let (Some(path), Target::File(_), true) = (input, target, output.rm && !output.keep) {
        fs::remove_file(path)?;
    }
    Ok(())
}

fn compress_one(
    engine: &mut Engine,
    settings: &CompressSettings,
    frame_bytes: usize,
    input: &Option<PathBuf>,
    output: &Output,
    global: &Global,
    n_inputs: usize,
) -> Result<(), Error> {
    let target = target_for(input, output, n_inputs, true)?;
    if matches!(target, Target::Stdout) && io::stdout().is_terminal() && !output.force {
        return Err(Error::Usage(
            "refusing to write compressed data to a terminal (use -f to force)".into(),
        ));
    }
    let mut reader = open_input(input)?;
    let mut progress = Bar::new(global, "compress");
    let start = Instant::now();
    let mut totals = None;
    write_target(&target, output.force, |out| {
        totals = Some(stream::compress(
            engine,
            settings,
            frame_bytes.max(1),
            &mut reader,
            out,
            &mut progress,
        )?);
        Ok(())
    })?;
    progress.finish();
    let totals = totals.expect("set by a successful write");
    finish_source(input, &target, output)?;
    if global.verbose || (!global.quiet && io::stderr().is_terminal()) {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "nacz: {}: {} -> {} bytes ({:.3} bits/byte), {} tokens in {:.1} s ({:.0} tok/s), {} coded without the LM",
            input.as_ref().map_or("(stdin)".into(), |p| p.display().to_string()),
            totals.input_bytes,
            totals.output_bytes,
            8.0 * totals.output_bytes as f64 / totals.input_bytes.max(1) as f64,
            totals.tokens,
            secs,
            totals.tokens as f64 / secs.max(1e-9),
            totals.skipped
        );
    }
    Ok(())
}

fn decompress_one(
    engine: &mut Engine,
    input: &Option<PathBuf>,
    output: &Output,
    global: &Global,
    n_inputs: usize,
) -> Result<(), Error> {
    let target = target_for(input, output, n_inputs, false)?;
    let mut reader = open_input(input)?;
    let mut progress = Bar::new(global, "decompress");
    write_target(&target, output.force, |out| {
        stream::decompress(engine, &mut reader, Some(out), &mut progress)?;
        Ok(())
    })?;
    progress.finish();
    finish_source(input, &target, output)
}

fn test_one(engine: &mut Engine, input: &Option<PathBuf>, quick: bool, global: &Global) -> Result<(), Error> {
    let mut reader = open_input(input)?;
    if quick {
        stream::for_each_frame(&mut reader, |_, _| Ok(()))?;
    } else {
        let mut progress = Bar::new(global, "test");
        stream::decompress(engine, &mut reader, None, &mut progress)?;
        progress.finish();
    }
    if global.verbose {
        eprintln!(
            "nacz: {}: OK",
            input.as_ref().map_or("(stdin)".into(), |p| p.display().to_string())
        );
    }
    Ok(())
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn info_one(input: &Option<PathBuf>) -> Result<(), Error> {
    let reader = open_input(input)?;
    let mut reader = Counted {
        inner: reader,
        count: 0,
    };
    let name = input.as_ref().map_or("(stdin)".into(), |p| p.display().to_string());
    let mut lines = Vec::new();
    let mut original = 0u64;
    let mut tokens = 0u64;
    let mut versions = std::collections::BTreeSet::new();
    let frames =
        stream::for_each_frame(&mut reader, |index, frame: &FrameRef<'_>| {
            let h = &frame.header;
            versions.insert(h.version);
            original += h.content_len;
            match &h.body {
                FrameBody::Stored => lines.push(format!("  frame {index}: stored, {} bytes", h.content_len)),
                FrameBody::Bytes(p) => {
                    let c = &p.config;
                    lines.push(format!(
                        "  frame {index}: {} bytes, byte model, {} bytes coded\n    byte model: 2^{} hashed slots, \
                         2^{}-byte history, contexts {:#010x}, matches from {} and {} bytes, mixer rate {}, \
                         state limit {}, SSE rate {}",
                        h.content_len,
                        frame.payload.len(),
                        c.hash_bits,
                        c.history_bits,
                        c.contexts,
                        c.match_min,
                        c.long_match_min,
                        c.mixer_rate,
                        c.state_limit,
                        c.apm_rate
                    ))
                }
                FrameBody::Modeled(p) => {
                    let t: u64 = p.chunks.iter().map(|c| u64::from(c.tokens)).sum();
                    tokens += t;
                    let sc = &p.session;
                    lines.push(format!(
                    "  frame {index}: {} bytes, {t} tokens, {} chunks, {} bytes coded\n    model sha256 {}…{}\n    \
                     engine {:#06x}{}\n    lanes {}, window {}, slide {}, sink {}, flash attention {}, KV cache {}, \
                     {} tokens per lane and step, min chunk tokens {}, CDF {}-bit{}\n    predictors: {}",
                    h.content_len,
                    p.chunks.len(),
                    frame.payload.len(),
                    model::hex(&p.model_id),
                    model::describe_model_id(&p.model_id),
                    p.engine_id,
                    this_engine_note(p.engine_id),
                    sc.lanes,
                    sc.window,
                    sc.slide,
                    sc.sink,
                    if sc.flash_attention { "on" } else { "off" },
                    if sc.kv_q8 { "q8_0" } else { "f16" },
                    sc.max_feed,
                    p.min_chunk_tokens,
                    nacz::container::cdf_precision_bits(h.version),
                    if p.crlf { "\n    line breaks CRLF, modeled as LF" } else { "" },
                    describe_predictors(&p.predictors),
                ));
                }
            }
            Ok(())
        })?;
    let compressed = reader.count;
    let versions: Vec<String> = versions.iter().map(u8::to_string).collect();
    println!(
        "{name}: nacz format version {}, {frames} frame(s)",
        versions.join(" and ")
    );
    println!(
        "  original {original} bytes, compressed {compressed} bytes, ratio {:.3}, {:.4} bits/byte, {tokens} tokens",
        original as f64 / compressed.max(1) as f64,
        8.0 * compressed as f64 / original.max(1) as f64
    );
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// The predictor set and every parameter of it, as `nacz info` shows them.
fn describe_predictors(c: &PredictorConfig) -> String {
    if c.is_lm_only() {
        return "lm".into();
    }
    let rate = |r: u16| f32::from(r) / nacz_predictors::RATE_ONE;
    let mut parts = vec!["lm".to_string()];
    if c.ngram_order > 0 {
        parts.push(format!(
            "ngram(orders 1..{}, 2^{} buckets)",
            c.ngram_order, c.ngram_table_bits
        ));
    }
    if c.match_min_len > 0 {
        parts.push(format!(
            "match(min {} tokens, 2^{} entries)",
            c.match_min_len, c.match_table_bits
        ));
    }
    if c.bias_rate > 0 {
        parts.push(format!("bias(rate {})", rate(c.bias_rate)));
    }
    if c.apm_rate > 0 {
        parts.push(format!("probability map(rate {})", rate(c.apm_rate)));
    }
    if c.skip_miss_rate > 0 {
        parts.push(format!(
            "skip(miss rate ≤ {}{})",
            rate(c.skip_miss_rate),
            if c.skip_gap {
                ", long runs left out of the context"
            } else {
                ""
            }
        ));
    }
    format!(
        "{}; mixer {} (rate {}); lanes {}",
        parts.join(" + "),
        c.mixer.name(),
        rate(c.mixer_rate),
        if c.share_lanes {
            "share what they learn"
        } else {
            "learn separately"
        }
    )
}

/// " (this nacz's engine: ...)" when the id is this build's engine.
fn this_engine_note(id: u16) -> String {
    #[cfg(feature = "llama")]
    {
        let engine = nacz_predictors::llama_engine_id();
        if nacz::codec::engine_id_hash(&engine) == id {
            return format!(" (this nacz's engine: {engine})");
        }
    }
    if nacz::codec::engine_id_hash(&FakeLm::new().engine_id()) == id {
        return " (the test model)".into();
    }
    String::new()
}

/// Progress on stderr when it is a terminal: tokens, tok/s, bits per byte, ETA.
struct Bar {
    bar: Option<ProgressBar>,
    frame_tokens: u64,
    frame_bytes: u64,
    done_before: u64,
    start: Instant,
}

impl Bar {
    fn new(global: &Global, verb: &str) -> Self {
        let show = !global.quiet && io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "nacz {verb} [{{bar:30}}] {{pos}}/{{len}} tokens {{msg}} ETA {{eta}}"
                ))
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            frame_tokens: 0,
            frame_bytes: 0,
            done_before: 0,
            start: Instant::now(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn frame_started(&mut self, tokens: u64, bytes: u64) {
        self.done_before += self.frame_tokens;
        self.frame_tokens = tokens;
        self.frame_bytes = bytes;
        if let Some(bar) = &self.bar {
            bar.set_length(self.done_before + tokens);
            bar.set_position(self.done_before);
        }
    }

    fn tokens_coded(&mut self, tokens: u64, bits: f64) {
        if let Some(bar) = &self.bar {
            let done = self.done_before + tokens;
            bar.set_position(done);
            let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            // Bytes covered so far, estimated from the frame's average bytes per token.
            let bytes = self.frame_bytes as f64 * tokens as f64 / self.frame_tokens.max(1) as f64;
            let bits_msg = if bits > 0.0 {
                format!(", ~{:.3} bits/byte", bits / bytes.max(1.0))
            } else {
                String::new()
            };
            bar.set_message(format!("{rate:.0} tok/s{bits_msg}"));
        }
    }
}
