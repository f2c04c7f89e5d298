//! Segmentation: a block of input cut into text and binary segments, each compressed as its own frame, so a
//! tarball's text members reach the language model while its headers, padding and binary members go to the byte
//! model.
//!
//! The cut is decided at compression time only: frames concatenate, and each frame names its own kind, so the
//! decoder needs no segment map and every nacz that reads the frame kinds decodes a segmented file. The rules are
//! deliberately plain and deterministic:
//!
//! - a byte is *binary* if it is invalid UTF-8 or a control byte (as the tokenizer sees them), *text* otherwise;
//! - bytes are judged in blocks of [`BLOCK`]: a block with at most 1/[`BINARY_SHARE`] binary bytes is text
//!   (accented Latin-1 letters, form feeds and the odd escape stay inside their text), and a run of text blocks,
//!   widened to the text bytes on either side, is a text run;
//! - a text run of at least [`MIN_TEXT`] bytes becomes a text segment; everything between text segments is a
//!   binary segment (short strings inside binaries stay with their binary);
//! - a block with no text segment, or with less than [`MIN_BINARY`] binary bytes outside its text segments, is
//!   left whole: cutting would only cost frame headers and context.
//!
//! The caller still checks that the cut pays (against the whole block as one byte-model frame), so a binary whose
//! byte model would lose its context across segments is not cut.

use std::ops::Range;

use crate::tokenizer::is_control;

/// Bytes are judged in blocks of this many: a block is text if at most 1/[`BINARY_SHARE`] of it is binary.
pub const BLOCK: usize = 64;
/// See [`BLOCK`]: up to 4 binary bytes in 64 (accented Latin-1 letters, form feeds, escapes) leave a block text.
pub const BINARY_SHARE: usize = 16;
/// Shortest text run that becomes a segment of its own: a frame header (about 50 bytes) and a cold start of the
/// language model must be worth it.
pub const MIN_TEXT: usize = 2048;
/// Fewest binary bytes (outside text segments) for which a block is cut at all.
pub const MIN_BINARY: usize = 256;

/// A block's segments: consecutive ranges that cover it, in order (one range over the whole block when it is not
/// cut; none for an empty block).
pub fn split(block: &[u8]) -> Vec<Range<usize>> {
    if block.is_empty() {
        return Vec::new();
    }
    let texts = text_segments(block);
    let text_bytes: usize = texts.iter().map(ExactSizeIterator::len).sum();
    if texts.is_empty() || block.len() - text_bytes < MIN_BINARY {
        return std::iter::once(0..block.len()).collect();
    }
    let mut segments = Vec::with_capacity(2 * texts.len() + 1);
    let mut at = 0;
    for text in texts {
        if text.start > at {
            segments.push(at..text.start);
        }
        at = text.end;
        segments.push(text);
    }
    if at < block.len() {
        segments.push(at..block.len());
    }
    segments
}

/// The text runs of at least [`MIN_TEXT`] bytes, in order.
fn text_segments(block: &[u8]) -> Vec<Range<usize>> {
    let binary = binary_bytes(block);
    let is_text_block = |k: usize| {
        let bytes = &binary[k * BLOCK..((k + 1) * BLOCK).min(block.len())];
        bytes.iter().filter(|&&b| b).count() * BINARY_SHARE <= bytes.len()
    };
    let n_blocks = block.len().div_ceil(BLOCK);
    let mut segments: Vec<Range<usize>> = Vec::new();
    let mut k = 0;
    while k < n_blocks {
        if !is_text_block(k) {
            k += 1;
            continue;
        }
        let first = k;
        while k < n_blocks && is_text_block(k) {
            k += 1;
        }
        // Widen the run of text blocks to the text bytes around it, so a member starting mid-block starts exactly.
        let mut start = first * BLOCK;
        while start > 0 && !binary[start - 1] {
            start -= 1;
        }
        let mut end = (k * BLOCK).min(block.len());
        while end < block.len() && !binary[end] {
            end += 1;
        }
        if end - start >= MIN_TEXT {
            // A widened run can reach back into the previous one only through text, so they never overlap.
            match segments.last_mut() {
                Some(last) if start <= last.end => last.end = end,
                _ => segments.push(start..end),
            }
        }
    }
    segments
}

/// For each byte, whether it is binary: invalid UTF-8, or a control byte.
fn binary_bytes(block: &[u8]) -> Vec<bool> {
    let mut binary = Vec::with_capacity(block.len());
    for chunk in block.utf8_chunks() {
        binary.extend(chunk.valid().bytes().map(is_control));
        binary.extend(std::iter::repeat_n(true, chunk.invalid().len()));
    }
    binary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        b"The quick brown fox jumps over the lazy dog.\n"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    fn lengths(block: &[u8]) -> Vec<usize> {
        split(block).iter().map(ExactSizeIterator::len).collect()
    }

    #[test]
    fn plain_text_and_plain_binary_stay_whole() {
        assert_eq!(lengths(&text(10_000)), [10_000]);
        let binary: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(lengths(&binary), [10_000]);
        assert!(split(b"").is_empty());
    }

    #[test]
    fn latin1_accents_and_form_feeds_stay_in_their_text() {
        let mut latin1 = text(3_000);
        for i in (100..3_000).step_by(97) {
            latin1[i] = 0xE9;
        }
        latin1[1_500] = 0x0C;
        assert_eq!(lengths(&latin1), [3_000]);
    }

    #[test]
    fn a_tar_like_block_is_cut_at_its_members() {
        // A 512-byte header with NUL padding, a text member padded with NULs, then a binary member.
        let mut block = vec![0u8; 512];
        block[..9].copy_from_slice(b"story.txt");
        block.extend(text(5_000));
        block.resize(512 + 5_120, 0);
        block.extend((0..3_000u32).map(|i| (i * 13 % 251) as u8));
        let segments = split(&block);
        assert_eq!(segments, [0..512, 512..5_512, 5_512..block.len()]);
    }

    #[test]
    fn short_strings_inside_binaries_and_small_binary_tails_are_not_cut() {
        let mut block: Vec<u8> = (0..6_000u32).map(|i| (i * 13 % 251) as u8).collect();
        block.splice(3_000..3_000, text(1_000));
        assert_eq!(lengths(&block), [7_000]);
        let mut mostly_text = text(8_000);
        mostly_text.extend([0u8; 100]);
        assert_eq!(lengths(&mostly_text), [8_100]);
    }

    #[test]
    fn segments_cover_any_block_in_order() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in [1usize, 7, 300, 5_000, 20_000] {
            let block: Vec<u8> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    if (i / 3_000) % 2 == 0 {
                        b"abc de\n"[(state % 7) as usize]
                    } else {
                        state as u8
                    }
                })
                .collect();
            let segments = split(&block);
            let mut at = 0;
            for range in &segments {
                assert_eq!(range.start, at);
                assert!(range.end > range.start);
                at = range.end;
            }
            assert_eq!(at, len);
        }
    }
}
