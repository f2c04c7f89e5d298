//! Files and pipes in frames: input of any length (a file or stdin) is read in blocks of bounded size, each
//! compressed on its own as one frame or, cut into text and binary segments, as several, so memory stays bounded;
//! compressed input is read back frame by frame.

use std::io::{self, Read, Write};

use crate::codec::{is_text, CompressSettings, CompressedFrame, Engine, NoProgress, Progress};
use crate::container::{read_frame, FormatError, FrameHeader, FrameRef, MAX_FRAME_PREFIX};
use crate::{segment, Error};

/// Input bytes per frame. Large enough that a frame's lanes get long chunks, small enough for bounded memory.
pub const FRAME_BYTES: usize = 8 << 20;

/// Totals of a compression run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub frames: u64,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub tokens: u64,
    /// Tokens coded without the LM's prediction (confidence skip).
    pub skipped: u64,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Compresses everything `input` yields into frames written to `output`. Empty input still gives one frame, so
/// every nacz file has a header.
pub fn compress(
    engine: &mut Engine,
    settings: &CompressSettings,
    frame_bytes: usize,
    input: &mut dyn Read,
    output: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<Totals, Error> {
    let mut totals = Totals::default();
    let mut buf = vec![0u8; frame_bytes];
    loop {
        let n = read_full(input, &mut buf)?;
        if n == 0 && totals.frames > 0 {
            break;
        }
        for frame in compress_block(engine, settings, &buf[..n], progress)? {
            output.write_all(&frame.bytes)?;
            totals.frames += 1;
            totals.output_bytes += frame.bytes.len() as u64;
            totals.tokens += frame.tokens;
            totals.skipped += frame.skipped;
        }
        totals.input_bytes += n as u64;
        if n < frame_bytes {
            break;
        }
    }
    output.flush()?;
    Ok(totals)
}

/// One block of input as frames: one frame, or one per segment ([`crate::segment`]) where cutting the block into
/// text and binary segments gives fewer bytes than the whole block as one byte-model or LZMA frame (which keeps
/// a binary's context whole). Binary segments are coded as [`Engine::byte_frame`] codes them, text segments as
/// [`Engine::compress_frame`] does.
fn compress_block(
    engine: &mut Engine,
    settings: &CompressSettings,
    block: &[u8],
    progress: &mut dyn Progress,
) -> Result<Vec<CompressedFrame>, Error> {
    let segments = if settings.byte_model {
        segment::split(block)
    } else {
        Vec::new()
    };
    if segments.len() <= 1 {
        return Ok(vec![engine.compress_frame(settings, block, progress)?]);
    }
    // Every segment as the byte model (or LZMA) codes it, and the whole block so: cheap beside the LM. The LM can
    // only shrink the text segments; it runs only if the cut pays with it doing as well as it typically does
    // (about half the byte model's size on text), so a binary with a few string tables does not wake it.
    let whole = without_lm(engine.byte_frame(block, &mut NoProgress)?);
    let mut frames = Vec::with_capacity(segments.len());
    let mut text = Vec::with_capacity(segments.len());
    for range in &segments {
        let content = &block[range.clone()];
        frames.push(without_lm(engine.byte_frame(content, &mut NoProgress)?));
        text.push(is_text(content));
    }
    let expected: usize = frames
        .iter()
        .zip(&text)
        .map(|(f, &t)| if t { f.bytes.len() / 2 } else { f.bytes.len() })
        .sum();
    if expected >= whole.bytes.len() {
        return Ok(vec![whole]);
    }
    for ((frame, range), _) in frames.iter_mut().zip(&segments).zip(&text).filter(|(_, &t)| t) {
        *frame = engine.compress_frame(settings, &block[range.clone()], progress)?;
    }
    let cut: usize = frames.iter().map(|f| f.bytes.len()).sum();
    if whole.bytes.len() <= cut {
        return Ok(vec![whole]);
    }
    Ok(frames)
}

/// A frame made without the language model.
fn without_lm(bytes: Vec<u8>) -> CompressedFrame {
    CompressedFrame {
        bytes,
        tokens: 0,
        skipped: 0,
    }
}

/// Reads one whole frame (header and payload) from a stream into `buf`; `Ok(false)` at a clean end of input.
/// Allocation follows the bytes actually present, so a lying length field cannot make it allocate.
pub fn read_frame_bytes(input: &mut dyn Read, buf: &mut Vec<u8>, index: usize) -> Result<bool, Error> {
    buf.clear();
    let frame_err = |source| Error::Frame { index, source };
    let mut prefix = [0u8; MAX_FRAME_PREFIX];
    let n = read_full(input, &mut prefix[..7])?;
    if n == 0 {
        return Ok(false);
    }
    buf.extend_from_slice(&prefix[..n]);
    // Read the header-length varint a byte at a time so nothing past the header is consumed early.
    let header_len = loop {
        match FrameHeader::announced_len(buf) {
            Ok(len) => break len,
            Err(FormatError::Truncated { .. }) if buf.len() >= 7 && buf.len() < MAX_FRAME_PREFIX => {
                let mut byte = [0u8; 1];
                if read_full(input, &mut byte)? == 0 {
                    return Err(frame_err(FormatError::Truncated {
                        what: "the frame header",
                        needed: 1,
                    }));
                }
                buf.push(byte[0]);
            }
            Err(e) => return Err(frame_err(e)),
        }
    };
    input.take((header_len - buf.len()) as u64).read_to_end(buf)?;
    let (header, _) = FrameHeader::read(buf).map_err(frame_err)?;
    let payload_len = header.payload_len();
    input.take(payload_len).read_to_end(buf)?;
    Ok(true)
}

/// Calls `each` with every frame of `input`, checked (frame checksum) but not decoded.
pub fn for_each_frame(
    input: &mut dyn Read,
    mut each: impl FnMut(usize, &FrameRef<'_>) -> Result<(), Error>,
) -> Result<usize, Error> {
    let mut buf = Vec::new();
    let mut index = 0;
    while read_frame_bytes(input, &mut buf, index)? {
        let (frame, _) = read_frame(&buf).map_err(|source| Error::Frame { index, source })?;
        each(index, &frame)?;
        index += 1;
    }
    if index == 0 {
        return Err(Error::Frame {
            index: 0,
            source: FormatError::Truncated {
                what: "the frame magic",
                needed: 4,
            },
        });
    }
    Ok(index)
}

/// Decompresses every frame of `input` to `output`; with `output` = None only decodes and verifies.
pub fn decompress(
    engine: &mut Engine,
    input: &mut dyn Read,
    mut output: Option<&mut dyn Write>,
    progress: &mut dyn Progress,
) -> Result<u64, Error> {
    let mut written = 0u64;
    let mut content = Vec::new();
    for_each_frame(input, |_, frame| {
        content.clear();
        engine.decompress_frame(frame, &mut content, progress)?;
        if let Some(out) = output.as_deref_mut() {
            out.write_all(&content)?;
        }
        written += content.len() as u64;
        Ok(())
    })?;
    if let Some(out) = output {
        out.flush()?;
    }
    Ok(written)
}
