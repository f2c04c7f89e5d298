//! Entropy coding for a model-driven lossless compressor.
//!
//! The crate knows nothing of tokens or models; it owns three things:
//!
//! * [`cdf`]: turning an arbitrary vector of weights into a cumulative
//!   frequency table totalling `2^24` to `2^28` in which every symbol can be
//!   coded. The rules are exact and platform independent, because the encoder
//!   and the decoder must rebuild bit-identical tables from the same weights.
//! * [`binary`]: a carry-less 32-bit binary arithmetic coder for models that
//!   predict one bit at a time (16-bit probabilities, byte-wise output).
//! * [`lazy`]: format version 8's table of a mixture (a scaled dense vector
//!   plus patched symbols), evaluated only as far as the coder needs it.
//! * [`coder`]: a 32-bit arithmetic coder that codes one symbol at a time
//!   against such a table (or against any `(start, freq)` interval out of
//!   a power of two up to `2^28`).
//!
//! The decoder never panics on malformed input: a corrupt stream simply
//! decodes to some symbols, and detecting that is left to the caller's
//! checksums (helped by [`Decoder::bits_past_end`] for truncation).

pub mod binary;
pub mod cdf;
pub mod coder;
pub mod lazy;

pub use binary::{BinaryDecoder, BinaryEncoder};
pub use cdf::{Cdf, CdfError};
pub use coder::{Decoder, Encoder};
pub use lazy::{LazyCdf, PatchCount};

/// Bits of precision of a [`Cdf::new`]: frequencies are integers out of `2^24`.
pub const PRECISION_BITS: u32 = 24;

/// The total a [`Cdf::new`] sums to.
pub const CDF_TOTAL: u32 = 1 << PRECISION_BITS;

/// Most bits of precision a [`Cdf`] may have: the coder keeps its range above
/// `2^30`, so every frequency of `2^28` still gets at least 4 values.
pub const MAX_PRECISION_BITS: u32 = 28;

/// Largest alphabet a [`Cdf`] accepts. Each symbol is given a floor of one
/// count, so this keeps at least half of [`CDF_TOTAL`] for the weights.
pub const MAX_SYMBOLS: usize = 1 << 20;
