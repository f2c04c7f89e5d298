//! The nacz container, format version 7 (specified in `format-spec/nacz-format.md`): stored frames, token frames
//! (the LM and its predictors; since version 7 with the backend class and the lane grouping) and, since version
//! 6, byte-model frames (binary data). Version-1 frames (the LM alone, no predictor block), version-2 frames (no
//! context-gap field), version-3 frames (no line-ending flag), version-4 frames (no multi-context mixer or
//! probability map), version-5 frames (no byte-model frames) and version-6 frames (no backend class; all lanes
//! in one group) are still read.
//!
//! A file is one or more frames; frames concatenate. Each frame holds one slice of the input and is checked on its
//! own: one frame checksum covers every header and payload byte, so integrity is verified in milliseconds without
//! the model (`nacz test --quick`), and a modeled frame also carries a checksum of its content that verifies the
//! decoded bytes. The header is kept small (about 40 bytes for a one-chunk frame) because on short inputs every
//! byte of it shows in the ratio. Parsing does no I/O and checks every limit before allocating.

use crate::lm::{Backend, SessionConfig, CLASS_CPU, CLASS_CUDA, CPU_FEATURES, MAX_GPU_NAME};
use crate::lzma;
use byteorder::{ByteOrder, LittleEndian as LE};
use nacz_predictors::byte::{ByteModelConfig, BYTE_CONFIG_LEN};
use nacz_predictors::{MixerKind, PredictorConfig};
use xxhash_rust::xxh3::Xxh3;

/// "NACZ".
pub const MAGIC: [u8; 4] = *b"NACZ";
/// The version this nacz writes.
pub const FORMAT_VERSION: u8 = 8;
/// The oldest version it still reads: version-1 modeled frames have no predictor block and mean the LM alone.
pub const OLDEST_READABLE_VERSION: u8 = 1;
/// Magic, version, descriptor.
const PREFIX_LEN: usize = 6;
/// No valid header is longer; a larger length field is corruption, not a reason to allocate.
pub const MAX_HEADER_LEN: usize = 1 << 16;
pub const MAX_CHUNKS: usize = 256;
/// Frames never hold more input than this, so a reader's memory stays bounded.
pub const MAX_FRAME_CONTENT: u64 = 1 << 30;
/// A modeled or byte-model frame's payload is never larger than its content (it would be stored instead) plus
/// this slack.
const PAYLOAD_SLACK: u64 = 1 << 16;
/// Bytes of a frame that come before the header length is known: magic, version, descriptor, longest varint.
pub const MAX_FRAME_PREFIX: usize = PREFIX_LEN + 10;
/// Shortest header: prefix, one-byte length, one-byte content length, checksum.
const MIN_HEADER_LEN: u64 = PREFIX_LEN as u64 + 1 + 1 + 4;

/// Bits of precision of the CDFs a modeled frame of `version` codes with: 24 up to version 3; 28 since version
/// 4, which leaves the floor of one count per symbol 1/16 of the probability (0.1% instead of 1.6% of it for
/// Gemma's 262,144 symbols).
pub fn cdf_precision_bits(version: u8) -> u32 {
    if version >= 4 {
        28
    } else {
        24
    }
}

/// Ways a byte string can fail to be a nacz frame. One variant per way the format can be broken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a nacz file (bad magic)")]
    BadMagic,
    #[error("truncated: {what} needs {needed} more bytes")]
    Truncated { what: &'static str, needed: u64 },
    #[error(
        "format version {0} is not supported by this nacz (it reads versions {OLDEST_READABLE_VERSION} to \
         {FORMAT_VERSION}); a newer nacz may read it"
    )]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("header length {0} is out of range")]
    HeaderLength(u64),
    #[error("frame checksum mismatch: the compressed data is corrupt")]
    FrameChecksum,
    #[error("invalid header field {field}: {reason}")]
    Field { field: &'static str, reason: String },
}

/// How a frame's content is represented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameBody {
    /// The content verbatim (input the model cannot shrink).
    Stored,
    /// Tokens coded with the model's predictions, one arithmetic-coded stream per chunk.
    Modeled(ModelParams),
    /// Bytes coded bit by bit with the byte-level context-mixing model; since version 6.
    Bytes(ByteParams),
    /// A raw LZMA2 stream ([`crate::lzma`]); since version 7.
    Lzma(LzmaParams),
}

