//! `nacz info`: what a file holds, frame by frame, read from the headers alone (no model).

use nacz::container::{FrameBody, FrameRef};
use nacz::levels::Level;
use nacz::lm::{FakeLm, LanguageModel};
use nacz::stream::{self};
use nacz::{model, Error};
use nacz_predictors::PredictorConfig;
use std::io::{self, Read};
use std::path::PathBuf;

use super::open_input;

pub(super) fn info_one(input: &Option<PathBuf>) -> Result<(), Error> {
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
            FrameBody::Lzma(p) => lines.push(format!(
                "  frame {index}: {} bytes, LZMA (xz -9e settings, 2^{}-byte dictionary), {} bytes coded",
                h.content_len,
                p.dict_log,
                frame.payload.len()
            )),
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
pub(super) fn describe_groups(session: &nacz::lm::SessionConfig) -> String {
    match session.lane_groups().count() {
        1 => "one group".into(),
        n => format!("{n} groups of {}", session.lane_group),
    }
}

/// "level 6", or what comes closest.
pub(super) fn describe_level(params: &nacz::container::ModelParams) -> String {
    match Level::of_frame(params) {
        Some((level, true)) => format!("level {}", level.number),
        Some((level, false)) => format!("level {}'s settings with another model", level.number),
        None => "custom settings (no level)".into(),
    }
}

/// The predictor set and every parameter of it, as `nacz info` shows them.
pub(super) fn describe_predictors(c: &PredictorConfig) -> String {
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
pub(super) fn this_engine_note(id: u16) -> String {
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
