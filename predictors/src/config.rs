//! The predictor parameters a compressed frame stores: every one of them can change a probability, so the decoder
//! takes them from the header, never from its own defaults. Rates are fixed-point integers (units of 2^-16), which
//! convert exactly to `f32` and keep floats out of the container.

use crate::ngram::MAX_ORDER;

/// A predictor configuration that is out of range or would need too much memory.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid predictor configuration: {0}")]
pub struct ConfigError(pub String);

/// How the predictions are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixerKind {
    /// Linear mixture whose weights depend on a context (LM confidence, highest n-gram order seen, match length)
    /// and are learned by online gradient descent on code length (format version 4's default).
    Context = 0,
    /// Nacrith's mixer, kept as the baseline: a linear exponential-weights mixture of the LM and an interpolated
    /// n-gram distribution (initial LM weight 0.85, rate 0.5), the match model as LZP (0.85 on its token).
    Nacrith = 1,
    /// The context mixer's linear mixture with weights summed from several weight sets, each selected by its own
    /// context: the context mixer's, the top n-gram order's count and agreement with the LM's top token, the match
    /// model's agreement with it, and hashes of the last one, two and three tokens. Learned by the same gradient
    /// step in every set.
    MultiContext = 2,
}

impl MixerKind {
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Context),
            1 => Some(Self::Nacrith),
            2 => Some(Self::MultiContext),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Context => "context",
            Self::Nacrith => "nacrith",
            Self::MultiContext => "multi",
        }
    }

    /// Whether the weights are learned by gradient descent over context-selected weight sets.
    pub fn is_contextual(self) -> bool {
        self != Self::Nacrith
    }
}

/// Scale of the fixed-point rates.
pub const RATE_ONE: f32 = 65536.0;

/// Every predictor parameter of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PredictorConfig {
    /// Highest token n-gram order (0: no n-gram model).
    pub ngram_order: u8,
    /// The n-gram table has `2^ngram_table_bits` buckets of 48 bytes.
    pub ngram_table_bits: u8,
    /// Tokens of context the match model looks up (0: no match model).
    pub match_min_len: u8,
    /// The match table has `2^match_table_bits` entries of 4 bytes.
    pub match_table_bits: u8,
    /// Learning rate of the log-space bias on the LM's logits, in 2^-16 (0: no bias head).
    pub bias_rate: u16,
    pub mixer: MixerKind,
    /// Learning rate of the mixer, in 2^-16.
    pub mixer_rate: u16,
    /// Confidence skip: a position is coded without the LM's prediction when the match model's track record at
    /// the current match length puts its miss rate at or below this, in 2^-16 (0: never skip).
    pub skip_miss_rate: u16,
    /// Whether all lanes learn into one shared state (in lane order) instead of one state each.
    pub share_lanes: bool,
    /// Whether a run of skipped positions longer than the tokens fed per step leaves its older tokens out of the
    /// LM's context: only the run's last tokens are fed, so a long confident stretch costs the model almost
    /// nothing, at the price of a gap in its context. Off: every skipped token is fed later.
    pub skip_gap: bool,
    /// Learning rate of the final adaptive probability map, in 2^-16 (0: none): it re-estimates the mixture's
    /// most probable token's probability from that probability and whether the match and n-gram models agree.
    pub apm_rate: u16,
}

/// Bytes of one n-gram bucket (seven followers with their counts, a check and a total).
const NGRAM_BUCKET_BYTES: u64 = 48;

/// Most memory the predictor state of one frame may claim, so no header can make the decoder allocate without bound.
pub const MAX_PREDICTOR_BYTES: u64 = 3 << 30;

impl PredictorConfig {
    /// The language model alone: the spine's behaviour (and what format-version-1 frames mean).
    pub const LM_ONLY: Self = Self {
        ngram_order: 0,
        ngram_table_bits: 20,
        match_min_len: 0,
        match_table_bits: 20,
        bias_rate: 0,
        mixer: MixerKind::Context,
        mixer_rate: 0,
        skip_miss_rate: 0,
        share_lanes: false,
        skip_gap: false,
        apm_rate: 0,
    };

    /// Whether anything but the LM takes part.
    pub fn is_lm_only(&self) -> bool {
        self.ngram_order == 0 && self.match_min_len == 0 && self.bias_rate == 0 && self.apm_rate == 0
    }

    /// The same predictors with tables no larger than `tokens` tokens can use (about two entries per token and
    /// order), so short inputs neither allocate nor clear the full tables.
    pub fn sized_for(self, tokens: usize) -> Self {
        let bits_for = |entries: usize, max: u8| -> u8 {
            let needed = usize::BITS - entries.max(1).leading_zeros() + 1;
            (needed.clamp(10, u32::from(max.max(10)))) as u8
        };
        Self {
            ngram_table_bits: bits_for(tokens * usize::from(self.ngram_order.max(1)), self.ngram_table_bits),
            match_table_bits: bits_for(tokens, self.match_table_bits),
            ..self
        }
    }

    /// Checks ranges and the memory the state of `lanes` lanes would take.
    pub fn validate(&self, lanes: u32) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError(what));
        if usize::from(self.ngram_order) > MAX_ORDER {
            return bad(format!("n-gram order {} above {MAX_ORDER}", self.ngram_order));
        }
        if !(10..=24).contains(&self.ngram_table_bits) || !(10..=24).contains(&self.match_table_bits) {
            return bad("table sizes must be 2^10..=2^24".into());
        }
        if self.match_min_len > 32 {
            return bad(format!("match length {} above 32", self.match_min_len));
        }
        if self.skip_miss_rate > 0 && (!self.mixer.is_contextual() || self.match_min_len == 0) {
            return bad("confidence skip needs a context mixer and the match model".into());
        }
        if self.skip_gap && self.skip_miss_rate == 0 {
            return bad("context gaps need confidence skip".into());
        }
        let tables = self.memory_bytes(lanes, 0);
        if tables > MAX_PREDICTOR_BYTES {
            return bad(format!(
                "predictor tables of {} MiB exceed the limit of {} MiB",
                tables >> 20,
                MAX_PREDICTOR_BYTES >> 20
            ));
        }
        Ok(())
    }

    /// Bytes the state of `lanes` lanes over an alphabet of `n_symbols` takes when a frame starts (the tables, the
    /// bias head, the LM's weights and Nacrith's unigram of every group, and the vocabulary-length scratch
    /// buffers), before anything is allocated. The match model's histories grow later with the tokens decoded (4
    /// bytes each).
    pub fn memory_bytes(&self, lanes: u32, n_symbols: usize) -> u64 {
        let groups = if self.share_lanes { 1 } else { u64::from(lanes) };
        let n_symbols = n_symbols as u64;
        // The LM's weights at the group's last LM position.
        let mut per_group = 4 * n_symbols;
        if self.ngram_order > 0 {
            per_group += NGRAM_BUCKET_BYTES << self.ngram_table_bits;
        }
        if self.match_min_len > 0 {
            per_group += 4 << self.match_table_bits;
        }
        if self.bias_rate > 0 {
            per_group += 4 * n_symbols;
        }
        if self.mixer == MixerKind::Nacrith && self.ngram_order > 0 {
            per_group += 4 * n_symbols;
        }
        // The biased logits and the dense mixture of format version 7.
        groups * per_group + 2 * 4 * n_symbols
    }
}
