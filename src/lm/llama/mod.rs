//! The llama.cpp backend: one context per lane group and one multi-sequence `llama_decode` per group and step
//! over its live lanes (groups decoded in parallel by worker threads), each lane its own KV stream
//! (`kv_unified = false`), a sliding window kept by KV removal plus position shift (never by re-evaluating the
//! window), and the vocabulary read from the GGUF.

mod ffi;
mod threads;

use std::path::Path;

use crate::lm::{
    for_each_group, Backend, LaneFeed, LanguageModel, LmError, ModelShape, SessionConfig, TokenId, Vocab, CONTEXT_PAD,
};
use ffi::{Batch, Context, ContextParams, Model};
pub use threads::Threads;

/// The llama.cpp bindings this build links (pinned in Cargo.toml; a test checks Cargo.lock agrees).
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";

/// The engine and ISA this binary's llama.cpp was built for, e.g.
/// `llama-cpp-sys-2=0.1.161 cpu[CPU : SSE3 = 1,AVX2 = 1,...]`. Logits differ between ISA levels, so a file records
/// a hash of this and is only decoded by a binary reporting the same string.
pub fn engine_id() -> String {
    let info = ffi::system_info();
    // Keep the compiled CPU feature flags only; anything about the running machine would differ between hosts.
    let features: Vec<&str> = info
        .split('|')
        .map(str::trim)
        .filter(|f| f.ends_with("= 1") && !f.starts_with("REPACK"))
        .collect();
    format!("llama-cpp-sys-2={LLAMA_CPP_SYS_VERSION} cpu[{}]", features.join(","))
}

/// The model's dimensions as llama.cpp sizes its buffers. The head size comes from the GGUF's
/// `<arch>.attention.key_length` where present (Gemma 3: 256, not its width over its heads).
fn model_shape(model: &Model) -> ModelShape {
    let n_head = model.n_head().max(1);
    let n_embd = model.n_embd();
    let head_size = model
        .meta("general.architecture")
        .and_then(|arch| model.meta(&format!("{arch}.attention.key_length")))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(n_embd / n_head);
    ModelShape {
        n_layer: model.n_layer(),
        n_head,
        kv_width: model.n_head_kv() * head_size,
        n_embd,
        n_vocab: model.n_vocab() as u64,
    }
}

struct Lane {
    /// Next position to write; equals the number of tokens in the lane's KV cache.
    position: u32,
    /// Index in the last batch whose logits belong to this lane.
    batch_index: Option<i32>,
}

/// SmolLM2 (or any llama.cpp GGUF) as a [`LanguageModel`].
pub struct LlamaLm {
    model: &'static Model,
    vocab: Vocab,
    fingerprint: [u8; 32],
    shape: ModelShape,
    threads: Threads,
    /// Worker threads that decode the lane groups of a step in parallel (never changes a logit).
    workers: usize,
    session: Option<Session>,
}

struct Session {
    config: SessionConfig,
    groups: Vec<Group>,
}

/// One lane group: a llama.cpp context whose sequences are the group's lanes.
struct Group {
    context: Context<'static>,
    batch: Batch,
    lanes: Vec<Lane>,
    /// Threads the context decodes with now.
    threads: usize,
}

impl LlamaLm {
    /// Loads a GGUF model. `fingerprint` is the file's sha256 (computed and cached by the caller); `threads` is
    /// how many threads its decodes use in all, shared by `workers` worker threads.
    pub fn load(path: &Path, fingerprint: [u8; 32], threads: Threads, workers: usize) -> Result<Self, LmError> {
        let load_err = |reason: String| LmError::Load {
            path: path.display().to_string(),
            reason,
        };
        let model: &'static Model = Box::leak(Box::new(Model::load(path).map_err(load_err)?));
        let pieces = (0..model.n_vocab() as TokenId).map(|id| model.piece(id)).collect();
        let bos = model
            .bos()
            .ok_or_else(|| load_err("the model has no BOS token".into()))?;
        let vocab = Vocab::new(pieces, bos).map_err(|e| load_err(e.to_string()))?;
        let shape = model_shape(model);
        Ok(Self {
            model,
            vocab,
            fingerprint,
            shape,
            threads,
            workers: workers.max(1),
            session: None,
        })
    }

