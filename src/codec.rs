//! Frame compression and decompression: tokens → lanes → predictions → arithmetic coding, and back.
//!
//! A frame whose line breaks are all CRLF is modeled as LF text ([`crate::newlines`]); the content checksum
//! always covers the bytes the user gave. Both directions run the same lane driver, so the encoder and the
//! decoder issue the identical sequence of LM decode calls: every lane starts with BOS, lane `i` codes chunk `i`,
//! all live lanes are fed in one step, and a lane leaves the batch after its chunk's last token. The CDFs have
//! the precision of the frame's format version. The session (lanes, window, slide, sink, attention kernel,
//! KV cache type) comes from the header on decode, never from the decoder's own settings.

use crate::container::{
    cdf_precision_bits, checksum, read_frame, ByteParams, ChunkEntry, FrameBody, FrameHeader, FrameRef, LzmaParams,
    ModelParams, FORMAT_VERSION,
};
use crate::lm::{LaneFeed, LanguageModel, SessionConfig, TokenId};
use crate::lzma;
use crate::newlines::{crlf_to_lf, lf_to_crlf};
use crate::plan::chunk_sizes;
use crate::tokenizer::{binary_fraction, tokenize};
use crate::Error;
use nacz_coder::{Cdf, CdfError, Decoder, Encoder, LazyCdf, PatchCount};
use nacz_predictors::byte::ByteModelConfig;
use nacz_predictors::{MixerKind, Mixture, Predictor, PredictorConfig};

/// Settings a user can choose when compressing; all of them land in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressSettings {
    pub session: SessionConfig,
    pub predictors: PredictorConfig,
    pub min_chunk_tokens: u32,
    /// Whether a frame may be coded by the byte model (binary frames, and text frames where it does better);
    /// off, binary frames are stored and text frames always go through the language model.
    pub byte_model: bool,
}

/// The predictors `nacz compress` uses by default (`--predictors all`), chosen by measurement (README).
pub const DEFAULT_PREDICTORS: PredictorConfig = PredictorConfig {
    ngram_order: 6,
    ngram_table_bits: 22,
    match_min_len: 5,
    match_table_bits: 22,
    bias_rate: 8000,
    mixer: MixerKind::MultiContext,
    mixer_rate: 8000,
    skip_miss_rate: 1500,
    share_lanes: true,
    skip_gap: true,
    apm_rate: 1311,
};

/// Most tokens a lane is fed per step when confidence skip is on: the skipped tokens wait for the next step.
pub const SKIP_MAX_FEED: u32 = 16;

/// The parts `--predictors` can name besides `lm` (which is always there).
pub const PREDICTOR_PARTS: [&str; 5] = ["ngram", "match", "bias", "apm", "skip"];

/// Parses a `--predictors` set: `all`, `lm`, or `lm` joined with parts by `+` (`lm+ngram+match`). Parts left out
/// are switched off in `base`; parts named keep `base`'s parameters. Context gaps stay on only with skip.
pub fn predictor_set(spec: &str, mut base: PredictorConfig) -> Result<PredictorConfig, Error> {
    // Context gaps are part of confidence skip: without skip there are no skipped runs to leave out.
    base.skip_gap &= base.skip_miss_rate > 0;
    if spec == "all" {
        return Ok(base);
    }
    let mut parts: Vec<&str> = spec.split('+').collect();
    if parts.first() != Some(&"lm") {
        return Err(Error::Usage(format!(
            "--predictors must be `all` or start with `lm` (e.g. lm+ngram+match), got `{spec}`"
        )));
    }
    parts.remove(0);
    for part in &parts {
        if !PREDICTOR_PARTS.contains(part) {
            return Err(Error::Usage(format!(
                "unknown predictor `{part}` (known: lm, {})",
                PREDICTOR_PARTS.join(", ")
            )));
        }
    }
    let has = |part: &str| parts.contains(&part);
    let mut config = base;
    if !has("ngram") {
        config.ngram_order = 0;
    }
    if !has("match") {
        config.match_min_len = 0;
    }
    if !has("bias") {
        config.bias_rate = 0;
    }
    if !has("apm") {
        config.apm_rate = 0;
    }
    if !has("skip") {
        config.skip_miss_rate = 0;
    }
    config.skip_gap &= config.skip_miss_rate > 0;
    if config.is_lm_only() {
        config = PredictorConfig::LM_ONLY;
    }
    Ok(config)
}

