//! nacz: a neural lossless compressor. Input bytes are tokenized byte-exactly, each token is predicted by a
//! language model (SmolLM2 through llama.cpp) running several chunks in lockstep lanes, and coded with a 28-bit-CDF
//! arithmetic coder into a versioned, checksummed container.
//!
//! Binary frames skip the language model: a byte-level context-mixing model codes them bit by bit ([`bytes`]),
//! or LZMA where that is smaller ([`lzma`]); mixed input is first cut into text and binary segments ([`segment`]).
//!
//! Start with [`compress`] and [`decompress`] and their [`Options`] (level, model, threads, memory limit).
//!
//! Modules: [`options`] (the front door), [`levels`] (the presets `-1` … `-9`), [`lm`] (the language model and
//! its backends: llama.cpp, fake, replay, workers), [`tokenizer`] (byte-exact tokens), [`plan`] (chunk plan),
//! [`segment`] (text and binary segments), [`codec`] (lanes, prediction, coding, the choice of frame kind),
//! [`bytes`] (byte-model frames), [`lzma`] (LZMA frames), [`container`] (the file format), [`forgery`] (resealed
//! and mutated frames for fuzzing), [`model`] (finding, fingerprinting and loading model files), [`newlines`]
//! (CRLF text modeled as LF),
//! [`stream`] (files and pipes in frames), [`bench`](mod@bench) (nacz levels against classical compressors).

pub mod bench;
pub mod bytes;
pub mod codec;
pub mod container;
pub mod forgery;
pub mod levels;
pub mod lm;
pub mod lzma;
pub mod model;
pub mod newlines;
pub mod options;
pub mod plan;
pub mod segment;
pub mod stream;
pub mod tokenizer;

pub use options::{compress, decompress, Options};
pub use stream::Totals;

use crate::lm::{Backend, LmError};
use container::FormatError;

/// Everything that can go wrong in nacz, with messages meant for users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("frame {index}: {source}")]
    Frame { index: usize, source: FormatError },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error(transparent)]
    Predictors(#[from] nacz_predictors::ConfigError),
    #[error(transparent)]
    Lzma(#[from] lzma::LzmaError),
    #[error("cannot build a CDF: {0}")]
    Cdf(#[from] nacz_coder::CdfError),
    #[error("corrupt data: the chunk table does not follow the chunk plan")]
    ChunkPlan,
    #[error(
        "decoded data does not match its checksum although the compressed bytes are intact: this model or engine \
         computes different probabilities than the compressor's, or the file was forged"
    )]
    Diverged,
    #[error(
        "{action} needs about {needed_mib} MiB ({detail}), more than the memory limit of {limit_mib} MiB; \
         allow it with --memory-limit {needed_mib}M",
        needed_mib = needed.div_ceil(1 << 20),
        limit_mib = limit >> 20
    )]
    MemoryLimit {
        /// "decoding this frame" or "compressing with these settings".
        action: &'static str,
        needed: u64,
        limit: u64,
        /// What the memory goes to.
        detail: String,
    },
    #[error(
        "this file was compressed with the model whose sha256 starts {expected_hex}{name}, but the model in use has \
         sha256 {found_hex}; {hint}",
        expected_hex = model::hex(expected),
        found_hex = model::hex(found),
        name = model::describe_model_id(expected),
        hint = model::fetch_hint_for_model_id(expected)
    )]
    ModelMismatch { expected: [u8; 4], found: [u8; 32] },
    #[error(
        "this file was compressed by inference engine {expected:#06x}, but this nacz runs `{found}` ({:#06x}): \
         logits differ between engines and CPU instruction sets, so decode it with a nacz built the same way",
        codec::engine_id_hash(found)
    )]
    EngineMismatch { expected: u16, found: String },
    #[error(
        "this file was compressed on the {made_by} backend, but this nacz computes on the {this} backend, and \
         logits differ between them; decode it with {}",
        made_by.decoder_hint()
    )]
    BackendMismatch { made_by: Backend, this: Backend },
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Usage(String),
    #[error(
        "round trip through {method} did not give the input back: {found} bytes instead of {expected}, first \
         difference at byte {offset}"
    )]
    RoundTrip {
        method: String,
        offset: u64,
        expected: u64,
        found: u64,
    },
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },
    #[error("{0}")]
    Corpus(String),
}
