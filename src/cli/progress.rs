//! Progress bars on stderr when it is a terminal: tokens, speed and bits per byte while coding; methods done
//! per file in `nacz bench`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nacz::bench::{self};
use nacz::codec::Progress;
use std::io::{self, IsTerminal};
use std::time::Instant;

use super::Global;

/// A progress bar per file on stderr when it is a terminal: which method runs, how many are done.
pub(super) struct BenchBar {
    show: bool,
    bar: Option<ProgressBar>,
}

impl BenchBar {
    pub(super) fn new(global: &Global) -> Self {
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

/// Progress on stderr when it is a terminal: tokens, tok/s, bits per byte, ETA.
pub(super) struct Bar {
    bar: Option<ProgressBar>,
    frame_tokens: u64,
    frame_bytes: u64,
    done_before: u64,
    start: Instant,
}

impl Bar {
    pub(super) fn new(global: &Global, verb: &str) -> Self {
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

    pub(super) fn finish(&self) {
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