impl CompressSettings {
    /// Settings whose batches fit the predictors: several tokens per lane and step where confidence skip may
    /// leave tokens unfed ([`SKIP_MAX_FEED`], at most the slide), one otherwise.
    pub fn new(mut session: SessionConfig, predictors: PredictorConfig, min_chunk_tokens: u32) -> Self {
        session.max_feed = if predictors.skip_miss_rate > 0 {
            SKIP_MAX_FEED.min(session.slide)
        } else {
            1
        };
        Self {
            session,
            predictors,
            min_chunk_tokens,
            byte_model: true,
        }
    }
}

/// Text frames at least this long are first sampled to decide whether the LM can beat the byte model.
const SAMPLE_FROM: usize = 64 << 10;
/// Bytes of that sample: about a thousand tokens, seconds of LM time.
const SAMPLE_BYTES: usize = 4 << 10;

/// The longest prefix of `text` of at most `len` bytes that does not cut a UTF-8 sequence.
fn utf8_prefix(text: &[u8], len: usize) -> &[u8] {
    let mut end = len.min(text.len());
    // A UTF-8 sequence has at most three continuation bytes.
    for _ in 0..3 {
        if end == 0 || end == text.len() || text[end] & 0xC0 != 0x80 {
            break;
        }
        end -= 1;
    }
    &text[..end]
}

/// Frames with more binary bytes (invalid UTF-8, control bytes) than this fraction go to the byte model alone:
/// the language model predicts binary data badly and slowly (one decode per byte).
const MAX_BINARY_FRACTION: f64 = 0.1;

/// Whether content is text enough for the language model to be tried on it: at most 10% of it binary (invalid
/// UTF-8 or control bytes). Other content goes to the byte model (or LZMA, or is stored) without the LM.
pub fn is_text(content: &[u8]) -> bool {
    binary_fraction(content) <= MAX_BINARY_FRACTION
}

/// Progress reports: a frame's token and byte counts, then tokens coded so far in it and the bits written
/// (0 when decoding).
pub trait Progress {
    fn frame_started(&mut self, _tokens: u64, _bytes: u64) {}
    fn tokens_coded(&mut self, _tokens: u64, _bits: f64) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Memory a frame may need by default, to compress or to decode ([`Engine::set_memory_limit`]): several times
/// what the default settings need (about 1 GiB with SmolLM2), far below what a forged header could ask for.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// Keeps the LM session alive across frames; a new session is built only when the parameters change.
pub struct Engine {
    lm: Option<Box<dyn LanguageModel>>,
    memory_limit: u64,
    loader: ModelLoader,
    session: Option<SessionConfig>,
    /// The predictors of the last frame, kept to reuse their allocations.
    predictor: Option<(PredictorConfig, usize, Predictor)>,
    probs: Vec<f32>,
    cdf: Cdf,
    /// The patch counts of the lazy table of format version 8.
    patch_counts: Vec<PatchCount>,
}

/// What compressing one frame produced.
pub struct CompressedFrame {
    pub bytes: Vec<u8>,
    pub tokens: u64,
    /// Tokens coded without the LM's prediction (confidence skip).
    pub skipped: u64,
}

/// Loads the model on first use; given the fingerprint a frame asks for, when decoding.
pub type ModelLoader = Box<dyn FnMut(Option<&[u8; 4]>) -> Result<Box<dyn LanguageModel>, Error>>;

impl Engine {
    /// An engine that loads its model lazily, so stored frames and `info` never pay for it.
    pub fn new(loader: ModelLoader) -> Self {
        Self {
            lm: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            loader,
            session: None,
            predictor: None,
            probs: Vec::new(),
            cdf: Cdf::new(),
            patch_counts: Vec::new(),
        }
    }

