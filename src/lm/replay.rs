//! Recording and replaying a language model's predictions, for tuning the online predictors: one slow pass of
//! the real model over a file is recorded, and every later run with the same tokens and lanes replays it in
//! seconds. A developer tool (`NACZ_LM_RECORD` / `NACZ_LM_REPLAY`), never used by default.
//!
//! A record keeps, per lane position that asked for logits, the [`TOP`] highest logits exactly, the logit of the
//! token fed next (when there is one), and one value for every other token that preserves their total probability.
//! Replayed distributions are therefore exact for the coded token (except a chunk's last) and close elsewhere.
//! Records are keyed by lane and position, so a run that asks for fewer positions (confidence skip) replays too.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{Backend, LaneFeed, LanguageModel, LmError, ModelShape, SessionConfig, TokenId, Vocab};

/// Logits kept exactly per position.
const TOP: usize = 128;
const NO_TOKEN: u32 = u32::MAX;

fn io_error(e: std::io::Error) -> LmError {
    LmError::Decode(format!("LM record: {e}"))
}

/// Wraps a model and writes everything it predicts to a file.
pub struct Recorder {
    inner: Box<dyn LanguageModel>,
    out: BufWriter<File>,
    /// Per lane: the full logits of its last step and their position, waiting for the token fed next.
    waiting: Vec<Option<(u32, Vec<f32>)>>,
    /// Tokens fed to each lane since its reset.
    positions: Vec<u32>,
    order: Vec<u32>,
}

impl Recorder {
    pub fn new(inner: Box<dyn LanguageModel>, path: &Path) -> Result<Self, LmError> {
        let out = BufWriter::new(File::create(path).map_err(io_error)?);
        Ok(Self {
            inner,
            out,
            waiting: Vec::new(),
            positions: Vec::new(),
            order: Vec::new(),
        })
    }

    /// Writes the record of a lane's last prediction, with the logit of `next` if known.
    fn flush_lane(&mut self, lane: usize, next: Option<TokenId>) -> Result<(), LmError> {
        let Some((position, logits)) = self.waiting[lane].take() else {
            return Ok(());
        };
        self.order.clear();
        self.order.extend(0..logits.len() as u32);
        let top = TOP.min(logits.len());
        self.order.select_nth_unstable_by(top.saturating_sub(1), |&a, &b| {
            logits[b as usize].total_cmp(&logits[a as usize])
        });
        let max = f64::from(logits.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let rest: f64 = self.order[top..]
            .iter()
            .map(|&t| (f64::from(logits[t as usize]) - max).exp())
            .sum();
        let rest_count = (logits.len() - top).max(1) as f64;
        let residual = if rest > 0.0 {
            (rest / rest_count).ln() + max
        } else {
            f64::from(f32::MIN)
        };
        let mut record = Vec::with_capacity(16 + top * 8);
        record.extend_from_slice(&(lane as u32).to_le_bytes());
        record.extend_from_slice(&position.to_le_bytes());
        record.extend_from_slice(&(residual as f32).to_le_bytes());
        let (next_id, next_logit) = match next {
            Some(t) if (t as usize) < logits.len() => (t, logits[t as usize]),
            _ => (NO_TOKEN, 0.0),
        };
        record.extend_from_slice(&next_id.to_le_bytes());
        record.extend_from_slice(&next_logit.to_le_bytes());
        for &t in &self.order[..top] {
            record.extend_from_slice(&t.to_le_bytes());
            record.extend_from_slice(&logits[t as usize].to_le_bytes());
        }
        self.out.write_all(&record).map_err(io_error)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for lane in 0..self.waiting.len() {
            let _ = self.flush_lane(lane, None);
        }
        let _ = self.out.flush();
    }
}

impl LanguageModel for Recorder {
    fn vocab(&self) -> &Vocab {
        self.inner.vocab()
    }
    fn tokenize(&self, text: &[u8]) -> Vec<TokenId> {
        self.inner.tokenize(text)
    }
    fn shape(&self) -> ModelShape {
        self.inner.shape()
    }
    fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint()
    }
    fn engine_id(&self) -> String {
        self.inner.engine_id()
    }
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn begin(&mut self, config: SessionConfig) -> Result<(), LmError> {
        for lane in 0..self.waiting.len() {
            self.flush_lane(lane, None)?;
        }
        self.waiting = vec![None; config.lanes as usize];
        self.positions = vec![0; config.lanes as usize];
        self.inner.begin(config)
    }
    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        self.flush_lane(lane, None)?;
        self.positions[lane] = 0;
        self.inner.reset_lane(lane)
    }
    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        for (lane, lane_feed) in feed.iter().enumerate() {
            if let Some(&first) = lane_feed.tokens.first() {
                self.flush_lane(lane, Some(first))?;
            }
        }
        self.inner.step(feed)?;
        for (lane, lane_feed) in feed.iter().enumerate() {
            self.positions[lane] += lane_feed.tokens.len() as u32;
            if lane_feed.logits && !lane_feed.tokens.is_empty() {
                self.waiting[lane] = Some((self.positions[lane], self.inner.logits(lane).to_vec()));
            }
        }
        Ok(())
    }
    fn logits(&self, lane: usize) -> &[f32] {
        self.inner.logits(lane)
    }
}

