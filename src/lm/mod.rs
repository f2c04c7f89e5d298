//! The language model and its backends: the [`LanguageModel`] trait (one backend decode per
//! [`LanguageModel::step`] across all live lanes), the session parameters that can change a logit, the vocabulary
//! table that the byte-exact tokenizer and the decompressor both rely on, and the backends: llama.cpp (feature
//! `llama`), a deterministic fake model for weight-free tests, and a recorder/replayer of real passes.

mod backend;
mod fake;
#[cfg(feature = "llama")]
mod llama;
mod replay;
mod workers;

pub use backend::{Backend, CLASS_CPU, CLASS_CUDA, CPU_FEATURES, MAX_GPU_NAME};
pub use fake::FakeLm;
#[cfg(feature = "llama")]
pub use llama::{engine_id as llama_engine_id, LlamaLm, Threads};
pub use nacz_predictors::TokenId;
pub use replay::{Recorder, Replayer};
pub use workers::{for_each_group, Device};

/// Errors a language model backend can report.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("cannot load model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("cannot create a llama.cpp context: {0}")]
    Context(String),
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    #[error("KV cache operation failed: {0}")]
    KvCache(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Predictors(#[from] nacz_predictors::ConfigError),
    #[error("token {token} is outside the vocabulary of {n_vocab} tokens")]
    TokenOutOfRange { token: TokenId, n_vocab: usize },
}

/// llama.cpp pads each sequence's context to a multiple of this, so windows must be multiples of it.
pub const CONTEXT_PAD: u32 = 256;

/// Most KV cells a session may ask for (lanes × window), so no header can make the decoder allocate without bound
/// (each cell of SmolLM2-135M holds about 23 kB of keys and values).
pub const MAX_SESSION_CELLS: u64 = 1 << 18;

/// Everything about a decoding session that can change a logit. The container stores each field; the decoder
/// rebuilds the same session from the header, so both sides issue identical decode calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Number of sequences decoded in lockstep.
    pub lanes: u32,
    /// Lanes per backend context (llama.cpp `n_seq_max`; n_batch and n_ubatch are this × `max_feed`): consecutive
    /// lanes form a group, each group's logits depend only on its own lanes' tokens, and workers run groups in
    /// parallel. All lanes in one group (the CPU default, and the only grouping before format version 7).
    pub lane_group: u32,
    /// Tokens of context each lane keeps (its KV cache size).
    pub window: u32,
    /// Tokens dropped from a full window (after the sink tokens) before the next token is appended.
    pub slide: u32,
    /// Tokens at the start of a lane that are never dropped from its window (attention sinks).
    pub sink: u32,
    /// Whether llama.cpp's flash-attention kernels are used.
    pub flash_attention: bool,
    /// Whether the KV cache holds keys and values as q8_0 instead of f16 (less memory traffic at long contexts).
    pub kv_q8: bool,
    /// Most tokens one lane is fed in one step (above 1 only with confidence skip); sizes llama.cpp's batches.
    pub max_feed: u32,
}

/// Largest [`SessionConfig::max_feed`].
pub const MAX_FEED: u32 = 64;

/// What one lane is given in a step.
#[derive(Clone, Copy, Debug, Default)]
pub struct LaneFeed<'a> {
    /// Tokens appended to the lane, oldest first; empty when the lane sits the step out.
    pub tokens: &'a [TokenId],
    /// Whether the next-token logits after the last of them are wanted.
    pub logits: bool,
}

impl<'a> LaneFeed<'a> {
    /// One token, with the logits after it.
    pub fn one(token: &'a TokenId) -> Self {
        Self {
            tokens: std::slice::from_ref(token),
            logits: true,
        }
    }
}