    /// An engine around an already loaded model.
    pub fn with_model(lm: Box<dyn LanguageModel>) -> Self {
        let mut engine = Self::new(Box::new(|_| Err(Error::Model("no model loader".into()))));
        engine.lm = Some(lm);
        engine
    }

    /// Sets the most memory a frame may need ([`DEFAULT_MEMORY_LIMIT`] by default). Every size a frame declares is
    /// checked against it before anything is allocated for the frame.
    pub fn set_memory_limit(&mut self, bytes: u64) {
        self.memory_limit = bytes;
    }

    /// Refuses a frame whose session, predictor state and content would need more than the memory limit.
    fn check_memory(
        &mut self,
        action: &'static str,
        session: &SessionConfig,
        predictors: &PredictorConfig,
        content_len: u64,
    ) -> Result<(), Error> {
        let lm = self.lm_for(None)?;
        let session_bytes = session.estimated_bytes(&lm.shape());
        let predictor_bytes = predictors.memory_bytes(session.lanes, lm.vocab().len());
        // The content is held twice at most: as decoded per chunk, then joined (or read, then tokenized).
        let context = format!(
            "the model's context of {} lanes × {} tokens",
            session.lanes, session.window
        );
        self.check_parts(
            action,
            &[
                (session_bytes, &context),
                (predictor_bytes, "the predictors"),
                (2 * content_len, "the content"),
            ],
        )
    }

    /// Refuses work whose parts (bytes, what they hold) need more than the memory limit together.
    fn check_parts(&self, action: &'static str, parts: &[(u64, &str)]) -> Result<(), Error> {
        let needed = parts.iter().map(|(bytes, _)| bytes).sum();
        if needed <= self.memory_limit {
            return Ok(());
        }
        let detail: Vec<String> = parts
            .iter()
            .map(|(bytes, what)| format!("{} MiB for {what}", bytes.div_ceil(1 << 20)))
            .collect();
        Err(Error::MemoryLimit {
            action,
            needed,
            limit: self.memory_limit,
            detail: detail.join(", "),
        })
    }

    fn lm_for(&mut self, model_id: Option<&[u8; 4]>) -> Result<&mut dyn LanguageModel, Error> {
        if self.lm.is_none() {
            self.lm = Some((self.loader)(model_id)?);
        }
        Ok(self.lm.as_deref_mut().expect("loaded above"))
    }

    fn ensure_session(&mut self, config: SessionConfig) -> Result<(), Error> {
        if self.session != Some(config) {
            self.session = None;
            self.lm_for(None)?.begin(config)?;
            self.session = Some(config);
        }
        Ok(())
    }

    /// Readies the predictors for a new frame (after the session): the same ones reset, or new ones.
    fn ensure_predictor(&mut self, config: PredictorConfig) -> Result<(), Error> {
        let lanes = self.session.map_or(0, |s| s.lanes as usize);
        match &mut self.predictor {
            Some((current, current_lanes, predictor)) if *current == config && *current_lanes == lanes => {
                predictor.reset()
            }
            _ => {
                self.predictor = None;
                let n_symbols = self.lm_for(None)?.vocab().len();
                self.predictor = Some((config, lanes, Predictor::new(config, lanes, n_symbols)?));
            }
        }
        Ok(())
    }

