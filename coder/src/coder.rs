//! The arithmetic coder: [`Encoder`] and [`Decoder`].
//!
//! This module owns the bit stream format. It is a Witten–Neal–Cleary binary
//! arithmetic coder with 32-bit `low`/`high`, E1/E2/E3 renormalisation and
//! pending (underflow) bits, coding intervals out of `2^b` for a precision of
//! `b` = 24 ([`crate::PRECISION_BITS`]) to 28 ([`MAX_PRECISION_BITS`]) bits,
//! the [`Cdf`]'s. Products are taken in `u64` (at most `2^32 * 2^28`), so no
//! rounding is platform dependent. Bits are written MSB first; the decoder
//! reads zeros past the end.
//!
//! After renormalisation `low < HALF <= high` and the range exceeds `2^30`, so
//! the smallest frequency (1 out of `2^b`) still gets an interval of at least
//! `2^(30 - b)` values (64 at 24 bits, 4 at 28): every symbol of a valid
//! [`Cdf`] is codable.
//!
//! # Size
//!
//! Let `S` be the number of renormalisation shifts (what
//! [`Encoder::bits_written`] reports before [`Encoder::finish`]). The stream
//! has `S` bits plus a final `1` bit (omitted when the interval already
//! contains the all-zeros tail), padded with zeros to a byte. Because each
//! symbol narrows a range `r > 2^30` to within one unit of `r * freq / 2^b`,
//! with `m = 2^(30 - b)`:
//!
//! ```text
//! bits before padding <= 1 + sum_i [cost_bits(s_i) - log2(1 - 1 / (m * freq_i))]
//! bits before padding >  -2 + sum_i [cost_bits(s_i) - log2(1 + 1 / (m * freq_i))]
//! ```
//!
//! The per-symbol rounding term is about `1.44 / (m * freq)` bits (at most
//! 0.0227 bits at 24 bits and 0.415 at 28, both at freq 1): negligible except
//! for the rarest symbols, which cost 24 to 28 bits anyway. Encoding nothing gives
//! an empty stream.
//!
//! # Past-the-end reads
//!
//! The decoder first reads 32 bits, then one per shift, so a complete,
//! well-formed stream decoded symbol for symbol reads between 24 and 32 bits
//! past its end ([`Decoder::bits_past_end`]). Dropping `k` bytes from the end
//! raises this by `8 * k` if the symbols still decode the same; otherwise the
//! caller's checksum catches the difference.

use crate::{Cdf, MAX_PRECISION_BITS};

const HALF: u32 = 1 << 31;
const QUARTER: u32 = 1 << 30;
const THREE_QUARTERS: u32 = 3 << 30;

/// Narrows `[low, high]` to the sub-interval `[start, start + freq)` out of
/// `2^bits`. Shared by both sides so they cannot drift apart.
fn narrow(low: u32, high: u32, start: u32, freq: u32, bits: u32) -> (u32, u32) {
    let range = u64::from(high - low) + 1;
    let end = u64::from(start + freq);
    // In u64: range * end / 2^bits reaches 2^32 when the last symbol is coded at full range; the results fit u32
    // because they stay within [low, high].
    let low64 = u64::from(low);
    let new_high = low64 + ((range * end) >> bits) - 1;
    let new_low = low64 + ((range * u64::from(start)) >> bits);
    (new_low as u32, new_high as u32)
}

/// Panics on a precision the coder does not support, or on an interval that
/// is empty or leaves `0..2^bits`: coding one would silently corrupt the stream.
fn check_interval(start: u32, freq: u32, bits: u32) {
    assert!(
        bits <= MAX_PRECISION_BITS,
        "precision {bits} exceeds {MAX_PRECISION_BITS} bits"
    );
    assert!(
        freq >= 1 && u64::from(start) + u64::from(freq) <= 1u64 << bits,
        "interval ({start}, {freq}) is not a nonempty part of 0..2^{bits}"
    );
}