/// An LZMA frame's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LzmaParams {
    /// The dictionary holds 2^`dict_log` bytes.
    pub dict_log: u8,
    /// Length of the LZMA2 stream (the payload).
    pub stream_len: u64,
    /// Checksum of the frame's content, checked after decoding.
    pub content_checksum: u32,
}

/// A byte-model frame's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteParams {
    /// Every parameter of the byte model.
    pub config: ByteModelConfig,
    /// Length of the coded stream (the payload).
    pub stream_len: u64,
    /// Checksum of the frame's content, checked after decoding.
    pub content_checksum: u32,
}

/// Everything that can change a probability, plus what is needed to rebuild the decode calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelParams {
    /// The first 4 bytes of the model file's sha256.
    pub model_id: [u8; 4],
    /// 16-bit id of the engine string (llama.cpp build and ISA); decoding needs the same.
    pub engine_id: u16,
    /// The backend class that computed the logits; `None` before version 7 (a CPU, its instruction set known
    /// only through the engine id).
    pub backend: Option<Backend>,
    pub session: SessionConfig,
    /// The online predictors mixed with the LM ([`PredictorConfig::LM_ONLY`] for version-1 frames).
    pub predictors: PredictorConfig,
    /// Chunk-plan parameter: a chunk gets at least this many tokens unless the frame is shorter.
    pub min_chunk_tokens: u32,
    /// The content's line breaks are all CRLF and were modeled as LF ([`crate::newlines`]); since version 4.
    pub crlf: bool,
    pub chunks: Vec<ChunkEntry>,
    /// Checksum of the frame's content, checked after decoding.
    pub content_checksum: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub tokens: u32,
    pub stream_len: u32,
}

/// A parsed frame header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The format version the frame was written in (this nacz writes [`FORMAT_VERSION`]).
    pub version: u8,
    pub content_len: u64,
    pub body: FrameBody,
    /// Checksum of the header (without this field) followed by the payload.
    pub frame_checksum: u32,
}

/// The container's 32-bit checksum: the low half of xxh3-64 (zstd likewise keeps 32 bits of XXH64).
pub fn checksum(bytes: &[u8]) -> u32 {
    checksum_parts(&[bytes])
}

fn checksum_parts(parts: &[&[u8]]) -> u32 {
    let mut hasher = Xxh3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.digest() as u32
}

const KIND_STORED: u8 = 0;
const KIND_MODELED: u8 = 1;
/// Since version 6.
const KIND_BYTES: u8 = 2;
/// Since version 7.
const KIND_LZMA: u8 = 3;
/// Byte-model frames: the model's configuration block is present. Clear: the configuration is the default for the
/// content length (`ByteModelConfig::for_input_len`), and the 16 bytes are left out.
const FLAG_BYTE_CONFIG: u8 = 1 << 2;
const KIND_MASK: u8 = 0b11;
const FLAG_FLASH_ATTENTION: u8 = 1 << 2;
const FLAG_KV_Q8: u8 = 1 << 3;
/// Since version 4: CRLF line breaks modeled as LF.
const FLAG_CRLF: u8 = 1 << 4;

impl FrameHeader {
    /// Payload length that follows the header.
    pub fn payload_len(&self) -> u64 {
        match &self.body {
            FrameBody::Stored => self.content_len,
            FrameBody::Modeled(p) => p.chunks.iter().map(|c| u64::from(c.stream_len)).sum(),
            FrameBody::Bytes(p) => p.stream_len,
            FrameBody::Lzma(p) => p.stream_len,
        }
    }