    /// Compresses one frame's content into a complete frame (header + payload).
    pub fn compress_frame(
        &mut self,
        settings: &CompressSettings,
        content: &[u8],
        progress: &mut dyn Progress,
    ) -> Result<CompressedFrame, Error> {
        let without_lm = |bytes| CompressedFrame {
            bytes,
            tokens: 0,
            skipped: 0,
        };
        if content.is_empty() {
            return Ok(without_lm(stored_frame(content)));
        }
        if !settings.byte_model {
            if !is_text(content) {
                return Ok(without_lm(stored_frame(content)));
            }
            return self.lm_frame(settings, content, stored_frame(content), progress);
        }
        if !is_text(content) {
            return Ok(without_lm(self.byte_frame(content, progress)?));
        }
        // The byte model costs well under 1% of the LM's time, so it always runs; its frame is written where it
        // is smaller. On a long frame, a short sample decides first whether the LM can win at all: text the LM
        // does not know (DNA, tables of numbers) would cost it hours for nothing.
        let by_bytes = self.byte_frame(content, &mut NoProgress)?;
        if content.len() >= SAMPLE_FROM {
            let sample = utf8_prefix(content, SAMPLE_BYTES);
            let lm_sample = self.lm_frame(settings, sample, stored_frame(sample), &mut NoProgress)?;
            let sample_bytes = self.byte_frame(sample, &mut NoProgress)?;
            // Bits per byte of the coded payloads, headers aside.
            let bpb = |frame: &[u8], len: usize| {
                let header_len = FrameHeader::announced_len(frame).unwrap_or(0);
                8.0 * (frame.len() - header_len) as f64 / len as f64
            };
            // The byte model wins if it beats the LM's cold sample either over the whole frame or on the same
            // cold sample. (The LM also learns as it goes, so a win of the byte model by learning alone may
            // occasionally cost some ratio; never correctness.)
            let lm_bpb = bpb(&lm_sample.bytes, sample.len());
            let byte_bpb = bpb(&by_bytes, content.len()).min(bpb(&sample_bytes, sample.len()));
            if byte_bpb <= lm_bpb {
                return Ok(without_lm(by_bytes));
            }
        }
        self.lm_frame(settings, content, by_bytes, progress)
    }

    /// The content as a token frame, or `fallback` (another frame for the same content) where that is smaller.
    fn lm_frame(
        &mut self,
        settings: &CompressSettings,
        content: &[u8],
        fallback: Vec<u8>,
        progress: &mut dyn Progress,
    ) -> Result<CompressedFrame, Error> {
        let lf_text = crlf_to_lf(content);
        let tokens = tokenize(self.lm_for(None)?, lf_text.as_deref().unwrap_or(content));
        let sizes = chunk_sizes(tokens.len() as u64, settings.session.lanes, settings.min_chunk_tokens);
        let predictors = settings.predictors.sized_for(tokens.len());
        self.check_memory(
            "compressing with these settings",
            &settings.session,
            &predictors,
            content.len() as u64,
        )?;
        self.ensure_session(settings.session)?;
        self.ensure_predictor(predictors)?;
        progress.frame_started(tokens.len() as u64, content.len() as u64);

        let mut chunk_tokens = Vec::with_capacity(sizes.len());
        let mut rest = tokens.as_slice();
        for &size in &sizes {
            let (head, tail) = rest.split_at(size as usize);
            chunk_tokens.push(head);
            rest = tail;
        }
        let mut encoders: Vec<Encoder> = sizes.iter().map(|_| Encoder::new()).collect();
        let mut coded = 0u64;
        let skipped = self.drive_lanes(&sizes, FORMAT_VERSION, |lane, index, table| {
            let token = chunk_tokens[lane][index];
            let (start, count) = table.range(token as usize)?;
            encoders[lane].encode_range(start, count, table.precision_bits());
            coded += 1;
            if coded.is_multiple_of(64) {
                let bits: u64 = encoders.iter().map(Encoder::bits_written).sum();
                progress.tokens_coded(coded, bits as f64);
            }
            Ok(token)
        })?;

        let lm = self.lm_for(None)?;
        let mut payload = Vec::new();
        let mut chunks = Vec::with_capacity(sizes.len());
        for (tokens, encoder) in chunk_tokens.iter().zip(encoders) {
            let stream = encoder.finish();
            chunks.push(ChunkEntry {
                tokens: tokens.len() as u32,
                stream_len: stream.len() as u32,
            });
            payload.extend_from_slice(&stream);
        }
        let body = FrameBody::Modeled(ModelParams {
            model_id: model_id(&lm.fingerprint()),
            engine_id: engine_id_hash(&lm.engine_id()),
            backend: Some(lm.backend()),
            session: settings.session,
            predictors,
            min_chunk_tokens: settings.min_chunk_tokens,
            crlf: lf_text.is_some(),
            chunks,
            content_checksum: checksum(content),
        });
        let mut bytes = FrameHeader::write_frame(content.len() as u64, body, &payload);
        if fallback.len() < bytes.len() {
            bytes = fallback;
        }
        Ok(CompressedFrame {
            bytes,
            tokens: tokens.len() as u64,
            skipped,
        })
    }