/// Writes symbols into a byte stream.
pub struct Encoder {
    low: u32,
    high: u32,
    /// E3 shifts whose bit is only known once the next E1/E2 bit is.
    pending: u64,
    out: Vec<u8>,
    /// Bits not yet forming a whole byte, right-aligned.
    acc: u8,
    acc_bits: u32,
    emitted: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self {
            low: 0,
            high: u32::MAX,
            pending: 0,
            out: Vec::new(),
            acc: 0,
            acc_bits: 0,
            emitted: 0,
        }
    }

    /// Codes `sym` with its frequency in `cdf`.
    ///
    /// # Panics
    /// If `sym >= cdf.n_symbols()`.
    pub fn encode(&mut self, cdf: &Cdf, sym: usize) {
        let (start, freq) = cdf.range(sym);
        self.encode_range(start, freq, cdf.precision_bits());
    }

    /// Codes a symbol given directly as `(start, freq)` out of `2^bits`.
    /// The decoder side is [`Decoder::decode_target`] + [`Decoder::decode_range`].
    ///
    /// # Panics
    /// If `bits > MAX_PRECISION_BITS`, `freq == 0` or `start + freq > 2^bits`.
    pub fn encode_range(&mut self, start: u32, freq: u32, bits: u32) {
        check_interval(start, freq, bits);
        (self.low, self.high) = narrow(self.low, self.high, start, freq, bits);
        loop {
            if self.high < HALF {
                self.emit(false);
            } else if self.low >= HALF {
                self.emit(true);
                self.low -= HALF;
                self.high -= HALF;
            } else if self.low >= QUARTER && self.high < THREE_QUARTERS {
                self.pending += 1;
                self.low -= QUARTER;
                self.high -= QUARTER;
            } else {
                break;
            }
            self.low <<= 1;
            self.high = (self.high << 1) | 1;
        }
    }

    /// Bits emitted so far, pending bits included (for progress displays).
    pub fn bits_written(&self) -> u64 {
        self.emitted + self.pending
    }

    /// Ends the stream and returns it.
    ///
    /// Since `low < HALF <= high`, a `1` followed by zeros always lies in the
    /// final interval; it is written with the pending bits it resolves (all
    /// `0`), which keeps the past-the-end bound fixed. If `low == 0` with
    /// nothing pending, the zeros the decoder reads past the end already lie
    /// in the interval and nothing is written. The last byte is zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        if self.low != 0 || self.pending != 0 {
            self.emit(true);
        }
        if self.acc_bits > 0 {
            self.out.push(self.acc << (8 - self.acc_bits));
        }
        self.out
    }

    /// Writes `bit`, then the pending bits, which are its opposite.
    fn emit(&mut self, bit: bool) {
        self.push_bit(bit);
        for _ in 0..self.pending {
            self.push_bit(!bit);
        }
        self.pending = 0;
    }

    fn push_bit(&mut self, bit: bool) {
        self.acc = (self.acc << 1) | u8::from(bit);
        self.acc_bits += 1;
        self.emitted += 1;
        if self.acc_bits == 8 {
            self.out.push(self.acc);
            self.acc = 0;
            self.acc_bits = 0;
        }
    }
}

