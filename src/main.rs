//! The `nacz` command line: gzip/zstd-style compress, decompress, test and info over files and pipes; `bench`
//! against classical compressors; shell completions and man pages.
//!
//! Output is written to a temporary file beside the target, synced and renamed into place, so an error or a full
//! disk never leaves a partial output; sources are removed only with `--rm` and only after that.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, CommandFactory, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nacz::bench::{self, BenchConfig};
use nacz::codec::{predictor_set, CompressSettings, Engine, Progress};
use nacz::container::{FrameBody, FrameRef};
use nacz::levels::{Level, DEFAULT_LEVEL};
use nacz::lm::{Device, FakeLm, LanguageModel};
use nacz::stream::{self, FRAME_BYTES};
use nacz::{model, Error};
use nacz_predictors::{MixerKind, PredictorConfig};

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
    /// Model: a manifest name (smollm2-135m, gemma3-270m) or a GGUF path. Default: $NACZ_MODEL, then the level's
    /// model when compressing (smollm2-135m; gemma3-270m at -9) and the model a file names when decoding.
    #[arg(long, global = true)]
    model: Option<String>,
    /// Inference threads (default: as many cores as other processes leave idle, followed as the load changes).
    /// Output bytes do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Worker threads that decode the lane groups of a step in parallel (default 1). Output bytes do not depend
    /// on it.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Where the model runs: auto, cpu, or cuda[:0,1,…] (this build has only the CPU).
    #[arg(long, global = true, default_value = "auto")]
    device: Device,
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

/// Level flags, gzip-style: `-1` … `-9`, `--fast`, `--best`.
#[derive(Args, Clone, Default)]
#[group(multiple = false)]
struct LevelArgs {
    /// Level 1, the fastest (about 3× the default's speed, about 5% larger). Levels run -1 … -9.
    #[arg(short = '1', help_heading = "Levels")]
    level1: bool,
    #[arg(short = '2', hide = true)]
    level2: bool,
    #[arg(short = '3', hide = true)]
    level3: bool,
    #[arg(short = '4', hide = true)]
    level4: bool,
    #[arg(short = '5', hide = true)]
    level5: bool,
    /// Level 6, the default.
    #[arg(short = '6', help_heading = "Levels")]
    level6: bool,
    #[arg(short = '7', hide = true)]
    level7: bool,
    #[arg(short = '8', hide = true)]
    level8: bool,
    /// Level 9, the smallest output. Levels 7–9 use the strongest model, Gemma 3 270M: fetch it with
    /// `bash models/fetch.sh gemma3-270m`.
    #[arg(short = '9', help_heading = "Levels")]
    level9: bool,
    /// Same as -1.
    #[arg(long, help_heading = "Levels")]
    fast: bool,
    /// Same as -9.
    #[arg(long, help_heading = "Levels")]
    best: bool,
}

impl LevelArgs {
    fn level(&self) -> Level {
        let flags = [
            self.level1 || self.fast,
            self.level2,
            self.level3,
            self.level4,
            self.level5,
            self.level6,
            self.level7,
            self.level8,
            self.level9 || self.best,
        ];
        let number = flags.iter().position(|&on| on).map_or(DEFAULT_LEVEL, |i| i as u8 + 1);
        Level::get(number).expect("levels 1..=9 exist")
    }
}