    /// The content as the smallest of a byte-model frame, an LZMA frame and a stored frame (ties in that
    /// order): the frame a binary gets, and the one a text frame falls back to.
    pub fn byte_frame(&mut self, content: &[u8], progress: &mut dyn Progress) -> Result<Vec<u8>, Error> {
        let config = ByteModelConfig::for_input_len(content.len() as u64);
        self.check_byte_memory("compressing with these settings", &config, content.len() as u64)?;
        progress.frame_started(content.len() as u64, content.len() as u64);
        let stream = crate::bytes::encode(&config, content, |done| progress.tokens_coded(done, 0.0));
        let body = FrameBody::Bytes(ByteParams {
            config,
            stream_len: stream.len() as u64,
            content_checksum: checksum(content),
        });
        let mut best = FrameHeader::write_frame(content.len() as u64, body, &stream);
        if let Some(lzma) = self.lzma_frame(content)? {
            if lzma.len() < best.len() {
                best = lzma;
            }
        }
        // A stored frame's header length does not depend on the content, so no copy is needed to compare.
        let stored_len = FrameHeader::write_frame(content.len() as u64, FrameBody::Stored, &[]).len() + content.len();
        Ok(if best.len() < stored_len {
            best
        } else {
            stored_frame(content)
        })
    }

    /// The content as an LZMA frame, with `xz -9e`'s settings and a dictionary that fits the content; `None`
    /// where the encoder would need more than the memory limit (it is only a candidate, so it is left out).
    fn lzma_frame(&self, content: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let dict_log = lzma::dict_log_for(content.len() as u64);
        let encoder = lzma::encoder_memory(dict_log);
        if self
            .check_lzma_memory("compressing with these settings", encoder, content.len() as u64)
            .is_err()
        {
            return Ok(None);
        }
        let stream = lzma::encode(content, dict_log)?;
        let body = FrameBody::Lzma(LzmaParams {
            dict_log,
            stream_len: stream.len() as u64,
            content_checksum: checksum(content),
        });
        Ok(Some(FrameHeader::write_frame(content.len() as u64, body, &stream)))
    }

    /// Refuses an LZMA frame whose coder (`coder` bytes) and content would need more than the memory limit.
    fn check_lzma_memory(&self, action: &'static str, coder: u64, content_len: u64) -> Result<(), Error> {
        self.check_parts(action, &[(coder, "LZMA"), (content_len, "the content")])
    }

    /// Refuses a byte-model frame whose model and content would need more than the memory limit.
    fn check_byte_memory(&self, action: &'static str, config: &ByteModelConfig, content_len: u64) -> Result<(), Error> {
        self.check_parts(
            action,
            &[
                (config.memory_bytes(), "the byte model"),
                (2 * content_len, "the content"),
            ],
        )
    }