/// Wraps a model (for its vocabulary and tokenizer) and replays a record instead of running it.
pub struct Replayer {
    inner: Box<dyn LanguageModel>,
    /// Per (lane, position): the record's residual logit, next token and its logit, and top logits.
    records: HashMap<(u32, u32), Record>,
    positions: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

struct Record {
    residual: f32,
    next: (u32, f32),
    top: Vec<(u32, f32)>,
}

impl Replayer {
    pub fn new(inner: Box<dyn LanguageModel>, path: &Path) -> Result<Self, LmError> {
        let mut input = BufReader::new(File::open(path).map_err(io_error)?);
        let top = TOP.min(inner.vocab().n_model_tokens());
        let mut records = HashMap::new();
        let mut word = [0u8; 4];
        let mut read = |input: &mut BufReader<File>| -> Result<u32, LmError> {
            input.read_exact(&mut word).map_err(io_error)?;
            Ok(u32::from_le_bytes(word))
        };
        while !input.fill_buf().map_err(io_error)?.is_empty() {
            let key = (read(&mut input)?, read(&mut input)?);
            let residual = f32::from_bits(read(&mut input)?);
            let next = (read(&mut input)?, f32::from_bits(read(&mut input)?));
            let mut pairs = Vec::with_capacity(top);
            for _ in 0..top {
                pairs.push((read(&mut input)?, f32::from_bits(read(&mut input)?)));
            }
            records.insert(
                key,
                Record {
                    residual,
                    next,
                    top: pairs,
                },
            );
        }
        Ok(Self {
            inner,
            records,
            positions: Vec::new(),
            logits: Vec::new(),
        })
    }
}

impl LanguageModel for Replayer {
    fn vocab(&self) -> &Vocab {
        self.inner.vocab()
    }
    fn tokenize(&self, text: &[u8]) -> Vec<TokenId> {
        self.inner.tokenize(text)
    }
    fn shape(&self) -> ModelShape {
        self.inner.shape()
    }
    fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint()
    }
    fn engine_id(&self) -> String {
        self.inner.engine_id()
    }
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn begin(&mut self, config: SessionConfig) -> Result<(), LmError> {
        self.logits = vec![Vec::new(); config.lanes as usize];
        self.positions = vec![0; config.lanes as usize];
        Ok(())
    }
    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        self.positions[lane] = 0;
        Ok(())
    }
    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        let n_vocab = self.inner.vocab().n_model_tokens();
        for (lane, lane_feed) in feed.iter().enumerate() {
            self.positions[lane] += lane_feed.tokens.len() as u32;
            if !lane_feed.logits || lane_feed.tokens.is_empty() {
                continue;
            }
            let key = (lane as u32, self.positions[lane]);
            let record = self.records.get(&key).ok_or_else(|| {
                LmError::Decode(format!(
                    "the LM record has no prediction for lane {} at position {}: not the same input and lanes",
                    key.0, key.1
                ))
            })?;
            let logits = &mut self.logits[lane];
            logits.clear();
            logits.resize(n_vocab, record.residual);
            for &(t, logit) in &record.top {
                logits[(t as usize).min(n_vocab - 1)] = logit;
            }
            if record.next.0 != NO_TOKEN {
                logits[(record.next.0 as usize).min(n_vocab - 1)] = record.next.1;
            }
        }
        Ok(())
    }
    fn logits(&self, lane: usize) -> &[f32] {
        &self.logits[lane]
    }
}
