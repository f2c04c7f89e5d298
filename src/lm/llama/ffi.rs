//! Owned, safe wrappers over the few llama.cpp calls the backend makes (through `llama-cpp-sys-2`): the process
//! backend, a model, a context and a batch, each freed on drop.
//!
//! Why not the `llama-cpp-2` crate: it offers no way to change a context's thread count (`llama_set_n_threads`),
//! which following the load of the machine needs, and it hides the raw pointers that the planned lane-group
//! workers (several contexts over one model) and device placement need. The calls and parameters are exactly
//! those `llama-cpp-2` made, so logits and tokens are unchanged.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::OnceLock;

use llama_cpp_sys_2 as sys;

use crate::lm::{LmError, TokenId};

static BACKEND: OnceLock<()> = OnceLock::new();

/// Initializes llama.cpp once per process, with its logging silenced.
fn backend() {
    BACKEND.get_or_init(|| {
        unsafe extern "C" fn silent(_: sys::ggml_log_level, _: *const c_char, _: *mut c_void) {}
        // SAFETY: called once, before any other llama.cpp call; the callback ignores its arguments.
        unsafe {
            sys::llama_backend_init();
            sys::llama_log_set(Some(silent), std::ptr::null_mut());
        }
    });
}

/// A loaded model. Contexts borrow it.
pub struct Model(NonNull<sys::llama_model>);

// SAFETY: a llama_model is immutable once loaded and llama.cpp allows its use from any thread.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the pointer came from llama_model_load_from_file and no context outlives the model.
        unsafe { sys::llama_model_free(self.0.as_ptr()) }
    }
}

impl Model {
    /// Loads a GGUF file for the CPU (no layer offloaded).
    pub fn load(path: &Path) -> Result<Self, String> {
        backend();
        let path = path.to_str().ok_or("the path is not UTF-8")?;
        let path = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: plain value type filled by llama.cpp.
        let mut params = unsafe { sys::llama_model_default_params() };
        params.n_gpu_layers = 0;
        // SAFETY: a valid NUL-terminated path and parameters from llama.cpp's defaults.
        let model = unsafe { sys::llama_model_load_from_file(path.as_ptr(), params) };
        NonNull::new(model)
            .map(Self)
            .ok_or_else(|| "llama.cpp could not load it".into())
    }

    fn vocab(&self) -> *const sys::llama_vocab {
        // SAFETY: a valid model; the vocabulary lives as long as the model.
        unsafe { sys::llama_model_get_vocab(self.0.as_ptr()) }
    }

    pub fn n_vocab(&self) -> usize {
        // SAFETY: a valid vocabulary.
        usize::try_from(unsafe { sys::llama_vocab_n_tokens(self.vocab()) }).unwrap_or(0)
    }