    /// Decodes a checked frame, appending its content to `out`.
    pub fn decompress_frame(
        &mut self,
        frame: &FrameRef<'_>,
        out: &mut Vec<u8>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        match &frame.header.body {
            // The frame checksum, already verified, covers stored content.
            FrameBody::Stored => {
                out.extend_from_slice(frame.payload);
                Ok(())
            }
            FrameBody::Modeled(params) => {
                let header = &frame.header;
                self.decode_modeled(header.content_len, header.version, params, frame.payload, out, progress)
            }
            FrameBody::Bytes(params) => {
                let len = frame.header.content_len;
                self.check_byte_memory("decoding this frame", &params.config, len)?;
                progress.frame_started(len, len);
                let start = out.len();
                crate::bytes::decode(&params.config, frame.payload, len as usize, out, |done| {
                    progress.tokens_coded(done, 0.0)
                });
                if checksum(&out[start..]) != params.content_checksum {
                    out.truncate(start);
                    return Err(Error::Diverged);
                }
                Ok(())
            }
            FrameBody::Lzma(params) => {
                let len = frame.header.content_len;
                self.check_lzma_memory("decoding this frame", lzma::decoder_memory(params.dict_log), len)?;
                progress.frame_started(len, len);
                let start = out.len();
                let decoded = lzma::decode(frame.payload, params.dict_log, len, out);
                if decoded.is_err() || checksum(&out[start..]) != params.content_checksum {
                    out.truncate(start);
                    // The frame checksum held, so the stream is the writer's: a failure is a forged frame.
                    decoded?;
                    return Err(Error::Diverged);
                }
                Ok(())
            }
        }
    }

    fn decode_modeled(
        &mut self,
        content_len: u64,
        version: u8,
        params: &ModelParams,
        payload: &[u8],
        out: &mut Vec<u8>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        check_compatible(self.lm_for(Some(&params.model_id))?, params)?;
        self.check_memory("decoding this frame", &params.session, &params.predictors, content_len)?;
        let sizes: Vec<u64> = params.chunks.iter().map(|c| u64::from(c.tokens)).collect();
        let total: u64 = sizes.iter().sum();
        if chunk_sizes(total, params.session.lanes, params.min_chunk_tokens) != sizes {
            return Err(Error::ChunkPlan);
        }
        self.ensure_session(params.session)?;
        self.ensure_predictor(params.predictors)?;
        progress.frame_started(total, content_len);

        let mut decoders = Vec::with_capacity(params.chunks.len());
        let mut offset = 0usize;
        for chunk in &params.chunks {
            decoders.push(Decoder::new(&payload[offset..offset + chunk.stream_len as usize]));
            offset += chunk.stream_len as usize;
        }
        let mut contents: Vec<Vec<u8>> = params.chunks.iter().map(|_| Vec::new()).collect();
        // Length of the content decoded so far, CRs to be restored included.
        let mut decoded_len = 0u64;
        let vocab = self.lm_for(None)?.vocab().clone();
        let mut coded = 0u64;
        self.drive_lanes(&sizes, version, |lane, _, table| {
            let decoder = &mut decoders[lane];
            let bits = table.precision_bits();
            let (token, start, count) = table.find(decoder.decode_target(bits))?;
            decoder.decode_range(start, count, bits);
            let token = token as TokenId;
            let piece = vocab.piece(token);
            let restored_crs = if params.crlf {
                piece.iter().filter(|&&b| b == b'\n').count()
            } else {
                0
            };
            decoded_len += (piece.len() + restored_crs) as u64;
            // A model that predicts differently from the compressor's decodes garbage; stop at the frame's size.
            if decoded_len > content_len {
                return Err(Error::Diverged);
            }
            contents[lane].extend_from_slice(piece);
            coded += 1;
            if coded.is_multiple_of(64) {
                progress.tokens_coded(coded, 0.0);
            }
            Ok(token)
        })?;
        let start = out.len();
        for content in &contents {
            if params.crlf {
                lf_to_crlf(content, out);
            } else {
                out.extend_from_slice(content);
            }
        }
        if (out.len() - start) as u64 != content_len || checksum(&out[start..]) != params.content_checksum {
            out.truncate(start);
            return Err(Error::Diverged);
        }
        Ok(())
    }

