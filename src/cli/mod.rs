//! The `nacz` command line: gzip/zstd-style compress, decompress, test and info over files and pipes; `bench`
//! against classical compressors; shell completions and man pages.
//!
//! Output is written to a temporary file beside the target, synced and renamed into place, so an error or a full
//! disk never leaves a partial output; sources are removed only with `--rm` and only after that.

mod files;
mod info;
mod progress;

use clap::{Args, CommandFactory, Parser, Subcommand};
use nacz::bench::{self, BenchConfig};
use nacz::codec::{predictor_set, CompressSettings, Engine};
use nacz::levels::{Level, DEFAULT_LEVEL};
use nacz::lm::Device;
use nacz::stream::FRAME_BYTES;
use nacz::{model, Error};
use nacz_predictors::MixerKind;
use std::fs::{self};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use files::{compress_one, decompress_one, inputs, open_input, remove_pending_output_on_signal, test_one};
use info::info_one;
use progress::{Bar, BenchBar};

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

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
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
