//! A deterministic stand-in for the language model, so the whole pipeline (tokenizer, lanes, coder, container)
//! is tested without weights. It imitates the real backend's hazards on purpose: its tokenizer loses the bytes
//! 0x04 and 0x1D and invalid UTF-8, and its logits depend on the batch composition of the lane's group and on
//! the position inside the sliding window, so a decoder that does not replay the encoder's decode calls (and lane
//! groups) exactly fails the tests. Its groups run on worker threads like the real backend's.

use super::{for_each_group, Backend, LaneFeed, LanguageModel, LmError, ModelShape, SessionConfig, TokenId, Vocab};

/// Multi-byte pieces of the fake vocabulary, after the control token and the 256 byte tokens.
const WORDS: &[&str] = &[
    "the",
    " the",
    "The",
    "and",
    " and",
    "ing",
    "ion",
    " of",
    " to",
    " a",
    " in",
    "er",
    "th",
    "he",
    "in",
    "an",
    "re",
    "on",
    "at",
    "en",
    "nd",
    "es",
    "or",
    "te",
    "ed",
    "is",
    "it",
    "ou",
    "ar",
    "e ",
    "s ",
    ", ",
    ". ",
    "\n",
    "\n\n",
    "  ",
    "    ",
    "        ",
    "\r\n",
    "<|",
    "|>",
    "endoftext",
    "é",
    "日本",
    "ü",
];

/// Id of the first multi-byte piece.
const FIRST_WORD: TokenId = 255;

/// Bytes the fake tokenizer drops, like llama.cpp's drops 0x04 0x06 0x13 0x14 0x16 0x1D.
const LOST_BYTES: [u8; 2] = [0x04, 0x1D];

#[derive(Clone, Debug, Default)]
struct Lane {
    /// The last two tokens fed.
    last: [TokenId; 2],
    position: u32,
    /// For each token, the token that followed it last time (a bigram memory, so repeated text compresses).
    follower: Vec<Option<TokenId>>,
}

/// Deterministic fake language model (see the module docs).
pub struct FakeLm {
    vocab: Vocab,
    config: Option<SessionConfig>,
    lanes: Vec<Lane>,
    logits: Vec<Vec<f32>>,
    /// Worker threads that run the lane groups (never changes a logit, as with the real backend).
    workers: usize,
}

impl Default for FakeLm {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeLm {
    pub fn new() -> Self {
        // id 0: a control token with an empty piece (the BOS); ids 1..=254: bytes 0xFF..0x02 in reverse order,
        // so a byte token's id is never the byte's value; bytes 0x00 and 0x01 have no token of their own, like the
        // 21 bytes SmolLM2's GGUF lacks; then the words.
        let mut pieces = vec![Vec::new()];
        pieces.extend((2..=255u8).rev().map(|b| vec![b]));
        pieces.extend(WORDS.iter().map(|w| w.as_bytes().to_vec()));
        let vocab = Vocab::new(pieces, 0).expect("the fake vocabulary covers every byte");
        Self {
            vocab,
            config: None,
            lanes: Vec::new(),
            logits: Vec::new(),
            workers: 1,
        }
    }

    /// The same model, running its lane groups on `workers` threads.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    fn longest_piece_at(&self, text: &[u8]) -> (TokenId, usize) {
        let mut best = (self.vocab.byte_token(text[0]), 1);
        for id in FIRST_WORD..self.vocab.n_model_tokens() as TokenId {
            let piece = self.vocab.piece(id);
            if piece.len() > best.1 && text.starts_with(piece) {
                best = (id, piece.len());
            }
        }
        best
    }

    fn feed_lane(lane: &mut Lane, feed: &LaneFeed<'_>, config: &SessionConfig, vocab: &Vocab) -> Result<(), LmError> {
        if feed.tokens.len() > config.max_feed as usize {
            return Err(LmError::Config(format!(
                "{} tokens for one lane in a step, at most {}",
                feed.tokens.len(),
                config.max_feed
            )));
        }
        // Like the llama.cpp backend: one slide before the step when its tokens would not fit.
        if lane.position + feed.tokens.len() as u32 > config.window {
            lane.position -= config.slide;
        }
        for &token in feed.tokens {
            if token as usize >= vocab.len() {
                return Err(LmError::TokenOutOfRange {
                    token,
                    n_vocab: vocab.len(),
                });
            }
            let token = vocab.model_input(token);
            if lane.follower.is_empty() {
                lane.follower = vec![None; vocab.n_model_tokens()];
            }
            lane.follower[lane.last[1] as usize] = Some(token);
            lane.last = [lane.last[1], token];
            lane.position += 1;
        }
        Ok(())
    }

    fn fill_logits(lane: &Lane, n_live: usize, out: &mut [f32]) {
        let n = out.len() as u64;
        let last = u64::from(lane.last[1]);
        let prev = u64::from(lane.last[0]);
        let favourite = (last * 31 + prev * 7 + 3) % n;
        let mut state = last.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ prev ^ (u64::from(lane.position) << 32);
        for (v, logit) in out.iter_mut().enumerate() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 40) as f32) / (1u64 << 24) as f32;
            *logit = noise * 2.0 + if v as u64 == favourite { 3.0 } else { 0.0 };
        }
        // Byte tokens of printable ASCII get a boost so text compresses a little, as with a real model.
        for b in b' '..=b'z' {
            out[256 - b as usize] += 1.5;
        }
        if let Some(next) = lane.follower.get(last as usize).copied().flatten() {
            out[next as usize] += 8.0;
        }
        // Batch-composition and position sensitivity, like llama.cpp's kernels.
        out[(lane.position as usize) % out.len()] += 0.001 * n_live as f32;
    }
}