/// Low-level settings; each overrides what the level sets.
#[derive(Args, Clone)]
#[command(next_help_heading = "Tuning (overrides the level)")]
struct TuningArgs {
    /// Chunks coded in lockstep (more: faster on multi-core CPUs, slightly larger output).
    #[arg(long)]
    lanes: Option<u32>,
    /// Lanes per model context (default: all lanes in one). Groups are decoded in parallel by --workers; each
    /// group's predictions depend only on its own lanes, so the grouping is recorded in the file.
    #[arg(long)]
    lane_group: Option<u32>,
    /// Tokens of context the model sees.
    #[arg(long)]
    window: Option<u32>,
    /// Tokens dropped from a full window at once (default: 1/16 of the window).
    #[arg(long)]
    slide: Option<u32>,
    /// Tokens at the start of each lane that stay in its window (attention sinks).
    #[arg(long)]
    sink: Option<u32>,
    /// Fewest tokens a lane's chunk gets: short inputs use fewer lanes, paying for fewer cold starts.
    #[arg(long)]
    min_chunk_tokens: Option<u32>,
    /// Keep the model's keys and values as q8_0 instead of f16 (needs flash attention).
    #[arg(long)]
    kv_q8: bool,
    /// Attention kernel: `plain` (faster on CPU for batched lanes) or `flash`.
    #[arg(long, value_enum)]
    attention: Option<AttentionArg>,
    /// Predictors mixed with the LM: `all`, or `lm` joined by `+` with any of ngram, match, bias, apm, skip.
    #[arg(long, default_value = "all")]
    predictors: String,
    /// How predictions are mixed: `context` (learned weights per context), `multi` (weights summed from several
    /// context-selected sets) or `nacrith` (the baseline).
    #[arg(long, value_enum)]
    mixer: Option<MixerArg>,
    /// Skip the LM where the match model's miss rate is at most this, in 2^-16.
    #[arg(long)]
    skip_rate: Option<u16>,
    /// Input bytes per frame.
    #[arg(long, default_value_t = FRAME_BYTES, hide = true)]
    frame_bytes: usize,
    /// Never code a frame with the byte model: binary frames are stored, text frames always use the LM.
    #[arg(long, hide = true)]
    no_byte_model: bool,
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

impl TuningArgs {
    /// The level's settings with every tuning flag given applied on top.
    fn settings(&self, level: &Level) -> Result<CompressSettings, Error> {
        let mut base = level.predictors();
        match self.mixer {
            None => {}
            Some(MixerArg::Context) => base.mixer = MixerKind::Context,
            Some(MixerArg::Multi) => base.mixer = MixerKind::MultiContext,
            Some(MixerArg::Nacrith) => {
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
        base.share_lanes &= !self.no_share;
        base.skip_gap &= !self.no_skip_gap;
        base.apm_rate = self.apm_rate.unwrap_or(base.apm_rate);
        let predictors = predictor_set(&self.predictors, base)?;
        let mut session = level.session();
        session.lanes = self.lanes.unwrap_or(session.lanes);
        session.lane_group = self.lane_group.unwrap_or(session.lanes);
        session.window = self.window.unwrap_or(session.window);
        session.slide = self.slide.unwrap_or(session.window / 16);
        session.sink = self.sink.unwrap_or(session.sink);
        session.flash_attention = matches!(self.attention, Some(AttentionArg::Flash));
        session.kv_q8 = self.kv_q8;
        let mut settings = CompressSettings::new(
            session,
            predictors,
            self.min_chunk_tokens.unwrap_or(level.min_chunk_tokens),
        );
        settings.byte_model = !self.no_byte_model;
        check_settings(&settings, self.frame_bytes)?;
        Ok(settings)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compress FILEs to FILE.nacz (no FILE or `-`: stdin to stdout).
    Compress {
        files: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        level: LevelArgs,
        #[command(flatten)]
        tuning: TuningArgs,
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
    /// Measure nacz levels and the classical compressors on FILEs (each DIR: the files in it), round trips checked.
    Bench(BenchArgs),
    /// Print the completion script for a shell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write nacz.1 and one page per subcommand into DIR.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Files, or directories whose files are all measured.
    files: Vec<PathBuf>,
    /// nacz levels to measure, e.g. 1,6,9.
    #[arg(long, value_delimiter = ',', default_value = "6", value_parser = clap::value_parser!(u8).range(1..=9))]
    levels: Vec<u8>,
    /// How the table is written.
    #[arg(long, value_enum, default_value = "md")]
    format: FormatArg,
    /// Also write an SVG plot of bits per byte against compression speed.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Add a corpus of corpus/manifest.tsv (canterbury-text: Canterbury's 8 text files; enwik6: 1 MB of enwik8).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(bench::CORPORA))]
    corpus: Option<String>,
    /// Where corpus files are, as DIR/SET/FILE (default: the first of $NACZ_CORPUS, corpus/data and
    /// ../shared/corpus that holds the corpus).
    #[arg(long, value_name = "DIR")]
    corpus_dir: Option<PathBuf>,
    /// Only the first N bytes of each file, e.g. 64K (for quick runs).
    #[arg(long, value_name = "N", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Also run gzip, bzip2, xz, zstd and brotli where installed (the default).
    #[arg(long, overrides_with = "no_tools")]
    tools: bool,
    /// Only nacz.
    #[arg(long, overrides_with = "tools")]
    no_tools: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Md,
    Json,
    Csv,
}

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
    // A device this build cannot use is refused before any input is read or output created.
    if let Err(e) = global.device.resolve() {
        eprintln!("nacz: {e}");
        return ExitCode::FAILURE;
    }
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
            level,
            tuning,
        } => {
            let level = level.level();
            let settings = match tuning.settings(&level) {
                Ok(settings) => settings,
                Err(e) => {
                    eprintln!("nacz: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut engine = engine(&global, Some(level.model));
            for (name, input) in inputs(&files) {
                let r = compress_one(
                    &mut engine,
                    &settings,
                    tuning.frame_bytes,
                    &input,
                    &output,
                    &global,
                    files.len(),
                );
                report(&name, r);
            }
        }
        Command::Decompress { files, output } => {
            let mut engine = engine(&global, None);
            for (name, input) in inputs(&files) {
                report(
                    &name,
                    decompress_one(&mut engine, &input, &output, &global, files.len()),
                );
            }
        }
        Command::Test { files, quick } => {
            let mut engine = engine(&global, None);
            for (name, input) in inputs(&files) {
                report(&name, test_one(&mut engine, &input, quick, &global));
            }
        }
        Command::Info { files } => {
            for (name, input) in inputs(&files) {
                report(&name, info_one(&input));
            }
        }
        Command::Bench(args) => {
            if let Err(e) = bench_command(&args, &global) {
                eprintln!("nacz: {e}");
                failed = true;
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "nacz", &mut io::stdout());
        }
        Command::Man { dir } => {
            let written = match &dir {
                Some(dir) => fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir)),
                None => clap_mangen::Man::new(Cli::command()).render(&mut io::stdout()),
            };
            let name = dir.as_ref().map_or("(stdout)".into(), |d| d.display().to_string());
            report(&name, written.map_err(Error::Io));
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `nacz bench`: resolve the inputs, measure, print the table, write the plot.
fn bench_command(args: &BenchArgs, global: &Global) -> Result<(), bench::FileError> {
    let mut inputs = bench::inputs_from_paths(&args.files)?;
    if let Some(corpus) = &args.corpus {
        let dirs = bench::corpus_dirs(args.corpus_dir.as_deref());
        inputs.extend(bench::corpus_inputs(corpus, &dirs)?);
    }
    if inputs.is_empty() {
        return Err(bench::FileError {
            file: "bench".into(),
            source: Error::Usage("nothing to measure: give FILEs, DIRs or --corpus NAME".into()),
        });
    }
    let config = BenchConfig {
        levels: args.levels.clone(),
        model: global.model.clone(),
        threads: global.threads,
        memory_limit: global.memory_limit,
        max_bytes: args.max_bytes,
        // The two flags override each other; neither given means tools on.
        tools: args.tools || !args.no_tools,
    };
    let report = bench::run(&inputs, &config, &mut BenchBar::new(global))?;
    let format = match args.format {
        FormatArg::Md => bench::Format::Markdown,
        FormatArg::Json => bench::Format::Json,
        FormatArg::Csv => bench::Format::Csv,
    };
    let written = io::stdout().lock().write_all(report.render(format).as_bytes());
    if let Err(e) = written.map_err(Error::Io) {
        if !is_broken_pipe(&e) {
            return Err(bench::FileError {
                file: "(stdout)".into(),
                source: e,
            });
        }
    }
    // CSV stays one table; the other formats carry the note themselves.
    if let (FormatArg::Csv, Some(note)) = (args.format, report.not_installed_note()) {
        eprintln!("nacz: {note}");
    }
    if let Some(path) = &args.plot {
        fs::write(path, report.svg()).map_err(|e| bench::FileError {
            file: path.display().to_string(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// A progress bar per file on stderr when it is a terminal: which method runs, how many are done.
struct BenchBar {
    show: bool,
    bar: Option<ProgressBar>,
}

impl BenchBar {
    fn new(global: &Global) -> Self {
        Self {
            show: !global.quiet && io::stderr().is_terminal(),
            bar: None,
        }
    }
}

impl bench::Progress for BenchBar {
    fn file_started(&mut self, name: &str, methods: u64) {
        self.bar = self.show.then(|| {
            let bar = ProgressBar::with_draw_target(Some(methods), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("nacz bench {prefix} [{bar:20}] {pos}/{len} {msg} {elapsed}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            // A level can take minutes on one file: keep the elapsed time moving.
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            bar
        });
    }

    fn method_started(&mut self, index: u64, method: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(index);
            bar.set_message(method.to_string());
        }
    }

    fn file_done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Settings the container or llama.cpp would refuse, caught before any work.
fn check_settings(settings: &CompressSettings, frame_bytes: usize) -> Result<(), Error> {
    let session = &settings.session;
    session.validate()?;
    settings.predictors.validate(session.lanes)?;
    if !session.window.is_multiple_of(nacz::lm::CONTEXT_PAD) {
        return Err(Error::Usage(format!(
            "--window must be a multiple of {}",
            nacz::lm::CONTEXT_PAD
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

/// An engine with the user's model, threads and memory limit; `default_model` is the level's when compressing.
fn engine(global: &Global, default_model: Option<&str>) -> Engine {
    let mut engine = Engine::new(model::loader(model::LoadOptions {
        model: global.model.clone(),
        default_model: default_model.map(str::to_string),
        threads: global.threads,
        workers: global.workers as usize,
        device: global.device.clone(),
        verbose: global.verbose,
    }));
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
    let frames = stream::for_each_frame(&mut reader, |index, frame: &FrameRef<'_>| {
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
                    "  frame {index}: {} bytes, {t} tokens, {} chunks, {} bytes coded\n    {}\n    model sha256 {}…{}\n    \
                     engine {:#06x}{}\n    backend {}\n    lanes {} ({}), window {}, slide {}, sink {}, flash attention {}, KV cache {}, \
                     {} tokens per lane and step, min chunk tokens {}, CDF {}-bit{}\n    predictors: {}",
                    h.content_len,
                    p.chunks.len(),
                    frame.payload.len(),
                    describe_level(p),
                    model::hex(&p.model_id),
                    model::describe_model_id(&p.model_id),
                    p.engine_id,
                    this_engine_note(p.engine_id),
                    p.backend.as_ref().map_or_else(
                        || "CPU (format version 6 or older: the instruction set is known by the engine id only)".into(),
                        ToString::to_string
                    ),
                    sc.lanes,
                    describe_groups(sc),
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

/// "one group", "3 groups of 4".
fn describe_groups(session: &nacz::lm::SessionConfig) -> String {
    match session.lane_groups().count() {
        1 => "one group".into(),
        n => format!("{n} groups of {}", session.lane_group),
    }
}

/// "level 6", or what comes closest.
fn describe_level(params: &nacz::container::ModelParams) -> String {
    match Level::of_frame(params) {
        Some((level, true)) => format!("level {}", level.number),
        Some((level, false)) => format!("level {}'s settings with another model", level.number),
        None => "custom settings (no level)".into(),
    }
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
        let engine = nacz::lm::llama_engine_id();
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