    /// Serializes a frame: header (with the frame checksum over header and payload) followed by the payload.
    pub fn write_frame(content_len: u64, body: FrameBody, payload: &[u8]) -> Vec<u8> {
        let mut fields = Vec::with_capacity(48);
        put_varint(&mut fields, content_len);
        let mut descriptor = KIND_STORED;
        if let FrameBody::Modeled(p) = &body {
            descriptor = KIND_MODELED;
            let s = &p.session;
            if s.flash_attention {
                descriptor |= FLAG_FLASH_ATTENTION;
            }
            if s.kv_q8 {
                descriptor |= FLAG_KV_Q8;
            }
            if p.crlf {
                descriptor |= FLAG_CRLF;
            }
            fields.extend_from_slice(&p.model_id);
            fields.extend_from_slice(&p.engine_id.to_le_bytes());
            put_backend(
                &mut fields,
                p.backend.as_ref().expect("frames are written with their backend"),
            );
            for v in [
                s.lanes,
                s.lane_group,
                s.window,
                s.slide,
                s.sink,
                s.max_feed,
                p.min_chunk_tokens,
            ] {
                put_varint(&mut fields, u64::from(v));
            }
            let c = &p.predictors;
            for v in [
                u64::from(c.ngram_order),
                u64::from(c.ngram_table_bits),
                u64::from(c.match_min_len),
                u64::from(c.match_table_bits),
                u64::from(c.bias_rate),
                c.mixer as u64,
                u64::from(c.mixer_rate),
                u64::from(c.skip_miss_rate),
                u64::from(c.share_lanes),
                u64::from(c.skip_gap),
                u64::from(c.apm_rate),
            ] {
                put_varint(&mut fields, v);
            }
            put_varint(&mut fields, p.chunks.len() as u64);
            for c in &p.chunks {
                put_varint(&mut fields, u64::from(c.tokens));
                put_varint(&mut fields, u64::from(c.stream_len));
            }
            fields.extend_from_slice(&p.content_checksum.to_le_bytes());
        }
        if let FrameBody::Bytes(p) = &body {
            descriptor = KIND_BYTES;
            if p.config != ByteModelConfig::for_input_len(content_len) {
                descriptor |= FLAG_BYTE_CONFIG;
                fields.extend_from_slice(&p.config.to_bytes());
            }
            put_varint(&mut fields, p.stream_len);
            fields.extend_from_slice(&p.content_checksum.to_le_bytes());
        }
        if let FrameBody::Lzma(p) = &body {
            descriptor = KIND_LZMA;
            fields.push(p.dict_log);
            put_varint(&mut fields, p.stream_len);
            fields.extend_from_slice(&p.content_checksum.to_le_bytes());
        }
        let mut out = Vec::with_capacity(fields.len() + 16 + payload.len());
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(descriptor);
        // The length counts the whole header: its own varint and the checksum included.
        let mut total = PREFIX_LEN + 1 + fields.len() + 4;
        while PREFIX_LEN + varint_len(total as u64) + fields.len() + 4 != total {
            total = PREFIX_LEN + varint_len(total as u64) + fields.len() + 4;
        }
        put_varint(&mut out, total as u64);
        out.extend_from_slice(&fields);
        let sum = checksum_parts(&[&out, payload]);
        out.extend_from_slice(&sum.to_le_bytes());
        debug_assert_eq!(out.len(), total);
        out.extend_from_slice(payload);
        out
    }

    /// The header length announced by a frame prefix, if `input` holds enough of it to tell.
    pub fn announced_len(input: &[u8]) -> Result<usize, FormatError> {
        let magic_seen = input.len().min(4);
        if input.is_empty() || input[..magic_seen] != MAGIC[..magic_seen] {
            return Err(FormatError::BadMagic);
        }
        if input.len() < PREFIX_LEN + 1 {
            return Err(truncated("the frame header", (PREFIX_LEN + 1 - input.len()) as u64));
        }
        let mut r = Reader {
            buf: &input[PREFIX_LEN..],
        };
        let len = match r.varint("header length") {
            Ok(len) => len,
            Err(_) if r.buf.is_empty() && input.len() < MAX_FRAME_PREFIX => {
                return Err(truncated("the frame header", 1));
            }
            Err(e) => return Err(e),
        };
        if !(MIN_HEADER_LEN..=MAX_HEADER_LEN as u64).contains(&len) {
            return Err(FormatError::HeaderLength(len));
        }
        Ok(len as usize)
    }