    pub fn bos(&self) -> Option<TokenId> {
        // SAFETY: a valid vocabulary.
        TokenId::try_from(unsafe { sys::llama_vocab_bos(self.vocab()) }).ok()
    }

    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: a valid model.
        u32::try_from(unsafe { sys::llama_model_n_ctx_train(self.0.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_layer(&self) -> u64 {
        // SAFETY: a valid model.
        u64::try_from(unsafe { sys::llama_model_n_layer(self.0.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_head(&self) -> u64 {
        // SAFETY: a valid model.
        u64::try_from(unsafe { sys::llama_model_n_head(self.0.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_head_kv(&self) -> u64 {
        // SAFETY: a valid model.
        u64::try_from(unsafe { sys::llama_model_n_head_kv(self.0.as_ptr()) }).unwrap_or(0)
    }

    pub fn n_embd(&self) -> u64 {
        // SAFETY: a valid model.
        u64::try_from(unsafe { sys::llama_model_n_embd(self.0.as_ptr()) }).unwrap_or(0)
    }

    /// A metadata value of the GGUF, as text.
    pub fn meta(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let mut buf = vec![0u8; 128];
        loop {
            // SAFETY: `buf` is writable for its length; llama.cpp writes a NUL-terminated string into it and
            // returns the full length the value needs.
            let n = unsafe {
                sys::llama_model_meta_val_str(self.0.as_ptr(), key.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            };
            let n = usize::try_from(n).ok()?;
            if n < buf.len() {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            buf.resize(n + 1, 0);
        }
    }

    /// The model's tokenization of `text`, BOS not added, special-token text taken as text.
    pub fn tokenize(&self, text: &[u8]) -> Vec<TokenId> {
        let Ok(text_len) = i32::try_from(text.len()) else {
            return Vec::new();
        };
        let mut tokens: Vec<sys::llama_token> = vec![0; (text.len() / 2).max(8)];
        loop {
            // SAFETY: `text` is readable for `text_len` bytes and `tokens` writable for its length.
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab(),
                    text.as_ptr().cast(),
                    text_len,
                    tokens.as_mut_ptr(),
                    i32::try_from(tokens.len()).unwrap_or(i32::MAX),
                    false,
                    false,
                )
            };
            match usize::try_from(n) {
                Ok(n) => {
                    tokens.truncate(n);
                    return tokens.into_iter().filter_map(|t| TokenId::try_from(t).ok()).collect();
                }
                // Negative: the number of tokens needed (i32::MIN: more than fits an i32, which a frame never is).
                Err(_) if n == i32::MIN => return Vec::new(),
                Err(_) => tokens.resize(n.unsigned_abs() as usize, 0),
            }
        }
    }

    /// The bytes of a token (empty for control tokens), retried with the size llama.cpp asks for: some pieces
    /// are longer than any fixed buffer (SmolLM2 has a newline followed by 48 spaces).
    pub fn piece(&self, token: TokenId) -> Vec<u8> {
        let Ok(token) = sys::llama_token::try_from(token) else {
            return Vec::new();
        };
        let mut buf = vec![0u8; 16];
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                sys::llama_token_to_piece(
                    self.vocab(),
                    token,
                    buf.as_mut_ptr().cast(),
                    i32::try_from(buf.len()).unwrap_or(i32::MAX),
                    0,
                    false,
                )
            };
            match usize::try_from(n) {
                Ok(n) => {
                    buf.truncate(n);
                    return buf;
                }
                Err(_) => buf.resize(n.unsigned_abs() as usize, 0),
            }
        }
    }
}

/// What a context is created with (the fields nacz sets; the rest are llama.cpp's defaults).
pub struct ContextParams {
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_seq_max: u32,
    pub flash_attention: bool,
    pub kv_q8: bool,
    pub threads: i32,
}

/// A llama.cpp context over a borrowed model.
pub struct Context<'m> {
    ptr: NonNull<sys::llama_context>,
    _model: std::marker::PhantomData<&'m Model>,
}

// SAFETY: a context is used from one thread at a time (it is not Sync); llama.cpp does not tie it to a thread.
unsafe impl Send for Context<'_> {}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from llama_init_from_model and is freed once.
        unsafe { sys::llama_free(self.ptr.as_ptr()) }
    }
}

impl<'m> Context<'m> {
    pub fn new(model: &'m Model, p: &ContextParams) -> Result<Self, LmError> {
        // SAFETY: plain value type filled by llama.cpp.
        let mut params = unsafe { sys::llama_context_default_params() };
        params.n_ctx = p.n_ctx;
        params.n_batch = p.n_batch;
        params.n_ubatch = p.n_batch;
        params.n_seq_max = p.n_seq_max;
        params.kv_unified = false;
        params.flash_attn_type = if p.flash_attention {
            sys::LLAMA_FLASH_ATTN_TYPE_ENABLED
        } else {
            sys::LLAMA_FLASH_ATTN_TYPE_DISABLED
        };
        let kv_type = if p.kv_q8 {
            sys::GGML_TYPE_Q8_0
        } else {
            sys::GGML_TYPE_F16
        };
        params.type_k = kv_type;
        params.type_v = kv_type;
        params.n_threads = p.threads;
        params.n_threads_batch = p.threads;
        params.no_perf = true;
        // SAFETY: a valid model and parameters; llama.cpp copies them. Contexts are created one at a time (this
        // call may adjust the model's training-context field).
        let ctx = unsafe { sys::llama_init_from_model(model.0.as_ptr(), params) };
        let ptr = NonNull::new(ctx).ok_or_else(|| LmError::Context("llama.cpp returned no context".into()))?;
        Ok(Self {
            ptr,
            _model: std::marker::PhantomData,
        })
    }

    pub fn n_ctx(&self) -> u32 {
        // SAFETY: a valid context.
        unsafe { sys::llama_n_ctx(self.ptr.as_ptr()) }
    }

    /// Threads of the next decodes. Logits do not depend on it (tested), so it may change at any step.
    pub fn set_threads(&mut self, threads: i32) {
        // SAFETY: a valid context, not decoding now (&mut).
        unsafe { sys::llama_set_n_threads(self.ptr.as_ptr(), threads, threads) }
    }

    fn memory(&self) -> sys::llama_memory_t {
        // SAFETY: a valid context; its memory lives as long as it.
        unsafe { sys::llama_get_memory(self.ptr.as_ptr()) }
    }

    /// Removes positions `p0..p1` (-1: unbounded) of a sequence; false if llama.cpp could not.
    pub fn seq_rm(&mut self, seq: i32, p0: i32, p1: i32) -> bool {
        // SAFETY: a valid memory handle.
        unsafe { sys::llama_memory_seq_rm(self.memory(), seq, p0, p1) }
    }

    /// Shifts positions `p0..p1` (-1: unbounded) of a sequence by `delta`.
    pub fn seq_add(&mut self, seq: i32, p0: i32, p1: i32, delta: i32) {
        // SAFETY: a valid memory handle.
        unsafe { sys::llama_memory_seq_add(self.memory(), seq, p0, p1, delta) }
    }

    pub fn decode(&mut self, batch: &Batch) -> Result<(), LmError> {
        // SAFETY: a valid context and a batch whose arrays hold `n_tokens` initialized entries.
        match unsafe { sys::llama_decode(self.ptr.as_ptr(), batch.raw) } {
            0 => Ok(()),
            code => Err(LmError::Decode(format!("llama_decode returned {code}"))),
        }
    }

    /// The logits of batch entry `index` of the last decode, `n_vocab` of them.
    pub fn logits(&self, index: i32, n_vocab: usize) -> &[f32] {
        // SAFETY: a valid context; llama.cpp returns null for an index without logits, else `n_vocab` floats
        // that stay valid until the next decode, which needs `&mut self`.
        unsafe {
            let data = sys::llama_get_logits_ith(self.ptr.as_ptr(), index);
            assert!(!data.is_null(), "no logits at batch index {index}");
            std::slice::from_raw_parts(data, n_vocab)
        }
    }
}

/// A batch of tokens for one decode, each with one sequence id.
pub struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
}

// SAFETY: the batch owns its arrays.
unsafe impl Send for Batch {}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by llama_batch_init and freed once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}

impl Batch {
    /// Room for `capacity` tokens of one sequence each, out of `n_seq_max` sequences.
    pub fn new(capacity: usize, n_seq_max: i32) -> Self {
        let n = i32::try_from(capacity).expect("a batch holds fewer than 2^31 tokens");
        // SAFETY: allocates the arrays for `n` tokens with one or more sequence ids each.
        let raw = unsafe { sys::llama_batch_init(n, 0, n_seq_max) };
        Self { raw, capacity }
    }

    pub fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    pub fn len(&self) -> i32 {
        self.raw.n_tokens
    }

    /// Appends a token of sequence `seq` at position `pos`, with its logits wanted or not.
    pub fn push(&mut self, token: TokenId, pos: i32, seq: i32, logits: bool) -> Result<(), LmError> {
        let i = self.raw.n_tokens as usize;
        if i >= self.capacity {
            return Err(LmError::Decode(format!("a batch of {} tokens is full", self.capacity)));
        }
        let token = sys::llama_token::try_from(token).map_err(|e| LmError::Decode(e.to_string()))?;
        // SAFETY: `i` is below the capacity the arrays were allocated for, each with room for a sequence id.
        unsafe {
            *self.raw.token.add(i) = token;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = 1;
            *(*self.raw.seq_id.add(i)) = seq;
            *self.raw.logits.add(i) = i8::from(logits);
        }
        self.raw.n_tokens += 1;
        Ok(())
    }
}

/// llama.cpp's report of the features its CPU backend was compiled with.
pub fn system_info() -> String {
    backend();
    // SAFETY: llama_print_system_info returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::llama_print_system_info()) }
        .to_string_lossy()
        .into_owned()
}
