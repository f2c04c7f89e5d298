//! Frame compression and decompression: tokens → lanes → predictions → arithmetic coding, and back.
//!
//! Both directions run the same lane driver, so the encoder and the decoder issue the identical sequence of LM
//! decode calls: every lane starts with BOS, lane `i` codes chunk `i`, all live lanes are fed in one step, and a
//! lane leaves the batch after its chunk's last token. The session (lanes, window, slide, attention kernel) comes
//! from the header on decode, never from the decoder's own settings.

use crate::container::{checksum, read_frame, ChunkEntry, FrameBody, FrameHeader, FrameRef, ModelParams};
use crate::plan::chunk_sizes;
use crate::tokenizer::{binary_fraction, tokenize};
use crate::Error;
use nacz_coder::{Cdf, Decoder, Encoder};
use nacz_predictors::{softmax_into, LanguageModel, SessionConfig, TokenId};

/// Settings a user can choose when compressing; all of them land in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressSettings {
    pub session: SessionConfig,
    pub min_chunk_tokens: u32,
}

/// Frames with more binary bytes (invalid UTF-8, control bytes) than this fraction are stored: the model predicts
/// binary data badly and slowly (one decode per byte).
const MAX_BINARY_FRACTION: f64 = 0.1;

/// Progress reports: tokens coded so far in this frame and their total, and the bits written.
pub trait Progress {
    fn frame_started(&mut self, _tokens: u64) {}
    fn tokens_coded(&mut self, _tokens: u64, _bits: f64) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Keeps the LM session alive across frames; a new session is built only when the parameters change.
pub struct Engine {
    lm: Option<Box<dyn LanguageModel>>,
    loader: ModelLoader,
    session: Option<SessionConfig>,
    probs: Vec<f32>,
    cdf: Cdf,
}

/// What compressing one frame produced.
pub struct CompressedFrame {
    pub bytes: Vec<u8>,
    pub tokens: u64,
}

/// Loads the model on first use; given the fingerprint a frame asks for, when decoding.
pub type ModelLoader = Box<dyn FnMut(Option<&[u8; 32]>) -> Result<Box<dyn LanguageModel>, Error>>;

impl Engine {
    /// An engine that loads its model lazily, so stored frames and `info` never pay for it.
    pub fn new(loader: ModelLoader) -> Self {
        Self {
            lm: None,
            loader,
            session: None,
            probs: Vec::new(),
            cdf: Cdf::new(),
        }
    }

    /// An engine around an already loaded model.
    pub fn with_model(lm: Box<dyn LanguageModel>) -> Self {
        let mut engine = Self::new(Box::new(|_| Err(Error::Model("no model loader".into()))));
        engine.lm = Some(lm);
        engine
    }