impl LanguageModel for FakeLm {
    fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn tokenize(&self, text: &[u8]) -> Vec<TokenId> {
        let mut tokens = Vec::with_capacity(text.len() / 2);
        for chunk in text.utf8_chunks() {
            let mut rest = chunk.valid().as_bytes();
            while !rest.is_empty() {
                if LOST_BYTES.contains(&rest[0]) {
                    rest = &rest[1..];
                    continue;
                }
                let (token, len) = self.longest_piece_at(rest);
                tokens.push(token);
                rest = &rest[len..];
            }
            // Invalid UTF-8 is silently dropped, as llama.cpp does.
        }
        tokens
    }

    /// SmolLM2's, so memory limits act on the fake model as on the real one.
    fn shape(&self) -> ModelShape {
        ModelShape::SMOLLM2_135M
    }

    fn fingerprint(&self) -> [u8; 32] {
        let mut fp = [0u8; 32];
        fp[..8].copy_from_slice(b"fake-lm1");
        fp
    }

    fn engine_id(&self) -> String {
        "fake-lm/1".to_string()
    }

    fn backend(&self) -> Backend {
        Backend::Cpu { features: 0 }
    }

    fn begin(&mut self, config: SessionConfig) -> Result<(), LmError> {
        config.validate()?;
        self.lanes = vec![Lane::default(); config.lanes as usize];
        self.logits = vec![vec![0.0; self.vocab.n_model_tokens()]; config.lanes as usize];
        self.config = Some(config);
        Ok(())
    }

    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        let state = self
            .lanes
            .get_mut(lane)
            .ok_or_else(|| LmError::Config(format!("lane {lane} does not exist")))?;
        *state = Lane::default();
        Ok(())
    }

    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        let config = self.config.ok_or_else(|| LmError::Config("step before begin".into()))?;
        if feed.len() != self.lanes.len() {
            return Err(LmError::Config(format!(
                "{} feeds for {} lanes",
                feed.len(),
                self.lanes.len()
            )));
        }
        if feed.iter().all(|f| f.tokens.is_empty()) {
            return Err(LmError::Decode("a step with no token".into()));
        }
        let vocab = &self.vocab;
        let size = config.lane_group as usize;
        // Each group is one "context": it sees only its own lanes' tokens, like a llama.cpp context.
        let mut groups: Vec<_> = self
            .lanes
            .chunks_mut(size)
            .zip(self.logits.chunks_mut(size))
            .zip(feed.chunks(size))
            .collect();
        for_each_group(&mut groups, self.workers, |_, ((lanes, logits), feed)| {
            let n_live: usize = feed.iter().map(|f| f.tokens.len()).sum();
            for ((lane, logits), lane_feed) in lanes.iter_mut().zip(logits.iter_mut()).zip(feed.iter()) {
                Self::feed_lane(lane, lane_feed, &config, vocab)?;
                if lane_feed.logits && !lane_feed.tokens.is_empty() {
                    Self::fill_logits(lane, n_live, logits);
                }
            }
            Ok(())
        })
    }

    fn logits(&self, lane: usize) -> &[f32] {
        &self.logits[lane]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_is_lossy_like_llama_cpp() {
        let lm = FakeLm::new();
        let text = b"the\x04 cat\xff\n";
        let pieces: Vec<u8> = lm
            .tokenize(text)
            .iter()
            .flat_map(|&t| lm.vocab().piece(t).to_vec())
            .collect();
        assert_eq!(pieces, b"the cat\n");
    }

    #[test]
    fn logits_depend_on_batch_composition() {
        let config = SessionConfig {
            lanes: 2,
            lane_group: 2,
            window: 16,
            slide: 4,
            sink: 2,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        };
        let mut a = FakeLm::new();
        a.begin(config).unwrap();
        a.step(&[LaneFeed::one(&5), LaneFeed::default()]).unwrap();
        let mut b = FakeLm::new();
        b.begin(config).unwrap();
        b.step(&[LaneFeed::one(&5), LaneFeed::one(&6)]).unwrap();
        assert_ne!(a.logits(0), b.logits(0));
        // In groups of one lane, lane 0 no longer sees lane 1's token; on any number of workers.
        let grouped = SessionConfig {
            lane_group: 1,
            ..config
        };
        let mut logits = Vec::new();
        for (workers, feed_lane_1) in [(1, false), (1, true), (2, true)] {
            let mut lm = FakeLm::new().with_workers(workers);
            lm.begin(grouped).unwrap();
            let second = if feed_lane_1 {
                LaneFeed::one(&6)
            } else {
                LaneFeed::default()
            };
            lm.step(&[LaneFeed::one(&5), second]).unwrap();
            logits.push(lm.logits(0).to_vec());
        }
        assert_eq!(logits[0], logits[1]);
        assert_eq!(logits[1], logits[2]);
        assert_ne!(logits[1], b.logits(0));
    }
}
