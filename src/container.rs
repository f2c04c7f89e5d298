//! The nacz container, format version 1 (specified in `format-spec/nacz-format.md`).
//!
//! A file is one or more frames; frames concatenate. Each frame holds one slice of the input and is checked on its
//! own: a header checksum covers every header byte and a payload checksum every compressed byte, so integrity is
//! verified without the model (`nacz test --quick`); a checksum of each chunk's content verifies the decoded bytes
//! (for stored frames the payload is the content). Parsing does no I/O and checks every limit before allocating.

use byteorder::{ByteOrder, LittleEndian as LE};
use nacz_predictors::SessionConfig;
use xxhash_rust::xxh3::xxh3_64;

/// "NACZ".
pub const MAGIC: [u8; 4] = *b"NACZ";
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version, kind.
const PREFIX_LEN: usize = 6;
/// No valid header is longer; a larger length field is corruption, not a reason to allocate.
pub const MAX_HEADER_LEN: usize = 1 << 16;
pub const MAX_CHUNKS: usize = 256;
/// Frames never hold more input than this, so a reader's memory stays bounded.
pub const MAX_FRAME_CONTENT: u64 = 1 << 30;
/// Bytes of a frame that come before the header length is known: magic, version, kind, and the longest varint.
pub const MAX_FRAME_PREFIX: usize = PREFIX_LEN + 10;

/// Ways a byte string can fail to be a nacz frame. One variant per way the format can be broken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a nacz file (bad magic)")]
    BadMagic,
    #[error("truncated: {what} needs {needed} more bytes")]
    Truncated { what: &'static str, needed: usize },
    #[error("format version {0} is not supported by this nacz (it reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("header length {0} is out of range")]
    HeaderLength(u64),
    #[error("header checksum mismatch: the header is corrupt")]
    HeaderChecksum,
    #[error("compressed data checksum mismatch: the compressed data is corrupt")]
    PayloadChecksum,
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
}

/// Everything that can change a probability, plus what is needed to rebuild the decode calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelParams {
    /// sha256 of the model file.
    pub model_sha256: [u8; 32],
    /// 32-bit hash of the engine id string (llama.cpp build and ISA); decoding needs the same.
    pub engine_hash: u32,
    /// Size of the coding alphabet (model tokens plus extra byte symbols).
    pub n_vocab: u32,
    pub bos: u32,
    pub session: SessionConfig,
    /// Chunk-plan parameter: a chunk gets at least this many tokens unless the frame is shorter.
    pub min_chunk_tokens: u32,
    pub chunks: Vec<ChunkEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub tokens: u32,
    pub bytes: u32,
    pub stream_len: u32,
    /// Checksum of the chunk's content bytes.
    pub content_checksum: u32,
}

/// A parsed frame header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub content_len: u64,
    /// Checksum of the payload bytes (the streams, or the stored content).
    pub payload_checksum: u32,
    pub body: FrameBody,
}

/// The container's 32-bit checksum: the low half of xxh3-64 (zstd likewise keeps 32 bits of XXH64).
pub fn checksum(bytes: &[u8]) -> u32 {
    xxh3_64(bytes) as u32
}

const KIND_STORED: u8 = 0;
const KIND_MODELED: u8 = 1;
const FLAG_FLASH_ATTENTION: u8 = 1;
const FLAG_KV_Q8: u8 = 2;

impl FrameHeader {
    /// Payload length that follows the header.
    pub fn payload_len(&self) -> u64 {
        match &self.body {
            FrameBody::Stored => self.content_len,
            FrameBody::Modeled(p) => p.chunks.iter().map(|c| u64::from(c.stream_len)).sum(),
        }
    }

