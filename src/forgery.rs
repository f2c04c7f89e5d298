//! Forged frames, for the fuzzer (`examples/fuzz_frames.rs`) and the tests of what lies behind the frame checksum:
//! [`reseal`] recomputes the checksum of a changed frame, as anyone can (xxh3 is no MAC), and [`Mutator`] makes
//! random changes, mostly to the header, where the parameters are. Compression and decompression never use it.

use crate::container::{checksum, FrameHeader};

/// Recomputes the frame checksum of the single frame `frame` after its bytes were changed. The header length is
/// read from the (possibly changed) frame and anything past the header is taken as its payload. A frame without
/// a readable header length is returned unchanged.
pub fn reseal(mut frame: Vec<u8>) -> Vec<u8> {
    let Ok(header_len) = FrameHeader::announced_len(&frame) else {
        return frame;
    };
    if frame.len() < header_len {
        return frame;
    }
    let sum = checksum(&[&frame[..header_len - 4], &frame[header_len..]].concat());
    frame[header_len - 4..header_len].copy_from_slice(&sum.to_le_bytes());
    frame
}

/// Random mutations of frames from a seed (xorshift64), reproducible run to run.
pub struct Mutator(u64);

impl Mutator {
    /// A mutator from a nonzero seed (0 is taken as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `frame` with one to three bit flips, byte sets, inserts, deletes or truncations, three in four of them
    /// within its header, then resealed.
    pub fn mutate(&mut self, frame: &[u8]) -> Vec<u8> {
        let header_len = FrameHeader::announced_len(frame).unwrap_or(frame.len());
        let mut bad = frame.to_vec();
        for _ in 0..1 + self.below(3) {
            if bad.is_empty() {
                break;
            }
            let at = if self.below(4) == 0 {
                self.below(bad.len())
            } else {
                self.below(header_len.min(bad.len()))
            };
            match self.below(5) {
                0 => bad[at] ^= 1 << self.below(8),
                1 => bad[at] = self.next() as u8,
                2 => bad.insert(at, self.next() as u8),
                3 if bad.len() > 1 => {
                    bad.remove(at);
                }
                _ => bad.truncate(at.max(1)),
            }
        }
        reseal(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{read_frame, FrameBody};

    #[test]
    fn a_resealed_change_passes_the_checksum() {
        let frame = FrameHeader::write_frame(3, FrameBody::Stored, b"abc");
        let mut changed = frame.clone();
        *changed.last_mut().unwrap() = b'x';
        assert!(read_frame(&changed).is_err());
        let resealed = reseal(changed);
        assert_eq!(read_frame(&resealed).unwrap().0.payload, b"abx");
    }

    #[test]
    fn mutations_are_reproducible_and_change_the_frame() {
        let frame = FrameHeader::write_frame(3, FrameBody::Stored, b"abc");
        let (mut a, mut b) = (Mutator::new(7), Mutator::new(7));
        for _ in 0..100 {
            let m = a.mutate(&frame);
            assert_eq!(m, b.mutate(&frame));
        }
    }
}