    /// Parses a header at the start of `input`; returns it and its length. No I/O, no allocation beyond the header.
    /// The frame checksum can only be verified with the payload: see [`read_frame`].
    pub fn read(input: &[u8]) -> Result<(Self, usize), FormatError> {
        let header_len = Self::announced_len(input)?;
        if input.len() < header_len {
            return Err(truncated("the frame header", (header_len - input.len()) as u64));
        }
        let version = input[4];
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let descriptor = input[5];
        let mut r = Reader {
            buf: &input[PREFIX_LEN..header_len - 4],
        };
        r.varint("header length")?;
        let content_len = r.varint("content length")?;
        if content_len > MAX_FRAME_CONTENT {
            return Err(field(
                "content length",
                format!("{content_len} exceeds {MAX_FRAME_CONTENT}"),
            ));
        }
        let body = match descriptor & KIND_MASK {
            KIND_STORED if descriptor == KIND_STORED => FrameBody::Stored,
            KIND_STORED => {
                return Err(field(
                    "descriptor",
                    format!("flags {descriptor:#04x} on a stored frame"),
                ))
            }
            KIND_MODELED => FrameBody::Modeled(read_model_params(&mut r, version, descriptor, content_len)?),
            KIND_BYTES if version >= 6 => {
                if descriptor & !FLAG_BYTE_CONFIG != KIND_BYTES {
                    return Err(field(
                        "descriptor",
                        format!("flags {descriptor:#04x} on a byte-model frame"),
                    ));
                }
                FrameBody::Bytes(read_byte_params(
                    &mut r,
                    descriptor & FLAG_BYTE_CONFIG != 0,
                    content_len,
                )?)
            }
            KIND_LZMA if version >= 7 => {
                if descriptor != KIND_LZMA {
                    return Err(field("descriptor", format!("flags {descriptor:#04x} on an LZMA frame")));
                }
                FrameBody::Lzma(read_lzma_params(&mut r)?)
            }
            other => return Err(FormatError::UnknownKind(other)),
        };
        if !r.buf.is_empty() {
            return Err(field("header length", format!("{} unread header bytes", r.buf.len())));
        }
        let frame_checksum = LE::read_u32(&input[header_len - 4..header_len]);
        let header = Self {
            version,
            content_len,
            body,
            frame_checksum,
        };
        let streams = match header.body {
            FrameBody::Stored => None,
            FrameBody::Modeled(_) => Some("chunk table"),
            FrameBody::Bytes(_) | FrameBody::Lzma(_) => Some("stream length"),
        };
        if let Some(what) = streams.filter(|_| header.payload_len() > content_len + PAYLOAD_SLACK) {
            return Err(field(what, "the streams are longer than any valid frame's".into()));
        }
        Ok((header, header_len))
    }
}

fn read_model_params(
    r: &mut Reader<'_>,
    version: u8,
    descriptor: u8,
    content_len: u64,
) -> Result<ModelParams, FormatError> {
    let known_flags = if version >= 4 {
        FLAG_FLASH_ATTENTION | FLAG_KV_Q8 | FLAG_CRLF
    } else {
        FLAG_FLASH_ATTENTION | FLAG_KV_Q8
    };
    if descriptor & !(KIND_MASK | known_flags) != 0 {
        return Err(field("descriptor", format!("reserved bits set in {descriptor:#04x}")));
    }
    let model_id: [u8; 4] = r.take(4, "model id")?.try_into().expect("4 bytes");
    let engine_id = LE::read_u16(r.take(2, "engine id")?);
    let backend = if version >= 7 { Some(read_backend(r)?) } else { None };
    let lanes = r.varint_u32("lanes")?;
    let lane_group = if version >= 7 {
        r.varint_u32("lanes per group")?
    } else {
        lanes
    };
    let window = r.varint_u32("window")?;
    let slide = r.varint_u32("slide")?;
    let sink = r.varint_u32("sink")?;
    let max_feed = if version == 1 {
        1
    } else {
        r.varint_u32("tokens per step")?
    };
    let min_chunk_tokens = r.varint_u32("minimum chunk tokens")?;
    let session = SessionConfig {
        lanes,
        lane_group,
        window,
        slide,
        sink,
        flash_attention: descriptor & FLAG_FLASH_ATTENTION != 0,
        kv_q8: descriptor & FLAG_KV_Q8 != 0,
        max_feed,
    };
    session.validate().map_err(|e| field("session", e.to_string()))?;
    let predictors = if version == 1 {
        PredictorConfig::LM_ONLY
    } else {
        read_predictors(r, version)?
    };
    predictors
        .validate(lanes)
        .map_err(|e| field("predictors", e.to_string()))?;
    let n_chunks = r.varint("chunk count")?;
    if n_chunks == 0 || n_chunks > MAX_CHUNKS as u64 || n_chunks > u64::from(lanes) {
        return Err(field("chunk count", format!("{n_chunks} chunks for {lanes} lanes")));
    }
    let mut chunks = Vec::with_capacity(n_chunks as usize);
    for _ in 0..n_chunks {
        chunks.push(ChunkEntry {
            tokens: r.varint_u32("chunk tokens")?,
            stream_len: r.varint_u32("chunk stream length")?,
        });
    }
    let tokens: u64 = chunks.iter().map(|c| u64::from(c.tokens)).sum();
    if tokens > content_len {
        return Err(field(
            "chunk table",
            format!("{tokens} tokens cannot make {content_len} bytes"),
        ));
    }
    let content_checksum = r.u32("content checksum")?;
    Ok(ModelParams {
        model_id,
        engine_id,
        backend,
        session,
        predictors,
        min_chunk_tokens,
        crlf: descriptor & FLAG_CRLF != 0,
        chunks,
        content_checksum,
    })
}