    /// Runs chunks `sizes[i]` on lanes `i` in lockstep: one LM step per round over all live lanes, then `code` for
    /// each of them in lane order with the CDF of its next token; `code` returns the token actually coded. Where
    /// the predictors are confident enough to skip the LM, a lane codes further tokens without its prediction;
    /// they are fed to the model together in the lane's next step (never re-evaluating the window), whose logits
    /// serve the next position that needs them; with context gaps on, a run longer than a step's feed keeps only
    /// its last tokens for the model. The tables are the frame `version`'s: full CDFs up to version 7 (and for
    /// the Nacrith mixer), lazy tables of the predictors' mixtures since version 8. Returns how many positions were
    /// coded without the LM.
    fn drive_lanes(
        &mut self,
        sizes: &[u64],
        version: u8,
        mut code: impl FnMut(usize, usize, Table<'_>) -> Result<TokenId, Error>,
    ) -> Result<u64, Error> {
        let precision_bits = cdf_precision_bits(version);
        if self.cdf.precision_bits() != precision_bits {
            self.cdf = Cdf::with_precision(precision_bits);
        }
        let session = self.session.expect("a session is readied before driving lanes");
        let lm = self.lm.as_deref_mut().expect("a session implies a model");
        let (predictors, _, predictor) = self
            .predictor
            .as_mut()
            .expect("predictors are readied with the session");
        let skip_gap = predictors.skip_gap;
        let bos = lm.vocab().bos();
        let n_symbols = lm.vocab().len();
        let mixtures = version >= 8 && predictor.predicts_mixtures();
        // Every lane starts empty, used or not, so a frame's decode calls never depend on what ran before it
        // (an earlier frame, or another file in the same run).
        for lane in 0..session.lanes as usize {
            lm.reset_lane(lane)?;
        }
        // Per lane: tokens coded but not yet fed to the model (its BOS at first).
        let mut unfed: Vec<Vec<TokenId>> = sizes.iter().map(|_| vec![bos]).collect();
        let mut done = vec![0u64; sizes.len()];
        let mut skipped = 0;
        loop {
            let feed: Vec<LaneFeed> = (0..session.lanes as usize)
                .map(|lane| match sizes.get(lane) {
                    Some(&size) if done[lane] < size => LaneFeed {
                        tokens: &unfed[lane],
                        logits: true,
                    },
                    _ => LaneFeed::default(),
                })
                .collect();
            if feed.iter().all(|f| f.tokens.is_empty()) {
                return Ok(skipped);
            }
            lm.step(&feed)?;
            for lane in 0..sizes.len() {
                if done[lane] >= sizes[lane] {
                    continue;
                }
                unfed[lane].clear();
                let mut logits = Some(lm.logits(lane));
                loop {
                    skipped += u64::from(logits.is_none());
                    let token = if mixtures {
                        let mixture = predictor.predict_mixture(lane, logits.take());
                        let table = mixture_table(&mixture, n_symbols, precision_bits, &mut self.patch_counts)?;
                        code(lane, done[lane] as usize, Table::Lazy(&table))?
                    } else {
                        predictor.predict(lane, logits.take(), &mut self.probs);
                        self.cdf.quantize_into(&self.probs)?;
                        code(lane, done[lane] as usize, Table::Full(&self.cdf))?
                    };
                    predictor.update(lane, token);
                    done[lane] += 1;
                    unfed[lane].push(token);
                    if done[lane] == sizes[lane] || predictor.wants_lm(lane) {
                        break;
                    }
                    if unfed[lane].len() >= session.max_feed as usize {
                        if !skip_gap {
                            break;
                        }
                        // A long confident run: its older tokens never reach the model, only the last
                        // `max_feed`, which give the next prediction its local context.
                        unfed[lane].remove(0);
                    }
                }
            }
        }
    }
}

/// The lazy table (format version 8) of a predictor mixture over `n_symbols` symbols; `scratch` holds its patch
/// counts.
pub fn mixture_table<'a>(
    mixture: &Mixture<'a>,
    n_symbols: usize,
    precision_bits: u32,
    scratch: &'a mut Vec<PatchCount>,
) -> Result<LazyCdf<'a>, CdfError> {
    LazyCdf::new(
        n_symbols,
        precision_bits,
        mixture.dense.unwrap_or(&[]),
        mixture.dense_sum,
        mixture.dense_weight,
        mixture.uniform_weight,
        mixture.patches,
        scratch,
    )
}

