//! The llama.cpp backend: one multi-sequence `llama_decode` per step over all live lanes, each lane its own KV
//! stream (`kv_unified = false`), a sliding window kept by KV removal plus position shift (never by re-evaluating
//! the window), and the vocabulary read from the GGUF.

use std::ffi::CStr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::lm::{LaneFeed, LanguageModel, LmError, SessionConfig, TokenId, Vocab, CONTEXT_PAD};

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend, LmError> {
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| LmError::Context(format!("llama.cpp backend: {e}")))
}

/// The llama.cpp bindings this build links (pinned in Cargo.toml; a test checks Cargo.lock agrees).
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";

/// The engine and ISA this binary's llama.cpp was built for, e.g.
/// `llama-cpp-sys-2=0.1.161 cpu[CPU : SSE3 = 1,AVX2 = 1,...]`. Logits differ between ISA levels, so a file records
/// a hash of this and is only decoded by a binary reporting the same string.
pub fn engine_id() -> String {
    // SAFETY: llama_print_system_info returns a static NUL-terminated string.
    let info = unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
    let info = info.to_string_lossy();
    // Keep the compiled CPU feature flags only; anything about the running machine would differ between hosts.
    let features: Vec<&str> = info
        .split('|')
        .map(str::trim)
        .filter(|f| f.ends_with("= 1") && !f.starts_with("REPACK"))
        .collect();
    format!("llama-cpp-sys-2={LLAMA_CPP_SYS_VERSION} cpu[{}]", features.join(","))
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
    model: &'static LlamaModel,
    vocab: Vocab,
    fingerprint: [u8; 32],
    threads: i32,
    session: Option<Session>,
}

struct Session {
    config: SessionConfig,
    context: LlamaContext<'static>,
    batch: LlamaBatch<'static>,
    lanes: Vec<Lane>,
}

impl LlamaLm {
    /// Loads a GGUF model. `fingerprint` is the file's sha256 (computed and cached by the caller).
    pub fn load(path: &Path, fingerprint: [u8; 32], threads: usize) -> Result<Self, LmError> {
        let load_err = |reason: String| LmError::Load {
            path: path.display().to_string(),
            reason,
        };
        let backend = backend()?;
        let params = LlamaModelParams::default().with_n_gpu_layers(0);
        let model = LlamaModel::load_from_file(backend, path, &params).map_err(|e| load_err(e.to_string()))?;
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let llama_vocab = model.vocab();
        let n_vocab =
            usize::try_from(llama_vocab.n_tokens()).map_err(|_| load_err("negative vocabulary size".into()))?;
        let pieces = (0..n_vocab)
            .map(|id| llama_vocab.token_to_piece(LlamaToken(id as i32), false, None))
            .collect();
        let bos = u32::try_from(llama_vocab.bos().0).map_err(|_| load_err("the model has no BOS token".into()))?;
        let vocab = Vocab::new(pieces, bos).map_err(|e| load_err(e.to_string()))?;
        let threads = i32::try_from(threads.max(1)).unwrap_or(i32::MAX);
        Ok(Self {
            model,
            vocab,
            fingerprint,
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
        self.model
            .vocab()
            .tokenize(text, false, false)
            .into_iter()
            .filter_map(|t| u32::try_from(t.0).ok())
            .collect()
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
            .and_then(NonZeroU32::new)
            .ok_or_else(|| LmError::Config("lanes × window overflows".into()))?;
        let flash = if config.flash_attention {
            llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED
        } else {
            llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED
        };
        let kv_type = if config.kv_q8 {
            KvCacheType::Q8_0
        } else {
            KvCacheType::F16
        };
        // n_batch = n_ubatch = lanes × max_feed: a step never holds more tokens, and a ubatch size fixed by the
        // header keeps the kernels' split of the batch identical on both sides.
        let batch_tokens = config.lanes * config.max_feed;
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(n_ctx))
            .with_n_batch(batch_tokens)
            .with_n_ubatch(batch_tokens)
            .with_n_seq_max(config.lanes)
            .with_kv_unified(false)
            .with_flash_attention_policy(flash)
            .with_type_k(kv_type)
            .with_type_v(kv_type)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads)
            .with_no_perf(true);
        let context = self
            .model
            .new_context(backend()?, params)
            .map_err(|e| LmError::Context(e.to_string()))?;
        if context.n_ctx() != n_ctx.get() {
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
        let batch = LlamaBatch::new(batch_tokens as usize, config.lanes as i32);
        self.session = Some(Session {
            config,
            context,
            batch,
            lanes,
        });
        Ok(())
    }

    fn reset_lane(&mut self, lane: usize) -> Result<(), LmError> {
        let session = self.session()?;
        let state = session
            .lanes
            .get_mut(lane)
            .ok_or_else(|| LmError::Config(format!("lane {lane} does not exist")))?;
        session
            .context
            .clear_kv_cache_seq(Some(lane as u32), None, None)
            .map_err(|e| LmError::KvCache(e.to_string()))?;
        state.position = 0;
        state.batch_index = None;
        Ok(())
    }

    fn step(&mut self, feed: &[LaneFeed<'_>]) -> Result<(), LmError> {
        let Self { vocab, session, .. } = self;
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
                session
                    .context
                    .kv_cache_seq_rm(seq, Some(sink), Some(sink + slide))
                    .map_err(|e| LmError::KvCache(e.to_string()))?;
                session
                    .context
                    .kv_cache_seq_add(seq, Some(sink + slide), None, -(slide as i32))
                    .map_err(|e| LmError::KvCache(e.to_string()))?;
                lane.position -= slide;
            }
            for (i, &token) in lane_feed.tokens.iter().enumerate() {
                if token as usize >= n_vocab {
                    return Err(LmError::TokenOutOfRange { token, n_vocab });
                }
                let last = i + 1 == lane_feed.tokens.len();
                if last && lane_feed.logits {
                    lane.batch_index = Some(session.batch.n_tokens());
                }
                session
                    .batch
                    .add(
                        LlamaToken(vocab.model_input(token) as i32),
                        lane.position as i32,
                        &[seq],
                        last && lane_feed.logits,
                    )
                    .map_err(|e| LmError::Decode(e.to_string()))?;
                lane.position += 1;
            }
        }
        if session.batch.n_tokens() == 0 {
            return Err(LmError::Decode("a step with no token".into()));
        }
        session
            .context
            .decode(&mut session.batch)
            .map_err(|e| LmError::Decode(e.to_string()))
    }

    fn logits(&self, lane: usize) -> &[f32] {
        let session = self.session.as_ref().expect("logits before begin");
        let index = session.lanes[lane]
            .batch_index
            .expect("logits of a lane not fed in the last step");
        session.context.get_logits_ith(index)
    }
}

#[cfg(test)]
mod tests {
    /// The engine id names the bindings version; it must be the one Cargo.lock actually links.
    #[test]
    fn engine_version_matches_the_lock_file() {
        let lock = include_str!("../../Cargo.lock");
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