/// Reads symbols back from a byte stream. Never panics on any stream.
pub struct Decoder<'a> {
    input: &'a [u8],
    /// Next bit: `input[byte] >> (7 - bit)`.
    byte: usize,
    bit: u32,
    past_end: u64,
    low: u32,
    high: u32,
    /// The 32 stream bits under the current interval; always in `low..=high`.
    value: u32,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `input`; bits past its end read as zeros.
    pub fn new(input: &'a [u8]) -> Self {
        let mut dec = Self {
            input,
            byte: 0,
            bit: 0,
            past_end: 0,
            low: 0,
            high: u32::MAX,
            value: 0,
        };
        for _ in 0..32 {
            dec.value = (dec.value << 1) | dec.next_bit();
        }
        dec
    }

    /// Decodes one symbol coded with `cdf`.
    pub fn decode(&mut self, cdf: &Cdf) -> usize {
        let bits = cdf.precision_bits();
        let sym = cdf.find(self.decode_target(bits));
        let (start, freq) = cdf.range(sym);
        self.consume(start, freq, bits);
        sym
    }

    /// Where the next symbol lies, in `0..2^bits`: the symbol coded with
    /// [`Encoder::encode_range`] is the one whose `start <= target < start +
    /// freq`. Follow with [`Decoder::decode_range`].
    ///
    /// # Panics
    /// If `bits > MAX_PRECISION_BITS`.
    pub fn decode_target(&self, bits: u32) -> u32 {
        check_interval(0, 1, bits);
        let range = u64::from(self.high - self.low) + 1;
        let offset = u64::from(self.value - self.low) + 1;
        // offset <= range, so the quotient is below 2^bits.
        ((offset * (1u64 << bits) - 1) / range) as u32
    }

    /// Consumes the symbol `(start, freq)` out of `2^bits` that contains
    /// [`Decoder::decode_target`].
    ///
    /// # Panics
    /// If the interval is invalid or does not contain the current target:
    /// that is a caller bug, not a property of the stream.
    pub fn decode_range(&mut self, start: u32, freq: u32, bits: u32) {
        check_interval(start, freq, bits);
        let target = self.decode_target(bits);
        assert!(
            (start..start + freq).contains(&target),
            "interval ({start}, {freq}) does not contain the target {target}"
        );
        self.consume(start, freq, bits);
    }

    /// How many bits were read past the end of the input, the initial 32
    /// included. A complete well-formed stream decoded symbol for symbol reads
    /// 24 to 32 (see the module docs); more suggests truncation.
    pub fn bits_past_end(&self) -> u64 {
        self.past_end
    }

    /// Narrows to `(start, freq)`, which contains the target. Given that,
    /// `low <= value <= high` holds afterwards (the target formula is the
    /// inverse of [`narrow`]), so no subtraction here can underflow, whatever
    /// the stream holds.
    fn consume(&mut self, start: u32, freq: u32, bits: u32) {
        (self.low, self.high) = narrow(self.low, self.high, start, freq, bits);
        loop {
            if self.high < HALF {
                // Nothing to subtract.
            } else if self.low >= HALF {
                self.low -= HALF;
                self.high -= HALF;
                self.value -= HALF;
            } else if self.low >= QUARTER && self.high < THREE_QUARTERS {
                self.low -= QUARTER;
                self.high -= QUARTER;
                self.value -= QUARTER;
            } else {
                break;
            }
            self.low <<= 1;
            self.high = (self.high << 1) | 1;
            self.value = (self.value << 1) | self.next_bit();
        }
    }

    fn next_bit(&mut self) -> u32 {
        match self.input.get(self.byte) {
            Some(&b) => {
                let bit = u32::from(b >> (7 - self.bit)) & 1;
                self.bit += 1;
                if self.bit == 8 {
                    self.bit = 0;
                    self.byte += 1;
                }
                bit
            }
            None => {
                self.past_end += 1;
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Decoder<'_> {
        fn invariant_holds(&self) -> bool {
            self.low <= self.value
                && self.value <= self.high
                && self.low < HALF
                && self.high >= HALF
                && u64::from(self.high - self.low) + 1 > u64::from(QUARTER)
        }
    }

    fn cdf_from(weights: &[f32]) -> Cdf {
        let mut cdf = Cdf::new();
        cdf.quantize_into(weights).unwrap();
        cdf
    }

    proptest! {
        /// Release builds do not check overflow, so check the invariant that
        /// rules it out after every symbol of garbage.
        #[test]
        fn garbage_keeps_the_decoder_invariant(
            input in proptest::collection::vec(any::<u8>(), 0..64),
            tables in proptest::collection::vec(
                proptest::collection::vec(0.0f32..1.0, 1..300), 1..4),
            picks in proptest::collection::vec(any::<usize>(), 0..200),
        ) {
            let cdfs: Vec<Cdf> = tables.iter().map(|t| cdf_from(t)).collect();
            let mut dec = Decoder::new(&input);
            prop_assert!(dec.invariant_holds());
            for p in picks {
                let cdf = &cdfs[p % cdfs.len()];
                let sym = dec.decode(cdf);
                prop_assert!(sym < cdf.n_symbols());
                prop_assert!(dec.invariant_holds());
            }
        }
    }

    #[test]
    fn skewed_garbage_keeps_the_decoder_invariant() {
        // One symbol with all but 1 count: long runs of E3 shifts.
        let mut w = vec![0.0f32; 3];
        w[1] = 1.0;
        let cdf = cdf_from(&w);
        for fill in [0x00u8, 0x55, 0x7f, 0x80, 0xaa, 0xff] {
            let input = vec![fill; 40];
            let mut dec = Decoder::new(&input);
            for _ in 0..10_000 {
                dec.decode(&cdf);
                assert!(dec.invariant_holds());
            }
        }
    }

    #[test]
    fn flush_writes_nothing_when_low_is_zero() {
        let cdf = cdf_from(&[1.0, 1.0]);
        let mut enc = Encoder::new();
        enc.encode(&cdf, 0); // [0, HALF) -> one E1 shift back to the full range
        assert_eq!(enc.bits_written(), 1);
        assert_eq!(enc.finish(), vec![0x00]);

        let mut enc = Encoder::new();
        enc.encode(&cdf, 1); // [HALF, 2^32) -> "1", then low is 0 again
        assert_eq!(enc.finish(), vec![0x80]);

        let third = cdf_from(&[1.0, 1.0, 1.0]);
        let mut enc = Encoder::new();
        enc.encode(&third, 1); // straddles HALF: one E3 shift
        assert_eq!(enc.bits_written(), 1);
        assert_eq!(enc.finish(), vec![0x80]); // the flush "1", then the pending "0"
    }

    #[test]
    #[should_panic(expected = "not a nonempty part")]
    fn encoding_an_empty_interval_panics() {
        Encoder::new().encode_range(5, 0, crate::PRECISION_BITS);
    }

    #[test]
    #[should_panic(expected = "does not contain the target")]
    fn decoding_a_wrong_interval_panics() {
        let mut dec = Decoder::new(&[]);
        dec.decode_range(1, 1, crate::PRECISION_BITS); // the target of an all-zero stream is 0
    }
}