    /// Serializes the header (with its checksum).
    pub fn write(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(96);
        put_varint(&mut body, self.content_len);
        body.extend_from_slice(&self.payload_checksum.to_le_bytes());
        if let FrameBody::Modeled(p) = &self.body {
            body.extend_from_slice(&p.model_sha256);
            body.extend_from_slice(&p.engine_hash.to_le_bytes());
            let s = &p.session;
            for v in [p.n_vocab, p.bos, s.lanes, s.window, s.slide, s.sink, p.min_chunk_tokens] {
                put_varint(&mut body, u64::from(v));
            }
            let mut flags = 0;
            if s.flash_attention {
                flags |= FLAG_FLASH_ATTENTION;
            }
            if s.kv_q8 {
                flags |= FLAG_KV_Q8;
            }
            body.push(flags);
            put_varint(&mut body, p.chunks.len() as u64);
            for c in &p.chunks {
                put_varint(&mut body, u64::from(c.tokens));
                put_varint(&mut body, u64::from(c.bytes));
                put_varint(&mut body, u64::from(c.stream_len));
                body.extend_from_slice(&c.content_checksum.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(body.len() + 16);
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(match self.body {
            FrameBody::Stored => KIND_STORED,
            FrameBody::Modeled(_) => KIND_MODELED,
        });
        // The length counts the whole header, its own varint and the checksum included.
        let mut total = PREFIX_LEN + body.len() + 4 + 1;
        while PREFIX_LEN + varint_len(total as u64) + body.len() + 4 != total {
            total = PREFIX_LEN + varint_len(total as u64) + body.len() + 4;
        }
        put_varint(&mut out, total as u64);
        out.extend_from_slice(&body);
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        debug_assert_eq!(out.len(), total);
        out
    }

    /// The header length announced by a frame prefix, if `input` holds enough of it to tell.
    pub fn announced_len(input: &[u8]) -> Result<usize, FormatError> {
        check_prefix(input)?;
        let mut r = Reader {
            buf: &input[PREFIX_LEN..],
        };
        let len = r.varint("header length").map_err(|_| FormatError::Truncated {
            what: "the frame header",
            needed: 1,
        })?;
        if !(PREFIX_LEN as u64 + 5..=MAX_HEADER_LEN as u64).contains(&len) {
            return Err(FormatError::HeaderLength(len));
        }
        Ok(len as usize)
    }

    /// Parses a header at the start of `input`; returns it and its length. No I/O, no allocation beyond the header.
    pub fn read(input: &[u8]) -> Result<(Self, usize), FormatError> {
        let header_len = Self::announced_len(input)?;
        if input.len() < header_len {
            return Err(FormatError::Truncated {
                what: "the frame header",
                needed: header_len - input.len(),
            });
        }
        let (body, stored_sum) = input[..header_len].split_at(header_len - 4);
        if checksum(body) != LE::read_u32(stored_sum) {
            return Err(FormatError::HeaderChecksum);
        }
        // From here on the bytes are the writer's; checks below catch a writer that broke the rules.
        let version = input[4];
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let kind = input[5];
        let mut r = Reader {
            buf: &body[PREFIX_LEN..],
        };
        r.varint("header length")?;
        let content_len = r.varint("content length")?;
        if content_len > MAX_FRAME_CONTENT {
            return Err(field(
                "content length",
                format!("{content_len} exceeds {MAX_FRAME_CONTENT}"),
            ));
        }
        let payload_checksum = r.u32("payload checksum")?;
        let body = match kind {
            KIND_STORED => FrameBody::Stored,
            KIND_MODELED => FrameBody::Modeled(read_model_params(&mut r, content_len)?),
            other => return Err(FormatError::UnknownKind(other)),
        };
        if !r.buf.is_empty() {
            return Err(field("header length", format!("{} unread header bytes", r.buf.len())));
        }
        Ok((
            Self {
                content_len,
                payload_checksum,
                body,
            },
            header_len,
        ))
    }
}

fn check_prefix(input: &[u8]) -> Result<(), FormatError> {
    let magic_seen = input.len().min(4);
    if input.is_empty() || input[..magic_seen] != MAGIC[..magic_seen] {
        return Err(FormatError::BadMagic);
    }
    if input.len() < PREFIX_LEN + 1 {
        return Err(FormatError::Truncated {
            what: "the frame header",
            needed: PREFIX_LEN + 1 - input.len(),
        });
    }
    Ok(())
}

fn read_model_params(r: &mut Reader<'_>, content_len: u64) -> Result<ModelParams, FormatError> {
    let model_sha256: [u8; 32] = r.take(32, "model fingerprint")?.try_into().expect("32 bytes");
    let engine_hash = r.u32("engine id")?;
    let n_vocab = r.varint_u32("vocabulary size")?;
    let bos = r.varint_u32("BOS token")?;
    let lanes = r.varint_u32("lanes")?;
    let window = r.varint_u32("window")?;
    let slide = r.varint_u32("slide")?;
    let sink = r.varint_u32("sink")?;
    let min_chunk_tokens = r.varint_u32("minimum chunk tokens")?;
    let flags = r.u8("flags")?;
    if flags & !(FLAG_FLASH_ATTENTION | FLAG_KV_Q8) != 0 {
        return Err(field("flags", format!("unknown flags {flags:#04x}")));
    }
    let session = SessionConfig {
        lanes,
        window,
        slide,
        sink,
        flash_attention: flags & FLAG_FLASH_ATTENTION != 0,
        kv_q8: flags & FLAG_KV_Q8 != 0,
    };
    session.validate().map_err(|e| field("session", e.to_string()))?;
    let n_chunks = r.varint("chunk count")?;
    if n_chunks == 0 || n_chunks > MAX_CHUNKS as u64 || n_chunks > u64::from(lanes) {
        return Err(field("chunk count", format!("{n_chunks} chunks for {lanes} lanes")));
    }
    let mut chunks = Vec::with_capacity(n_chunks as usize);
    for _ in 0..n_chunks {
        chunks.push(ChunkEntry {
            tokens: r.varint_u32("chunk tokens")?,
            bytes: r.varint_u32("chunk bytes")?,
            stream_len: r.varint_u32("chunk stream length")?,
            content_checksum: r.u32("chunk checksum")?,
        });
    }
    let bytes: u64 = chunks.iter().map(|c| u64::from(c.bytes)).sum();
    if bytes != content_len {
        return Err(field(
            "chunk table",
            format!("chunks hold {bytes} bytes, the frame {content_len}"),
        ));
    }
    if let Some(c) = chunks.iter().find(|c| c.tokens > c.bytes) {
        return Err(field(
            "chunk table",
            format!("{} tokens cannot make {} bytes", c.tokens, c.bytes),
        ));
    }
    Ok(ModelParams {
        model_sha256,
        engine_hash,
        n_vocab,
        bos,
        session,
        min_chunk_tokens,
        chunks,
    })
}

fn field(field: &'static str, reason: String) -> FormatError {
    FormatError::Field { field, reason }
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
    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        Ok(LE::read_u32(self.take(4, what)?))
    }
    /// A minimal-length LEB128 of at most 64 bits.
    fn varint(&mut self, what: &'static str) -> Result<u64, FormatError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.u8(what)?;
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

/// Parses and checksums the frame at the start of `input` (header checksum and payload checksum) without decoding
/// anything. Returns the frame and the number of bytes it spans.
pub fn read_frame(input: &[u8]) -> Result<(FrameRef<'_>, usize), FormatError> {
    let (header, header_len) = FrameHeader::read(input)?;
    let payload_len = header.payload_len();
    let available = (input.len() - header_len) as u64;
    if available < payload_len {
        return Err(FormatError::Truncated {
            what: "the compressed data",
            needed: (payload_len - available).try_into().unwrap_or(usize::MAX),
        });
    }
    let payload = &input[header_len..header_len + payload_len as usize];
    if checksum(payload) != header.payload_checksum {
        return Err(FormatError::PayloadChecksum);
    }
    Ok((FrameRef { header, payload }, header_len + payload_len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modeled() -> FrameHeader {
        FrameHeader {
            content_len: 30,
            payload_checksum: checksum(b"abcdefgh"),
            body: FrameBody::Modeled(ModelParams {
                model_sha256: [3; 32],
                engine_hash: 0xDEAD_BEEF,
                n_vocab: 300,
                bos: 0,
                session: SessionConfig {
                    lanes: 4,
                    window: 64,
                    slide: 16,
                    sink: 4,
                    flash_attention: false,
                    kv_q8: true,
                },
                min_chunk_tokens: 8,
                chunks: vec![
                    ChunkEntry {
                        tokens: 5,
                        bytes: 10,
                        stream_len: 3,
                        content_checksum: 1,
                    },
                    ChunkEntry {
                        tokens: 6,
                        bytes: 20,
                        stream_len: 5,
                        content_checksum: 2,
                    },
                ],
            }),
        }
    }

    #[test]
    fn header_round_trips() {
        let stored = FrameHeader {
            content_len: 3,
            payload_checksum: 2,
            body: FrameBody::Stored,
        };
        for header in [modeled(), stored] {
            let bytes = header.write();
            assert_eq!(FrameHeader::read(&bytes).unwrap(), (header, bytes.len()));
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
        let mut frame = modeled().write();
        frame.extend_from_slice(b"abcdefgh");
        assert!(read_frame(&frame).is_ok());
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
        let mut frame = modeled().write();
        frame.extend_from_slice(b"abcdefgh");
        for len in 0..frame.len() {
            assert!(read_frame(&frame[..len]).is_err(), "truncation to {len} not detected");
        }
    }

    #[test]
    fn huge_length_fields_do_not_allocate() {
        let mut bytes = modeled().write();
        bytes[6] = 0xFF;
        bytes[7] = 0xFF;
        assert!(matches!(FrameHeader::read(&bytes), Err(FormatError::HeaderLength(_))));
    }
}
