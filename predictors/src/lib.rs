//! Deterministic next-token math for nacz: no language model, no FFI, no I/O, so it tests, fuzzes and benches
//! without building llama.cpp.
//!
//! This crate owns what turns a token history and the LM's logits into a probability distribution over the next
//! token: the deterministic softmax and the online predictors mixed with the LM (token n-grams, the match model,
//! the bias head, the mixers, the final adaptive probability map and the confidence-skip policy: [`Predictor`]).
//! The language model itself and its backends live in the `nacz` crate (`nacz::lm`). It knows nothing of files,
//! containers or arithmetic coding.
//!
//! The [`byte`] module is a separate, self-contained byte-level context-mixing model for binary and non-LM data.

mod apm;
pub mod byte;
mod config;
mod matcher;
mod mixing;
mod ngram;
mod softmax;

pub use config::{ConfigError, MixerKind, PredictorConfig, MAX_PREDICTOR_BYTES, RATE_ONE};
pub use mixing::{Mixture, Predictor};
pub use softmax::softmax_into;

/// A token id in the coding alphabet: the model's vocabulary followed by extra byte symbols.
pub type TokenId = u32;
