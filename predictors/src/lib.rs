//! Next-token predictors for nacz.
//!
//! This crate owns everything that turns a token history into a probability distribution over the next token:
//! the [`LanguageModel`] trait (one backend decode per [`LanguageModel::step`] across all live lanes), the
//! llama.cpp backend (feature `llama`), a deterministic fake model for weight-free tests, and the deterministic
//! softmax, and the online predictors mixed with the LM: token n-grams, the match model, the bias head, the mixers,
//! the final adaptive probability map and the confidence-skip policy ([`Predictor`]). It knows nothing of files,
//! containers or arithmetic coding.
//!
//! The [`byte`] module is a separate, self-contained byte-level context-mixing model for binary and non-LM data.

mod apm;
pub mod byte;
mod config;
mod fake;
#[cfg(feature = "llama")]
mod llama;
mod lm;
mod matcher;
mod mixing;
mod ngram;
mod replay;
mod softmax;

pub use config::{MixerKind, PredictorConfig, MAX_PREDICTOR_BYTES, RATE_ONE};
pub use fake::FakeLm;
#[cfg(feature = "llama")]
pub use llama::{engine_id as llama_engine_id, LlamaLm, Threads};
pub use lm::{LaneFeed, LanguageModel, LmError, ModelShape, SessionConfig, TokenId, Vocab, CONTEXT_PAD, MAX_FEED};
pub use mixing::Predictor;
pub use replay::{Recorder, Replayer};
pub use softmax::softmax_into;