/// The backend block: a class byte, then the CPU's feature bits, or the GPU's compute capability, SM count,
/// CUDA and cuBLAS versions and name.
fn put_backend(out: &mut Vec<u8>, backend: &Backend) {
    out.push(backend.class());
    match backend {
        Backend::Cpu { features } => put_varint(out, u64::from(*features)),
        Backend::Cuda {
            gpu,
            compute_capability,
            sms,
            cuda_version,
            cublas_version,
        } => {
            for v in [compute_capability, sms, cuda_version, cublas_version] {
                put_varint(out, u64::from(*v));
            }
            let name = &gpu.as_bytes()[..gpu.len().min(MAX_GPU_NAME)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
    }
}

fn read_backend(r: &mut Reader<'_>) -> Result<Backend, FormatError> {
    match r.take(1, "backend class")?[0] {
        CLASS_CPU => {
            let features = r.varint_u32("CPU features")?;
            if features >> CPU_FEATURES.len() != 0 {
                return Err(field("CPU features", format!("unknown feature bits in {features:#x}")));
            }
            Ok(Backend::Cpu { features })
        }
        CLASS_CUDA => {
            let compute_capability = r.varint_u32("compute capability")?;
            let sms = r.varint_u32("SM count")?;
            let cuda_version = r.varint_u32("CUDA version")?;
            let cublas_version = r.varint_u32("cuBLAS version")?;
            let len = usize::from(r.take(1, "GPU name length")?[0]);
            if len > MAX_GPU_NAME {
                return Err(field("GPU name", format!("{len} bytes, at most {MAX_GPU_NAME}")));
            }
            let gpu = std::str::from_utf8(r.take(len, "GPU name")?)
                .map_err(|_| field("GPU name", "not UTF-8".into()))?
                .to_string();
            Ok(Backend::Cuda {
                gpu,
                compute_capability,
                sms,
                cuda_version,
                cublas_version,
            })
        }
        class => Err(field("backend class", format!("unknown class {class}"))),
    }
}

fn read_lzma_params(r: &mut Reader<'_>) -> Result<LzmaParams, FormatError> {
    let dict_log = r.take(1, "LZMA dictionary")?[0];
    if !(lzma::MIN_DICT_LOG..=lzma::MAX_DICT_LOG).contains(&dict_log) {
        return Err(field(
            "LZMA dictionary",
            format!(
                "2^{dict_log} bytes, outside 2^{}..=2^{}",
                lzma::MIN_DICT_LOG,
                lzma::MAX_DICT_LOG
            ),
        ));
    }
    Ok(LzmaParams {
        dict_log,
        stream_len: r.varint("stream length")?,
        content_checksum: r.u32("content checksum")?,
    })
}

fn read_byte_params(r: &mut Reader<'_>, has_config: bool, content_len: u64) -> Result<ByteParams, FormatError> {
    let config = if has_config {
        ByteModelConfig::from_bytes(r.take(BYTE_CONFIG_LEN, "byte model")?)
            .map_err(|e| field("byte model", e.to_string()))?
    } else {
        ByteModelConfig::for_input_len(content_len)
    };
    let stream_len = r.varint("stream length")?;
    let content_checksum = r.u32("content checksum")?;
    Ok(ByteParams {
        config,
        stream_len,
        content_checksum,
    })
}

fn read_predictors(r: &mut Reader<'_>, version: u8) -> Result<PredictorConfig, FormatError> {
    let small = |r: &mut Reader<'_>, what: &'static str, max: u64| -> Result<u64, FormatError> {
        let v = r.varint(what)?;
        if v > max {
            return Err(field(what, format!("{v} exceeds {max}")));
        }
        Ok(v)
    };
    Ok(PredictorConfig {
        ngram_order: small(r, "n-gram order", 255)? as u8,
        ngram_table_bits: small(r, "n-gram table bits", 255)? as u8,
        match_min_len: small(r, "match length", 255)? as u8,
        match_table_bits: small(r, "match table bits", 255)? as u8,
        bias_rate: small(r, "bias rate", 0xFFFF)? as u16,
        mixer: MixerKind::from_code(r.varint("mixer kind")?)
            // The multi-context mixer came with version 5.
            .filter(|&kind| version >= 5 || kind != MixerKind::MultiContext)
            .ok_or_else(|| field("mixer kind", "unknown mixer".into()))?,
        mixer_rate: small(r, "mixer rate", 0xFFFF)? as u16,
        skip_miss_rate: small(r, "skip miss rate", 0xFFFF)? as u16,
        share_lanes: small(r, "shared lanes", 1)? == 1,
        // Version 2 had no context gaps: every skipped token was fed.
        skip_gap: version >= 3 && small(r, "skip gap", 1)? == 1,
        // Before version 5 there was no adaptive probability map.
        apm_rate: if version >= 5 {
            small(r, "map rate", 0xFFFF)? as u16
        } else {
            0
        },
    })
}

fn field(field: &'static str, reason: String) -> FormatError {
    FormatError::Field { field, reason }
}

fn truncated(what: &'static str, needed: u64) -> FormatError {
    FormatError::Truncated { what, needed }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// LEB128: 7 bits a byte, low first, high bit set on all but the last byte.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        if self.buf.len() < n {
            return Err(field(what, "runs past the end of the header".into()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        Ok(LE::read_u32(self.take(4, what)?))
    }
    /// A minimal-length LEB128 of at most 64 bits.
    fn varint(&mut self, what: &'static str) -> Result<u64, FormatError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.take(1, what)?[0];
            let bits = u64::from(byte & 0x7F);
            if i == 9 && bits > 1 {
                return Err(field(what, "varint overflows 64 bits".into()));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(field(what, "varint is not minimal".into()));
                }
                return Ok(value);
            }
        }
        Err(field(what, "varint longer than 10 bytes".into()))
    }
    fn varint_u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| field(what, format!("{v} exceeds 32 bits")))
    }
}