    /// Threads each context decodes with when `total` are available to the session.
    fn threads_per_context(&self, total: usize, groups: usize) -> usize {
        (total / self.workers.min(groups).max(1)).max(1)
    }

    fn group_of(&mut self, lane: usize) -> Result<(&mut Group, usize), LmError> {
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| LmError::Config("step before begin".into()))?;
        let size = session.config.lane_group as usize;
        if lane >= session.config.lanes as usize {
            return Err(LmError::Config(format!("lane {lane} does not exist")));
        }
        Ok((&mut session.groups[lane / size], lane % size))
    }
}

impl LanguageModel for LlamaLm {
    fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn tokenize(&self, text: &[u8]) -> Vec<TokenId> {
        // parse_special = false: literal "<|endoftext|>" stays text.
        self.model.tokenize(text)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn engine_id(&self) -> String {
        engine_id()
    }

    fn backend(&self) -> Backend {
        Backend::cpu_from_system_info(&ffi::system_info())
    }

    fn begin(&mut self, config: SessionConfig) -> Result<(), LmError> {
        config.validate()?;
        if config.window > self.model.n_ctx_train() {
            return Err(LmError::Config(format!(
                "the window of {} tokens exceeds the model's training context of {}",
                config.window,
                self.model.n_ctx_train()
            )));
        }
        if !config.window.is_multiple_of(CONTEXT_PAD) {
            return Err(LmError::Config(format!(
                "llama.cpp needs a window that is a multiple of {CONTEXT_PAD} tokens, got {}",
                config.window
            )));
        }
        // Drop the old contexts before allocating the new ones.
        self.session = None;
        let n_groups = config.lane_groups().count();
        let total_threads = self.threads.now();
        let threads = self.threads_per_context(total_threads, n_groups);
        let mut groups = Vec::with_capacity(n_groups);
        for lanes in config.lane_groups() {
            let n_lanes = lanes.len() as u32;
            let n_ctx = n_lanes
                .checked_mul(config.window)
                .filter(|&n| n > 0)
                .ok_or_else(|| LmError::Config("lanes × window overflows".into()))?;
            // n_batch = n_ubatch = the group's lanes × max_feed: a step never holds more tokens, and a ubatch size
            // fixed by the header keeps the kernels' split of the batch identical on both sides.
            let batch_tokens = n_lanes * config.max_feed;
            let context = Context::new(
                self.model,
                &ContextParams {
                    n_ctx,
                    n_batch: batch_tokens,
                    n_seq_max: n_lanes,
                    flash_attention: config.flash_attention,
                    kv_q8: config.kv_q8,
                    threads: i32::try_from(threads).unwrap_or(i32::MAX),
                },
            )?;
            if context.n_ctx() != n_ctx {
                return Err(LmError::Context(format!(
                    "llama.cpp gave a context of {} cells, {} were asked for",
                    context.n_ctx(),
                    n_ctx
                )));
            }
            groups.push(Group {
                context,
                batch: Batch::new(batch_tokens as usize, n_lanes as i32),
                lanes: lanes
                    .map(|_| Lane {
                        position: 0,
                        batch_index: None,
                    })
                    .collect(),
                threads,
            });
        }
        self.session = Some(Session { config, groups });
        Ok(())
    }

    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        let (group, seq) = self.group_of(lane)?;
        if !group.context.seq_rm(seq as i32, -1, -1) {
            return Err(LmError::KvCache(format!("lane {lane} could not be emptied")));
        }
        group.lanes[seq] = Lane {
            position: 0,
            batch_index: None,
        };
        Ok(())
    }

    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        let total_threads = self.threads.now();
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| LmError::Config("step before begin".into()))?;
        if feed.len() != session.config.lanes as usize {
            return Err(LmError::Config(format!(
                "{} feeds for {} lanes",
                feed.len(),
                session.config.lanes
            )));
        }
        if feed.iter().all(|f| f.tokens.is_empty()) {
            return Err(LmError::Decode("a step with no token".into()));
        }
        let threads = self.threads_per_context(total_threads, session.groups.len());
        let Self {
            vocab,
            session,
            workers,
            ..
        } = self;
        let session = session.as_mut().expect("checked above");
        let config = session.config;
        let group_size = config.lane_group as usize;
        let vocab = &*vocab;
        for_each_group(&mut session.groups, *workers, |g, group| {
            let first_lane = g * group_size;
            let feed = &feed[first_lane..first_lane + group.lanes.len()];
            if feed.iter().all(|f| f.tokens.is_empty()) {
                // The group sits the step out: no decode, as on the other side.
                group.lanes.iter_mut().for_each(|lane| lane.batch_index = None);
                return Ok(());
            }
            group.fill_batch(feed, first_lane, &config, vocab)?;
            if threads != group.threads {
                group.context.set_threads(i32::try_from(threads).unwrap_or(i32::MAX));
                group.threads = threads;
            }
            group.context.decode(&group.batch)
        })
    }

    fn logits(&self, lane: usize) -> &[f32] {
        let session = self.session.as_ref().expect("logits before begin");
        let size = session.config.lane_group as usize;
        let group = &session.groups[lane / size];
        let index = group.lanes[lane % size]
            .batch_index
            .expect("logits of a lane not fed in the last step");
        group.context.logits(index, self.vocab.n_model_tokens())
    }
}

