//! The llama.cpp backend: one multi-sequence `llama_decode` per step over all live lanes, each lane its own KV
//! stream (`kv_unified = false`), a sliding window kept by KV removal plus position shift (never by re-evaluating
//! the window), and the vocabulary read from the GGUF.

mod ffi;
mod threads;

use std::path::Path;

use crate::lm::{LaneFeed, LanguageModel, LmError, ModelShape, SessionConfig, TokenId, Vocab, CONTEXT_PAD};
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
    // Leaked once per process: the context borrows the model for 'static, which keeps this struct movable.
    model: &'static Model,
    vocab: Vocab,
    fingerprint: [u8; 32],
    shape: ModelShape,
    threads: Threads,
    session: Option<Session>,
}

struct Session {
    config: SessionConfig,
    context: Context<'static>,
    batch: Batch,
    lanes: Vec<Lane>,
    /// Threads the context decodes with now.
    threads: usize,
}

impl LlamaLm {
    /// Loads a GGUF model. `fingerprint` is the file's sha256 (computed and cached by the caller); `threads` is
    /// how many threads its decodes use.
    pub fn load(path: &Path, fingerprint: [u8; 32], threads: Threads) -> Result<Self, LmError> {
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
            session: None,
        })
    }

    fn session(&mut self) -> Result<&mut Session, LmError> {
        self.session
            .as_mut()
            .ok_or_else(|| LmError::Config("step before begin".into()))
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
        // Drop the old context before allocating the new one.
        self.session = None;
        let n_ctx = config
            .lanes
            .checked_mul(config.window)
            .filter(|&n| n > 0)
            .ok_or_else(|| LmError::Config("lanes × window overflows".into()))?;
        // n_batch = n_ubatch = lanes × max_feed: a step never holds more tokens, and a ubatch size fixed by the
        // header keeps the kernels' split of the batch identical on both sides.
        let batch_tokens = config.lanes * config.max_feed;
        let threads = self.threads.now();
        let context = Context::new(
            self.model,
            &ContextParams {
                n_ctx,
                n_batch: batch_tokens,
                n_seq_max: config.lanes,
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
        let lanes = (0..config.lanes)
            .map(|_| Lane {
                position: 0,
                batch_index: None,
            })
            .collect();
        let batch = Batch::new(batch_tokens as usize, config.lanes as i32);
        self.session = Some(Session {
            config,
            context,
            batch,
            lanes,
            threads,
        });
        Ok(())
    }

    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        let session = self.session()?;
        let state = session
            .lanes
            .get_mut(lane)
            .ok_or_else(|| LmError::Config(format!("lane {lane} does not exist")))?;
        if !session.context.seq_rm(lane as i32, -1, -1) {
            return Err(LmError::KvCache(format!("lane {lane} could not be emptied")));
        }
        state.position = 0;
        state.batch_index = None;
        Ok(())
    }

    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        let Self {
            vocab,
            session,
            threads,
            ..
        } = self;
        let n_vocab = vocab.len();
        let session = session
            .as_mut()
            .ok_or_else(|| LmError::Config("step before begin".into()))?;
        if feed.len() != session.lanes.len() {
            return Err(LmError::Config(format!(
                "{} feeds for {} lanes",
                feed.len(),
                session.lanes.len()
            )));
        }
        let SessionConfig {
            window,
            slide,
            sink,
            max_feed,
            ..
        } = session.config;
        session.batch.clear();
        for (lane_id, lane_feed) in feed.iter().enumerate() {
            let lane = &mut session.lanes[lane_id];
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
            let seq = lane_id as i32;
            // max_feed ≤ slide, so one slide always makes room.
            if lane.position + n > window {
                // Keep the first `sink` tokens (the model leans on them as attention sinks; dropping them costs
                // far more than their context is worth), drop the `slide` tokens after them and shift the rest
                // down. RoPE is re-applied lazily at the next decode.
                if !session.context.seq_rm(seq, sink as i32, (sink + slide) as i32) {
                    return Err(LmError::KvCache(format!("lane {lane_id}'s window could not slide")));
                }
                session.context.seq_add(seq, (sink + slide) as i32, -1, -(slide as i32));
                lane.position -= slide;
            }
            for (i, &token) in lane_feed.tokens.iter().enumerate() {
                if token as usize >= n_vocab {
                    return Err(LmError::TokenOutOfRange { token, n_vocab });
                }
                let last = i + 1 == lane_feed.tokens.len();
                if last && lane_feed.logits {
                    lane.batch_index = Some(session.batch.len());
                }
                session.batch.push(
                    vocab.model_input(token),
                    lane.position as i32,
                    seq,
                    last && lane_feed.logits,
                )?;
                lane.position += 1;
            }
        }
        if session.batch.len() == 0 {
            return Err(LmError::Decode("a step with no token".into()));
        }
        let wanted = threads.now();
        if wanted != session.threads {
            session.context.set_threads(i32::try_from(wanted).unwrap_or(i32::MAX));
            session.threads = wanted;
        }
        session.context.decode(&session.batch)
    }

    fn logits(&self, lane: usize) -> &[f32] {
        let session = self.session.as_ref().expect("logits before begin");
        let index = session.lanes[lane]
            .batch_index
            .expect("logits of a lane not fed in the last step");
        session.context.logits(index, self.vocab.n_model_tokens())
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
