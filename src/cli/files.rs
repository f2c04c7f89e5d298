//! Inputs and outputs as gzip treats them: suffixes, targets, a temporary file synced and renamed into place,
//! `--rm` only after the output is complete, and the cleanup when a signal ends the process.

use nacz::codec::{CompressSettings, Engine};
use nacz::stream::{self};
use nacz::Error;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use super::{Bar, Global, Output};

pub(super) const SUFFIX: &str = ".nacz";

/// The temporary output file being written, if any: removed when a signal ends the process, so an interrupted
/// run leaves neither a partial output nor a temporary file behind.
pub(super) static PENDING_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Ctrl-C, SIGTERM and SIGHUP remove the pending temporary file, then end the process (status 130, as a shell
/// reports an interrupt).
pub(super) fn remove_pending_output_on_signal() {
    // Failing to install the handler costs only the cleanup; compression itself is unaffected.
    let _ = ctrlc::set_handler(|| {
        let pending = PENDING_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = pending.as_ref() {
            let _ = fs::remove_file(path);
        }
        std::process::exit(130);
    });
}

/// None stands for stdin.
pub(super) fn inputs(files: &[PathBuf]) -> Vec<(String, Option<PathBuf>)> {
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
pub(super) enum Target {
    Stdout,
    File(PathBuf),
}

pub(super) fn target_for(
    input: &Option<PathBuf>,
    output: &Output,
    n_inputs: usize,
    compress: bool,
) -> Result<Target, Error> {
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

pub(super) fn open_input(input: &Option<PathBuf>) -> Result<Box<dyn Read>, Error> {
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
pub(super) fn write_target(
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
pub(super) fn finish_source(input: &Option<PathBuf>, target: &Target, output: &Output) -> Result<(), Error> {
    if let (Some(path), Target::File(_), true) = (input, target, output.rm && !output.keep) {
        fs::remove_file(path)?;
    }
    Ok(())
}

pub(super) fn compress_one(
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

pub(super) fn decompress_one(
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

pub(super) fn test_one(
    engine: &mut Engine,
    input: &Option<PathBuf>,
    quick: bool,
    global: &Global,
) -> Result<(), Error> {
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
