//! The binary arithmetic coder: [`BinaryEncoder`] and [`BinaryDecoder`], for models that predict one bit at a time.
//!
//! This module owns the bit-coding stream format. It is a carry-less range coder in the style of lpaq, kept
//! separate from the multi-symbol [`crate::Encoder`] because a bitwise model calls it eight times per byte and
//! needs neither tables nor pending bits.
//!
//! # Stream format
//!
//! State: two `u32`, `x1 = 0` and `x2 = 0xFFFF_FFFF`, the inclusive bounds of the current interval. To code a bit
//! `y` with probability `p` (the probability that `y = 1`, out of `2^16`, first clamped to `1..=65535`):
//!
//! ```text
//! xmid = x1 + floor((x2 - x1) * p / 2^16)      (product in 64 bits; x1 <= xmid < x2)
//! y = 1: x2 = xmid
//! y = 0: x1 = xmid + 1
//! while (x1 XOR x2) < 2^24:                     (the top bytes agree)
//!     emit byte x2 >> 24
//!     x1 = x1 << 8            (mod 2^32)
//!     x2 = (x2 << 8) | 0xFF   (mod 2^32)
//! ```
//!
//! Finishing emits the shortest tail that makes the decoder's value land in `[x1, x2]` when it reads zeros past
//! the end: nothing if `x1 = 0`, else the one byte `x1 >> 24` if `x1`'s low 24 bits are zero, else the one byte
//! `(x1 >> 24) + 1` (at most `x2 >> 24`, since the loop above left the top bytes different). Coding no bits gives
//! an empty stream.
//!
//! The decoder keeps the same `x1`, `x2` and a `u32` value `x`, initialised from the first four bytes big-endian.
//! It computes `xmid` exactly as above, decodes `y = 1` iff `x <= xmid`, narrows the same way, and on each emitted
//! byte shifts `x = (x << 8) | next byte`, reading zeros past the end of the input.
//!
//! # Robustness
//!
//! Every step is total: any input (garbage, truncated, empty) decodes to some bits without panicking, and
//! [`BinaryDecoder::bytes_past_end`] tells how far past the end the decoder read. Detecting corruption is left
//! to the caller's checksum.

/// Clamps a 16-bit probability of a one into the range the coder accepts.
fn clamp_p(p: u32) -> u64 {
    u64::from(p.clamp(1, 65_535))
}

/// The split point shared by both sides so they cannot drift apart.
fn split(x1: u32, x2: u32, p: u32) -> u32 {
    // (x2 - x1) * p < (x2 - x1) * 2^16, so xmid < x2 and the 1-interval is never empty.
    x1 + ((u64::from(x2 - x1) * clamp_p(p)) >> 16) as u32
}

/// Encodes bits into a byte vector.
#[derive(Debug, Clone)]
pub struct BinaryEncoder {
    x1: u32,
    x2: u32,
    out: Vec<u8>,
}

impl Default for BinaryEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BinaryEncoder {
    pub fn new() -> Self {
        Self::with_output(Vec::new())
    }

    /// Appends the stream to `out` (whose existing bytes are kept).
    pub fn with_output(out: Vec<u8>) -> Self {
        Self {
            x1: 0,
            x2: u32::MAX,
            out,
        }
    }

    /// Codes `bit` (0 or nonzero = 1) with `p1`, the probability of a one out of `2^16` (clamped to `1..=65535`).
    #[inline]
    pub fn encode(&mut self, bit: u32, p1: u32) {
        let xmid = split(self.x1, self.x2, p1);
        if bit != 0 {
            self.x2 = xmid;
        } else {
            self.x1 = xmid + 1;
        }
        while (self.x1 ^ self.x2) < (1 << 24) {
            self.out.push((self.x2 >> 24) as u8);
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 0xFF;
        }
    }

    /// Bytes emitted so far (before the tail of [`Self::finish`]).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Writes the tail and returns the stream.
    pub fn finish(mut self) -> Vec<u8> {
        if self.x1 != 0 {
            let top = self.x1 >> 24;
            let tail = if self.x1 & 0x00FF_FFFF == 0 { top } else { top + 1 };
            self.out.push(tail as u8);
        }
        self.out
    }
}

/// Decodes bits from a byte slice; reads zeros past its end and never panics.
#[derive(Debug, Clone)]
pub struct BinaryDecoder<'a> {
    x1: u32,
    x2: u32,
    x: u32,
    input: &'a [u8],
    pos: usize,
}

impl<'a> BinaryDecoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        let mut dec = Self {
            x1: 0,
            x2: u32::MAX,
            x: 0,
            input,
            pos: 0,
        };
        for _ in 0..4 {
            dec.x = (dec.x << 8) | dec.next_byte();
        }
        dec
    }

    fn next_byte(&mut self) -> u32 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        u32::from(b)
    }

    /// Decodes one bit coded with `p1`, the probability of a one out of `2^16`.
    #[inline]
    pub fn decode(&mut self, p1: u32) -> u32 {
        let xmid = split(self.x1, self.x2, p1);
        let bit = if self.x <= xmid {
            self.x2 = xmid;
            1
        } else {
            self.x1 = xmid + 1;
            0
        };
        while (self.x1 ^ self.x2) < (1 << 24) {
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 0xFF;
            self.x = (self.x << 8) | self.next_byte();
        }
        bit
    }

    /// How many bytes the decoder has read past the end of its input (4 right after decoding a complete stream
    /// whose tail byte was the last read, fewer when the tail was empty; more means the input was truncated).
    pub fn bytes_past_end(&self) -> usize {
        self.pos.saturating_sub(self.input.len())
    }
}
