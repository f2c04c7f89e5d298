//! Next-token predictors for nacz.
//!
//! This crate owns everything that turns a token history into a probability distribution over the next token:
//! the [`LanguageModel`] trait (one backend decode per [`LanguageModel::step`] across all live lanes), the
//! llama.cpp backend (feature `llama`), a deterministic fake model for weight-free tests, and the deterministic
//! softmax that feeds the coder. It knows nothing of files, containers or arithmetic coding.

mod fake;
#[cfg(feature = "llama")]
mod llama;
mod lm;
mod softmax;

pub use fake::FakeLm;
#[cfg(feature = "llama")]
pub use llama::{engine_id as llama_engine_id, LlamaLm};
pub use lm::{LanguageModel, LmError, SessionConfig, TokenId, Vocab, CONTEXT_PAD};
pub use softmax::softmax_into;