    fn lm_for(&mut self, fingerprint: Option<&[u8; 32]>) -> Result<&mut dyn LanguageModel, Error> {
        if self.lm.is_none() {
            self.lm = Some((self.loader)(fingerprint)?);
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

    /// Compresses one frame's content into a complete frame (header + payload).
    pub fn compress_frame(
        &mut self,
        settings: &CompressSettings,
        content: &[u8],
        progress: &mut dyn Progress,
    ) -> Result<CompressedFrame, Error> {
        if content.is_empty() || binary_fraction(content) > MAX_BINARY_FRACTION {
            return Ok(CompressedFrame {
                bytes: stored_frame(content),
                tokens: 0,
            });
        }
        let tokens = tokenize(self.lm_for(None)?, content);
        let sizes = chunk_sizes(tokens.len() as u64, settings.session.lanes, settings.min_chunk_tokens);
        self.ensure_session(settings.session)?;
        progress.frame_started(tokens.len() as u64);

        let mut chunk_tokens = Vec::with_capacity(sizes.len());
        let mut rest = tokens.as_slice();
        for &size in &sizes {
            let (head, tail) = rest.split_at(size as usize);
            chunk_tokens.push(head);
            rest = tail;
        }
        let mut encoders: Vec<Encoder> = sizes.iter().map(|_| Encoder::new()).collect();
        let mut coded = 0u64;
        self.drive_lanes(&sizes, |lane, index, cdf| {
            let token = chunk_tokens[lane][index];
            encoders[lane].encode(cdf, token as usize);
            coded += 1;
            if coded % 64 == 0 {
                let bits: u64 = encoders.iter().map(Encoder::bits_written).sum();
                progress.tokens_coded(coded, bits as f64);
            }
            Ok(token)
        })?;

        let lm = self.lm_for(None)?;
        let vocab = lm.vocab();
        let mut chunks = Vec::with_capacity(sizes.len());
        let mut payload = Vec::new();
        let mut offset = 0usize;
        for (tokens, encoder) in chunk_tokens.iter().zip(encoders) {
            let stream = encoder.finish();
            let bytes: usize = tokens.iter().map(|&t| vocab.piece(t).len()).sum();
            let chunk_content = &content[offset..offset + bytes];
            offset += bytes;
            chunks.push(ChunkEntry {
                tokens: tokens.len() as u32,
                bytes: bytes as u32,
                stream_len: stream.len() as u32,
                content_checksum: checksum(chunk_content),
            });
            payload.extend_from_slice(&stream);
        }
        debug_assert_eq!(offset, content.len());
        let header = FrameHeader {
            content_len: content.len() as u64,
            payload_checksum: checksum(&payload),
            body: FrameBody::Modeled(ModelParams {
                model_sha256: lm.fingerprint(),
                engine_hash: engine_hash(&lm.engine_id()),
                n_vocab: vocab.len() as u32,
                bos: vocab.bos(),
                session: settings.session,
                min_chunk_tokens: settings.min_chunk_tokens,
                chunks,
            }),
        };
        let mut bytes = header.write();
        bytes.extend_from_slice(&payload);
        if bytes.len() >= content.len() + stored_frame(&[]).len() {
            bytes = stored_frame(content);
        }
        Ok(CompressedFrame {
            bytes,
            tokens: tokens.len() as u64,
        })
    }

    /// Decodes a checked frame, appending its content to `out`.
    pub fn decompress_frame(
        &mut self,
        frame: &FrameRef<'_>,
        out: &mut Vec<u8>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        match &frame.header.body {
            // The payload checksum, already verified, covers stored content.
            FrameBody::Stored => {
                out.extend_from_slice(frame.payload);
                Ok(())
            }
            FrameBody::Modeled(params) => self.decode_modeled(params, frame.payload, out, progress),
        }
    }

    fn decode_modeled(
        &mut self,
        params: &ModelParams,
        payload: &[u8],
        out: &mut Vec<u8>,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        check_compatible(self.lm_for(Some(&params.model_sha256))?, params)?;
        let total: u64 = params.chunks.iter().map(|c| u64::from(c.tokens)).sum();
        let planned = chunk_sizes(total, params.session.lanes, params.min_chunk_tokens);
        let sizes: Vec<u64> = params.chunks.iter().map(|c| u64::from(c.tokens)).collect();
        if planned != sizes {
            return Err(Error::Corrupt("the chunk table does not follow the chunk plan".into()));
        }
        self.ensure_session(params.session)?;
        progress.frame_started(total);

        let mut decoders = Vec::with_capacity(params.chunks.len());
        let mut offset = 0usize;
        for chunk in &params.chunks {
            decoders.push(Decoder::new(&payload[offset..offset + chunk.stream_len as usize]));
            offset += chunk.stream_len as usize;
        }
        let mut contents: Vec<Vec<u8>> = params
            .chunks
            .iter()
            .map(|c| Vec::with_capacity(c.bytes as usize))
            .collect();
        let vocab = self.lm_for(None)?.vocab().clone();
        let mut coded = 0u64;
        self.drive_lanes(&sizes, |lane, _, cdf| {
            let token = decoders[lane].decode(cdf) as TokenId;
            let piece = vocab.piece(token);
            if contents[lane].len() + piece.len() > params.chunks[lane].bytes as usize {
                return Err(diverged());
            }
            contents[lane].extend_from_slice(piece);
            coded += 1;
            if coded % 64 == 0 {
                progress.tokens_coded(coded, 0.0);
            }
            Ok(token)
        })?;
        for (content, chunk) in contents.iter().zip(&params.chunks) {
            if content.len() != chunk.bytes as usize || checksum(content) != chunk.content_checksum {
                return Err(diverged());
            }
            out.extend_from_slice(content);
        }
        Ok(())
    }

    /// Runs chunks `sizes[i]` on lanes `i` in lockstep: one LM step per round over all live lanes, then `code` for
    /// each of them in lane order with the CDF of its next token; `code` returns the token actually coded.
    fn drive_lanes(
        &mut self,
        sizes: &[u64],
        mut code: impl FnMut(usize, usize, &Cdf) -> Result<TokenId, Error>,
    ) -> Result<(), Error> {
        let session_lanes = self.session.map_or(0, |s| s.lanes as usize);
        let lm = self.lm.as_deref_mut().expect("a session implies a model");
        let bos = lm.vocab().bos();
        let n_symbols = lm.vocab().len();
        // Every lane starts empty, used or not, so a frame's decode calls never depend on what ran before it
        // (an earlier frame, or another file in the same run).
        for lane in 0..session_lanes {
            lm.reset_lane(lane)?;
        }
        let mut feed: Vec<Option<TokenId>> = vec![None; session_lanes];
        for (lane, &size) in sizes.iter().enumerate() {
            feed[lane] = (size > 0).then_some(bos);
        }
        let mut done = vec![0u64; sizes.len()];
        while feed.iter().any(Option::is_some) {
            lm.step(&feed)?;
            for lane in 0..sizes.len() {
                if feed[lane].is_none() {
                    continue;
                }
                softmax_into(lm.logits(lane), &mut self.probs);
                // Extra byte symbols have no logit: they get the CDF's floor.
                self.probs.resize(n_symbols, 0.0);
                self.cdf.quantize_into(&self.probs)?;
                let token = code(lane, done[lane] as usize, &self.cdf)?;
                done[lane] += 1;
                feed[lane] = (done[lane] < sizes[lane]).then_some(token);
            }
        }
        Ok(())
    }
}

/// The header's 32-bit id of an engine string.
pub fn engine_hash(engine: &str) -> u32 {
    checksum(engine.as_bytes())
}

fn diverged() -> Error {
    Error::Corrupt(
        "decoded data does not match its checksum although the compressed bytes are intact: this model or \
         engine computes different probabilities than the compressor's"
            .into(),
    )
}

/// Refuses to decode with a model or engine other than the compressor's.
fn check_compatible(lm: &dyn LanguageModel, params: &ModelParams) -> Result<(), Error> {
    if lm.fingerprint() != params.model_sha256 {
        return Err(Error::ModelMismatch {
            expected: params.model_sha256,
            found: lm.fingerprint(),
        });
    }
    let engine = lm.engine_id();
    if engine_hash(&engine) != params.engine_hash {
        return Err(Error::EngineMismatch {
            expected: params.engine_hash,
            found: engine,
        });
    }
    let vocab = lm.vocab();
    if vocab.len() as u64 != u64::from(params.n_vocab) || vocab.bos() != params.bos {
        return Err(Error::Corrupt(
            "vocabulary size or BOS token differ from the header".into(),
        ));
    }
    Ok(())
}

/// A frame holding `content` verbatim.
pub fn stored_frame(content: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        content_len: content.len() as u64,
        payload_checksum: checksum(content),
        body: FrameBody::Stored,
    };
    let mut bytes = header.write();
    bytes.extend_from_slice(content);
    bytes
}

/// Splits a whole compressed buffer into checked frames (header and payload checksums), without decoding.
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