impl SessionConfig {
    /// Checks the relations the backend relies on.
    pub fn validate(&self) -> Result<(), LmError> {
        if self.lanes == 0 || self.lanes > 256 {
            return Err(LmError::Config(format!("lanes must be 1..=256, got {}", self.lanes)));
        }
        if self.lane_group == 0 || self.lane_group > self.lanes {
            return Err(LmError::Config(format!(
                "lanes per group must be 1..={} (the lanes), got {}",
                self.lanes, self.lane_group
            )));
        }
        if self.window < 16 || self.window > 1 << 17 {
            return Err(LmError::Config(format!(
                "window must be 16..=131072, got {}",
                self.window
            )));
        }
        if u64::from(self.lanes) * u64::from(self.window) > MAX_SESSION_CELLS {
            return Err(LmError::Config(format!(
                "lanes × window = {} exceeds the limit of {MAX_SESSION_CELLS} context cells",
                u64::from(self.lanes) * u64::from(self.window)
            )));
        }
        if self.max_feed == 0 || self.max_feed > MAX_FEED || self.max_feed > self.slide {
            return Err(LmError::Config(format!(
                "tokens per lane and step ({}) must be 1..={MAX_FEED} and at most the slide ({})",
                self.max_feed, self.slide
            )));
        }
        if self.slide == 0 || u64::from(self.slide) + u64::from(self.sink) >= u64::from(self.window) {
            return Err(LmError::Config(format!(
                "slide ({}) plus sink ({}) must be below the window ({}), and slide above 0",
                self.slide, self.sink, self.window
            )));
        }
        Ok(())
    }
}

/// The coding alphabet: the model's tokens as byte strings, plus one extra symbol for each byte value that no model
/// token stands for alone (SmolLM2's GGUF lacks 21 of them, e.g. 0x04 and 0xFF), so every byte string is codable.
#[derive(Clone, Debug)]
pub struct Vocab {
    /// Pieces of the model tokens, then of the extra byte symbols.
    pieces: Vec<Vec<u8>>,
    n_model_tokens: usize,
    byte_tokens: [TokenId; 256],
    bos: TokenId,
    /// What the model is fed in place of an extra byte symbol (it has no embedding for it).
    stand_in: TokenId,
}

impl Vocab {
    /// Builds the table from the model's token pieces.
    pub fn new(mut pieces: Vec<Vec<u8>>, bos: TokenId) -> Result<Self, LmError> {
        let n_model_tokens = pieces.len();
        if bos as usize >= n_model_tokens {
            return Err(LmError::TokenOutOfRange {
                token: bos,
                n_vocab: n_model_tokens,
            });
        }
        let mut byte_tokens = [TokenId::MAX; 256];
        // The lowest id wins so the table is a pure function of the vocabulary.
        for (id, piece) in pieces.iter().enumerate().rev() {
            if let [b] = piece.as_slice() {
                byte_tokens[*b as usize] = id as TokenId;
            }
        }
        let stand_in = match byte_tokens[usize::from(b'?')] {
            TokenId::MAX => bos,
            t => t,
        };
        for (byte, token) in byte_tokens.iter_mut().enumerate() {
            if *token == TokenId::MAX {
                *token = pieces.len() as TokenId;
                pieces.push(vec![byte as u8]);
            }
        }
        Ok(Self {
            pieces,
            n_model_tokens,
            byte_tokens,
            bos,
            stand_in,
        })
    }

    /// Size of the coding alphabet (model tokens plus extra byte symbols).
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Number of tokens the model itself has (the length of its logit vectors).
    pub fn n_model_tokens(&self) -> usize {
        self.n_model_tokens
    }