/// A whole frame located in a buffer: its header and payload.
pub struct FrameRef<'a> {
    pub header: FrameHeader,
    pub payload: &'a [u8],
}

/// Parses the frame at the start of `input` and verifies its checksum without decoding anything. Returns the
/// frame and the number of bytes it spans.
pub fn read_frame(input: &[u8]) -> Result<(FrameRef<'_>, usize), FormatError> {
    let (header, header_len) = FrameHeader::read(input)?;
    let payload_len = header.payload_len();
    let available = (input.len() - header_len) as u64;
    if available < payload_len {
        return Err(truncated("the compressed data", payload_len - available));
    }
    let payload = &input[header_len..header_len + payload_len as usize];
    if checksum_parts(&[&input[..header_len - 4], payload]) != header.frame_checksum {
        return Err(FormatError::FrameChecksum);
    }
    Ok((FrameRef { header, payload }, header_len + payload_len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modeled() -> FrameBody {
        FrameBody::Modeled(ModelParams {
            model_id: [3; 4],
            engine_id: 0xBEEF,
            backend: Some(Backend::Cpu { features: 0b1011 }),
            session: SessionConfig {
                lanes: 4,
                lane_group: 3,
                window: 64,
                slide: 16,
                sink: 4,
                flash_attention: true,
                kv_q8: true,
                max_feed: 1,
            },
            predictors: PredictorConfig {
                ngram_order: 4,
                match_min_len: 6,
                bias_rate: 300,
                mixer_rate: 1000,
                skip_miss_rate: 20,
                share_lanes: true,
                skip_gap: true,
                ..PredictorConfig::LM_ONLY
            },
            min_chunk_tokens: 8,
            crlf: true,
            chunks: vec![
                ChunkEntry {
                    tokens: 5,
                    stream_len: 3,
                },
                ChunkEntry {
                    tokens: 6,
                    stream_len: 5,
                },
            ],
            content_checksum: 0x1234_5678,
        })
    }

    fn modeled_frame() -> Vec<u8> {
        FrameHeader::write_frame(30, modeled(), b"abcdefgh")
    }

    #[test]
    fn frames_round_trip() {
        let bytes = modeled_frame();
        let (frame, len) = read_frame(&bytes).unwrap();
        assert_eq!(
            (frame.header.content_len, &frame.header.body, frame.payload, len),
            (30, &modeled(), &b"abcdefgh"[..], modeled_frame().len())
        );
        let lzma = FrameBody::Lzma(LzmaParams {
            dict_log: 16,
            stream_len: 5,
            content_checksum: 9,
        });
        let bytes = FrameHeader::write_frame(40_000, lzma.clone(), b"lzma!");
        let (frame, len) = read_frame(&bytes).unwrap();
        assert_eq!(
            (&frame.header.body, frame.payload, len),
            (&lzma, &b"lzma!"[..], bytes.len())
        );
        let mut huge_dictionary = bytes.clone();
        huge_dictionary[10] = 27;
        let err = FrameHeader::read(&huge_dictionary).unwrap_err();
        assert!(err.to_string().contains("2^27 bytes"), "{err}");
        let stored = FrameHeader::write_frame(3, FrameBody::Stored, b"xyz");
        let (frame, len) = read_frame(&stored).unwrap();
        assert_eq!(
            (frame.header.body, frame.payload, len),
            (FrameBody::Stored, &b"xyz"[..], stored.len())
        );
    }

    #[test]
    fn one_chunk_header_is_small() {
        let body = FrameBody::Modeled(ModelParams {
            model_id: [1; 4],
            engine_id: 1,
            backend: Some(Backend::Cpu { features: 0x1FF }),
            session: SessionConfig {
                lanes: 8,
                lane_group: 8,
                window: 4096,
                slide: 256,
                sink: 4,
                flash_attention: true,
                kv_q8: false,
                max_feed: 1,
            },
            predictors: PredictorConfig::LM_ONLY,
            min_chunk_tokens: 8192,
            crlf: false,
            chunks: vec![ChunkEntry {
                tokens: 5448,
                stream_len: 2790,
            }],
            content_checksum: 7,
        });
        let payload = vec![0u8; 2790];
        // 4 bytes more than version 6's: the backend class, two bytes of CPU features and the lane grouping.
        assert_eq!(
            FrameHeader::write_frame(20_000, body, &payload).len() - payload.len(),
            53
        );
    }

    #[test]
    fn backends_round_trip_and_unknown_ones_are_refused() {
        let FrameBody::Modeled(params) = modeled() else {
            unreachable!()
        };
        let h200 = Backend::Cuda {
            gpu: "NVIDIA H200".into(),
            compute_capability: 90,
            sms: 132,
            cuda_version: 13000,
            cublas_version: 130_001,
        };
        let body = FrameBody::Modeled(ModelParams {
            backend: Some(h200),
            ..params.clone()
        });
        let bytes = FrameHeader::write_frame(30, body.clone(), b"abcdefgh");
        assert_eq!(read_frame(&bytes).unwrap().0.header.body, body);
        for (backend, error) in [
            (vec![2u8], "unknown class 2"),
            (vec![CLASS_CPU, 0x80, 0x80, 0x80, 0x10], "unknown feature bits"),
        ] {
            let mut fields = Vec::new();
            fields.extend_from_slice(&backend);
            fields.push(0);
            let err = read_backend(&mut Reader { buf: &fields }).unwrap_err();
            assert!(err.to_string().contains(error), "{err}");
        }
    }

    #[test]
    fn varints_round_trip_and_must_be_minimal() {
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v));
            assert_eq!(Reader { buf: &buf }.varint("v").unwrap(), v);
        }
        assert!(Reader { buf: &[0x80, 0x00] }.varint("v").is_err());
        assert!(Reader { buf: &[0xFF; 11] }.varint("v").is_err());
    }

    #[test]
    fn every_single_byte_corruption_is_detected() {
        let frame = modeled_frame();
        for i in 0..frame.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = frame.clone();
                bad[i] ^= flip;
                assert!(read_frame(&bad).is_err(), "byte {i} ^ {flip:#x} not detected");
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let frame = modeled_frame();
        for len in 0..frame.len() {
            assert!(read_frame(&frame[..len]).is_err(), "truncation to {len} not detected");
        }
    }

    #[test]
    fn huge_length_fields_are_refused_before_allocating() {
        let mut bytes = modeled_frame();
        bytes[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F]);
        let err = FrameHeader::read(&bytes);
        assert!(matches!(err, Err(FormatError::HeaderLength(_))), "{err:?}");
    }
}
