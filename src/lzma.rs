//! LZMA frames (kind 3, since format version 7): a frame's content as a raw LZMA2 stream, made with `xz -9e`'s
//! settings through liblzma. It is the classical candidate beside the byte model and the stored frame, so no
//! frame is ever much larger than `xz -9e` would make it (repetitive data with long exact repeats is where LZMA
//! beats a context-mixing model). The stream is raw (no .xz container, no check), so it costs fewer bytes than
//! `xz -9e`'s own file; the frame checksum and the content checksum cover it.
//!
//! Decoding allocates the dictionary the header names (at most [`MAX_DICT_LOG`]) and exactly the declared content
//! length, and refuses a stream that decodes to more or fewer bytes.

use liblzma::stream::{Action, Filters, LzmaOptions, Status, Stream, PRESET_EXTREME};

/// Smallest and largest dictionary, as powers of two (4 KiB and 64 MiB, `xz -9`'s).
pub const MIN_DICT_LOG: u8 = 12;
pub const MAX_DICT_LOG: u8 = 26;

/// Ways an LZMA frame can fail.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LzmaError {
    #[error("liblzma: {0}")]
    Library(String),
    #[error("the LZMA stream decodes to more bytes than the frame's content length")]
    TooLong,
    #[error("the LZMA stream ends after {got} of {expected} bytes")]
    TooShort { got: u64, expected: u64 },
    #[error("the LZMA stream is followed by {0} stray bytes")]
    Trailing(usize),
}

fn library(e: liblzma::stream::Error) -> LzmaError {
    LzmaError::Library(e.to_string())
}

/// The dictionary a content of `len` bytes is coded with: the smallest power of two that holds it (so memory
/// follows the content), within [`MIN_DICT_LOG`]..=[`MAX_DICT_LOG`].
pub fn dict_log_for(len: u64) -> u8 {
    let log = 64 - len.max(1).saturating_sub(1).leading_zeros();
    (log as u8).clamp(MIN_DICT_LOG, MAX_DICT_LOG)
}

/// Memory the encoder needs for a dictionary of 2^`dict_log` bytes: about 11 times it (the dictionary buffer and
/// the binary-tree match finder of `xz -9e`'s settings; `xz -9` states 674 MiB for 64 MiB).
pub fn encoder_memory(dict_log: u8) -> u64 {
    11 * (1u64 << dict_log)
}

/// Memory a decoder needs for a dictionary of 2^`dict_log` bytes (liblzma's LZMA2 decoder: the dictionary plus
/// a small fixed state).
pub fn decoder_memory(dict_log: u8) -> u64 {
    (1u64 << dict_log) + (64 << 10)
}

fn filters(dict_log: u8) -> Result<Filters, LzmaError> {
    let mut options = LzmaOptions::new_preset(9 | PRESET_EXTREME).map_err(library)?;
    options.dict_size(1 << dict_log);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    Ok(filters)
}

/// `content` as a raw LZMA2 stream with a dictionary of 2^`dict_log` bytes.
pub fn encode(content: &[u8], dict_log: u8) -> Result<Vec<u8>, LzmaError> {
    let mut stream = Stream::new_raw_encoder(&filters(dict_log)?).map_err(library)?;
    let mut out = Vec::with_capacity(content.len() + content.len() / 32 + 1024);
    loop {
        let consumed = stream.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity() / 2 + 1024);
        }
        let status = stream
            .process_vec(&content[consumed..], &mut out, Action::Finish)
            .map_err(library)?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
    }
}

/// Decodes `stream` (a whole raw LZMA2 stream) into exactly `content_len` bytes appended to `out`.
pub fn decode(stream_bytes: &[u8], dict_log: u8, content_len: u64, out: &mut Vec<u8>) -> Result<(), LzmaError> {
    let mut stream = Stream::new_raw_decoder(&filters(dict_log)?).map_err(library)?;
    let start = out.len();
    // One byte of room beyond the content, so a stream that would write more is caught.
    out.reserve_exact(content_len as usize + 1);
    loop {
        let (consumed, produced) = (stream.total_in(), stream.total_out());
        let input = &stream_bytes[consumed as usize..];
        let status = stream.process_vec(input, out, Action::Finish).map_err(library)?;
        if out.len() - start > content_len as usize {
            return Err(LzmaError::TooLong);
        }
        if status == Status::StreamEnd {
            break;
        }
        if stream.total_in() == consumed && stream.total_out() == produced {
            return Err(LzmaError::TooShort {
                got: produced,
                expected: content_len,
            });
        }
    }
    let got = (out.len() - start) as u64;
    if got != content_len {
        return Err(LzmaError::TooShort {
            got,
            expected: content_len,
        });
    }
    let stray = stream_bytes.len() - stream.total_in() as usize;
    if stray > 0 {
        return Err(LzmaError::Trailing(stray));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repetitive() -> Vec<u8> {
        let block: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 253) as u8).collect();
        block.repeat(200)
    }

    #[test]
    fn round_trips_and_beats_long_repeats() {
        for content in [Vec::new(), b"a".to_vec(), repetitive()] {
            let log = dict_log_for(content.len() as u64);
            let stream = encode(&content, log).unwrap();
            let mut out = vec![7u8];
            decode(&stream, log, content.len() as u64, &mut out).unwrap();
            assert_eq!(&out[1..], &content[..]);
        }
        // 200 repeats of a 1,000-byte block: LZMA codes the repeats as a handful of long matches.
        assert!(encode(&repetitive(), 18).unwrap().len() < 1_300);
    }

    #[test]
    fn wrong_lengths_and_corruption_are_errors_not_panics() {
        let content = repetitive();
        let log = dict_log_for(content.len() as u64);
        let stream = encode(&content, log).unwrap();
        let len = content.len() as u64;
        let short = decode(&stream, log, len + 1, &mut Vec::new());
        assert_eq!(
            short,
            Err(LzmaError::TooShort {
                got: len,
                expected: len + 1
            })
        );
        assert_eq!(decode(&stream, log, len - 1, &mut Vec::new()), Err(LzmaError::TooLong));
        assert!(decode(&stream[..stream.len() / 2], log, len, &mut Vec::new()).is_err());
        let mut trailing = stream.clone();
        trailing.push(0);
        assert!(decode(&trailing, log, len, &mut Vec::new()).is_err());
        for i in (0..stream.len()).step_by(7) {
            let mut bad = stream.clone();
            bad[i] ^= 0x55;
            let mut out = Vec::new();
            if decode(&bad, log, len, &mut out).is_ok() {
                // A flip LZMA cannot see still changes the content, which the content checksum catches.
                assert_eq!(out.len() as u64, len);
            }
        }
    }

    #[test]
    fn dictionaries_follow_the_content() {
        assert_eq!(dict_log_for(0), MIN_DICT_LOG);
        assert_eq!(dict_log_for(5_000), 13);
        assert_eq!(dict_log_for(8 << 20), 23);
        assert_eq!(dict_log_for(1 << 40), MAX_DICT_LOG);
    }
}