    /// The model token to feed for a coded symbol: itself, or a stand-in for an extra byte symbol.
    pub fn model_input(&self, token: TokenId) -> TokenId {
        if (token as usize) < self.n_model_tokens {
            token
        } else {
            self.stand_in
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The bytes a token stands for (empty for control tokens).
    pub fn piece(&self, token: TokenId) -> &[u8] {
        self.pieces.get(token as usize).map_or(&[], Vec::as_slice)
    }

    /// The token whose piece is exactly this one byte.
    pub fn byte_token(&self, byte: u8) -> TokenId {
        self.byte_tokens[byte as usize]
    }

    /// The token every lane is started with, so the first real token has a prediction.
    pub fn bos(&self) -> TokenId {
        self.bos
    }
}

/// The dimensions of a model that decide what a session allocates, known once the model is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelShape {
    pub n_layer: u64,
    /// Query heads per layer.
    pub n_head: u64,
    /// Width of one layer's keys (and of its values): key/value heads × head size.
    pub kv_width: u64,
    /// Width of the residual stream.
    pub n_embd: u64,
    /// Model tokens (rows of the output layer).
    pub n_vocab: u64,
}

impl ModelShape {
    /// SmolLM2-135M's shape (30 layers, 9 query and 3 key/value heads of 64, 576 wide, 49,152 tokens).
    pub const SMOLLM2_135M: Self = Self {
        n_layer: 30,
        n_head: 9,
        kv_width: 192,
        n_embd: 576,
        n_vocab: 49_152,
    };
}

impl SessionConfig {
    /// An upper estimate of the bytes a session of `shape` allocates, computed before allocating: the KV cache
    /// (lanes × window cells of keys and values in every layer) and llama.cpp's worst-case compute buffers, which
    /// it sizes for a batch of lanes × tokens per step with every output wanted (the output layer's logits, the
    /// attention scores of the plain kernel, activations).
    pub fn estimated_bytes(&self, shape: &ModelShape) -> u64 {
        let cells = u64::from(self.lanes) * u64::from(self.window);
        // f16: 64 bytes per 32 values; q8_0: 34 (32 one-byte values and an f16 scale).
        let block_bytes = if self.kv_q8 { 34 } else { 64 };
        let kv = cells * shape.n_layer * 2 * shape.kv_width * block_bytes / 32;
        let batch = u64::from(self.lanes) * u64::from(self.max_feed);
        let logits = batch * shape.n_vocab * 4;
        let scores = if self.flash_attention {
            0
        } else {
            batch * u64::from(self.window) * shape.n_head * 4
        };
        let activations = batch * shape.n_embd * 4 * 16;
        kv + logits + scores + activations
    }
}

/// A next-token predictor over several independent lanes that advance in lockstep.
pub trait LanguageModel {
    fn vocab(&self) -> &Vocab;

    /// The dimensions that decide what a session allocates ([`SessionConfig::estimated_bytes`]).
    fn shape(&self) -> ModelShape;

    /// The model's own tokenization of `text`, with special-token text treated as plain text. It may lose bytes;
    /// callers verify and patch the result.
    fn tokenize(&self, text: &[u8]) -> Vec<TokenId>;

    /// sha256 of the model file (or of the fake model's definition).
    fn fingerprint(&self) -> [u8; 32];

    /// Identifies the inference engine and its numeric configuration (build, ISA). Output is only decodable by the
    /// same engine id.
    fn engine_id(&self) -> String;

    /// The backend class its logits come from (recorded in the header since format version 7).
    fn backend(&self) -> Backend;

    /// Starts (or restarts) a session: `config.lanes` empty lanes.
    fn begin(&mut self, config: SessionConfig) -> Result<(), LmError>;

    /// Empties one lane's context so it can start a new chunk.
    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError>;

    /// Appends `feed[lane].tokens` to every lane, with exactly one backend decode call, and makes the next-token
    /// logits of the lanes that asked for them available through [`LanguageModel::logits`].
    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError>;

    /// Next-token logits of a lane fed in the last step.
    fn logits(&self, lane: usize) -> &[f32];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded() {
        let ok = SessionConfig {
            lanes: 8,
            lane_group: 8,
            window: 4096,
            slide: 256,
            sink: 4,
            flash_attention: true,
            kv_q8: false,
            max_feed: 1,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            SessionConfig {
                lanes: 256,
                window: 1 << 17,
                ..ok
            },
            SessionConfig { lanes: 0, ..ok },
            SessionConfig { lane_group: 0, ..ok },
            SessionConfig { lane_group: 9, ..ok },
            SessionConfig { slide: 0, ..ok },
            SessionConfig { slide: 4092, ..ok },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bytes_without_a_token_get_extra_symbols() {
        let pieces = vec![Vec::new(), b"a".to_vec(), b"ab".to_vec(), b"?".to_vec()];
        let vocab = Vocab::new(pieces, 0).unwrap();
        assert_eq!(vocab.n_model_tokens(), 4);
        assert_eq!(vocab.len(), 4 + 254);
        assert_eq!(vocab.piece(vocab.byte_token(0)), [0]);
        assert_eq!(
            vocab.model_input(vocab.byte_token(0)),
            3,
            "extra symbols feed the '?' token"
        );
        assert_eq!(vocab.byte_token(b'a'), 1);
    }
}