/// The frequencies a position is coded with.
enum Table<'a> {
    /// A whole CDF: format versions 1–7, and the Nacrith mixer.
    Full(&'a Cdf),
    /// A predictor mixture's table, evaluated as far as needed: format version 8.
    Lazy(&'a LazyCdf<'a>),
}

impl Table<'_> {
    fn precision_bits(&self) -> u32 {
        match self {
            Table::Full(cdf) => cdf.precision_bits(),
            Table::Lazy(cdf) => cdf.precision_bits(),
        }
    }

    /// `(start, count)` of `symbol`.
    fn range(&self, symbol: usize) -> Result<(u32, u32), CdfError> {
        match self {
            Table::Full(cdf) => Ok(cdf.range(symbol)),
            Table::Lazy(cdf) => cdf.range(symbol),
        }
    }

    /// The symbol whose interval holds `target`, with that interval.
    fn find(&self, target: u32) -> Result<(usize, u32, u32), CdfError> {
        match self {
            Table::Full(cdf) => {
                let symbol = cdf.find(target);
                let (start, count) = cdf.range(symbol);
                Ok((symbol, start, count))
            }
            Table::Lazy(cdf) => cdf.find(target),
        }
    }
}

/// The header's 16-bit id of an engine string.
pub fn engine_id_hash(engine: &str) -> u16 {
    checksum(engine.as_bytes()) as u16
}

/// The header's model id: the first 4 bytes of the model file's sha256.
pub fn model_id(fingerprint: &[u8; 32]) -> [u8; 4] {
    fingerprint[..4].try_into().expect("4 bytes")
}

/// Refuses to decode with a model or engine other than the compressor's.
fn check_compatible(lm: &dyn LanguageModel, params: &ModelParams) -> Result<(), Error> {
    let found = lm.fingerprint();
    if model_id(&found) != params.model_id {
        return Err(Error::ModelMismatch {
            expected: params.model_id,
            found,
        });
    }
    if let Some(made_by) = &params.backend {
        let this = lm.backend();
        if *made_by != this {
            return Err(Error::BackendMismatch {
                made_by: made_by.clone(),
                this,
            });
        }
    }
    let engine = lm.engine_id();
    if engine_id_hash(&engine) != params.engine_id {
        return Err(Error::EngineMismatch {
            expected: params.engine_id,
            found: engine,
        });
    }
    Ok(())
}

/// A frame holding `content` verbatim.
pub fn stored_frame(content: &[u8]) -> Vec<u8> {
    FrameHeader::write_frame(content.len() as u64, FrameBody::Stored, content)
}

/// Splits a whole compressed buffer into checked frames (frame checksums), without decoding.
pub fn frames(mut input: &[u8]) -> Result<Vec<FrameRef<'_>>, Error> {
    let mut frames = Vec::new();
    let mut index = 0usize;
    loop {
        let (frame, len) = read_frame(input).map_err(|e| Error::Frame { index, source: e })?;
        frames.push(frame);
        input = &input[len..];
        index += 1;
        if input.is_empty() {
            return Ok(frames);
        }
    }
}