impl Group {
    /// Puts the group's tokens of a step into its batch, sliding a lane's window first where they would not fit.
    fn fill_batch(
        &mut self,
        feed: &[LaneFeed<'_>],
        first_lane: usize,
        config: &SessionConfig,
        vocab: &Vocab,
    ) -> Result<(), LmError> {
        let n_vocab = vocab.len();
        let SessionConfig {
            window,
            slide,
            sink,
            max_feed,
            ..
        } = *config;
        self.batch.clear();
        for (seq, lane_feed) in feed.iter().enumerate() {
            let lane_id = first_lane + seq;
            let lane = &mut self.lanes[seq];
            lane.batch_index = None;
            let n = lane_feed.tokens.len() as u32;
            if n == 0 {
                continue;
            }
            if n > max_feed {
                return Err(LmError::Config(format!(
                    "{n} tokens for one lane in a step, at most {max_feed}"
                )));
            }
            let seq = seq as i32;
            // max_feed ≤ slide, so one slide always makes room.
            if lane.position + n > window {
                // Keep the first `sink` tokens (the model leans on them as attention sinks; dropping them costs
                // far more than their context is worth), drop the `slide` tokens after them and shift the rest
                // down. RoPE is re-applied lazily at the next decode.
                if !self.context.seq_rm(seq, sink as i32, (sink + slide) as i32) {
                    return Err(LmError::KvCache(format!("lane {lane_id}'s window could not slide")));
                }
                self.context.seq_add(seq, (sink + slide) as i32, -1, -(slide as i32));
                lane.position -= slide;
            }
            for (i, &token) in lane_feed.tokens.iter().enumerate() {
                if token as usize >= n_vocab {
                    return Err(LmError::TokenOutOfRange { token, n_vocab });
                }
                let last = i + 1 == lane_feed.tokens.len();
                if last && lane_feed.logits {
                    lane.batch_index = Some(self.batch.len());
                }
                self.batch.push(
                    vocab.model_input(token),
                    lane.position as i32,
                    seq,
                    last && lane_feed.logits,
                )?;
                lane.position += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The engine id names the bindings version; it must be the one Cargo.lock actually links.
    #[test]
    fn engine_version_matches_the_lock_file() {
        let lock = include_str!("../../../Cargo.lock");
        let entry = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"llama-cpp-sys-2\""))
            .unwrap();
        assert!(
            entry.contains(&format!("version = \"{}\"", super::LLAMA_CPP_SYS_VERSION)),
            "{entry}"
        );
    }
}
