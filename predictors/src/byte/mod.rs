//! The byte-level context-mixing model for binary and non-LM data: predicts each bit of a byte stream (most
//! significant bit first) from bit histories in many contexts, two match models over a long history, a gated
//! two-layer mixer and three SSE stages. It owns no coding: a caller pairs [`ByteModel::p`] and
//! [`ByteModel::update`] with a binary arithmetic coder (`nacz_coder::BinaryEncoder`).
//!
//! Everything in the probability path is integer arithmetic on tables built by integer code, so an encoder and
//! a decoder with equal [`ByteModelConfig`]s agree bit for bit on every machine.
//!
//! * Contexts (see [`ctx`]): order 0 and direct orders 1–2; hashed orders 3–6 and 8; a word and a word-pair
//!   context; sparse contexts (single bytes at distances 2 and 3, pairs at distances 1/3, 1/4, 2/3, 2/4, the
//!   bytes at 4/8 with the position mod 4, the high and low nibbles of the last four bytes); the last one or two
//!   bytes with the position mod 4; indirect contexts (the last 1–3 bytes with the byte that followed them last
//!   time); record contexts (a record length detected from bytes that recur at a steady distance, then the
//!   bytes above, the byte above with the previous one, the column); and long orders 12–24 for DNA-like data.
//!   Hashed contexts keep, per context and nibble, a 16-byte slot (an 8-bit checksum and the 15 bit-history
//!   states of the nibble's binary tree) in one shared table; each context maps its state to a probability with
//!   its own adaptive state map.
//! * Match models: a short one (default 5 bytes) and a long one (default 24 bytes) predict the bit that followed
//!   the last occurrence of the recent bytes, with a confidence learned per match length.
//! * Mixer: six weight sets chosen by the partial byte, the match state, the previous byte, how many contexts
//!   have been seen before, the position mod 4 and the byte at distance 2; a second layer mixes their outputs.
//! * SSE: three interpolating maps (by position mod 4 and partial byte, by order 1, by match state) averaged
//!   with the mixer's output into a 16-bit probability.
//!
//! Positions are counted in 32 bits: one model codes at most 4 GiB.

mod config;
mod parts;
mod tables;

pub use config::{ctx, ByteConfigError, ByteModelConfig, BYTE_CONFIG_LEN, BYTE_CONFIG_VERSION, MAX_BYTE_MODEL_MEMORY};

use parts::{prefetch, Apm, Mixer, StateMap};
use tables::{Logistic, StateTable};

/// Hashed contexts in the order of their [`ctx`] bits from [`ctx::O3`] on.
const HASHED: [u32; 28] = [
    ctx::O3,
    ctx::O4,
    ctx::O5,
    ctx::O6,
    ctx::O8,
    ctx::WORD,
    ctx::WORD2,
    ctx::SPARSE2,
    ctx::SPARSE3,
    ctx::SPARSE4,
    ctx::RECORD_ABOVE,
    ctx::RECORD_LEFT,
    ctx::RECORD_COLUMN,
    ctx::O12,
    ctx::O16,
    ctx::O20,
    ctx::O24,
    ctx::SPARSE23,
    ctx::ALIGN1,
    ctx::ALIGN2,
    ctx::SPARSE13,
    ctx::SPARSE24,
    ctx::NIBBLES,
    ctx::INDIRECT1,
    ctx::INDIRECT2,
    ctx::SPARSE14,
    ctx::LOW_NIBBLES,
    ctx::INDIRECT3,
];

/// Longest match length the match models track (longer matches keep this length).
const MAX_MATCH: u32 = 65_535;
/// How far back a new match candidate is verified; a longer match grows its length as it continues.
const MAX_VERIFY: u32 = 48;

#[inline]
fn hash2(a: u32, b: u32) -> u32 {
    let h = (a.wrapping_mul(0x9E37_79B1) ^ b.wrapping_mul(0x85EB_CA77).rotate_left(15)).wrapping_add(0x27D4_EB2F);
    let h = (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
    (h ^ (h >> 13)).wrapping_mul(0x297A_2D39) ^ (h >> 16)
}

/// Multiplier of the rolling hashes (odd, so the hash is a bijection of its last term).
const ROLL: u32 = 0x2F0F_3A57;

/// A polynomial hash of the last `n` bytes (`sum b_i * ROLL^(n-1-i)` mod 2^32, bytes before the start being 0),
/// updated in constant time per byte.
struct Rolling {
    h: u32,
    /// `ROLL^n`, the weight the leaving byte had.
    out: u32,
    n: u32,
}

impl Rolling {
    fn new(n: u32) -> Self {
        Self {
            h: 0,
            out: (0..n).fold(1u32, |p, _| p.wrapping_mul(ROLL)),
            n,
        }
    }

    /// Appends `new`; `old` is the byte now `n + 1` back, leaving the window.
    #[inline]
    fn push(&mut self, new: u8, old: u8) {
        self.h = self
            .h
            .wrapping_mul(ROLL)
            .wrapping_add(new.into())
            .wrapping_sub(u32::from(old).wrapping_mul(self.out));
    }

    /// The hash, mixed so that all its bits depend on all the bytes.
    #[inline]
    fn get(&self) -> u32 {
        hash2(self.h, self.n)
    }
}

/// Bucket of a match length: exact below 16, then logarithmic; at most 31.
fn length_bucket(len: u32) -> u32 {
    if len < 16 {
        len
    } else {
        (12 + (31 - len.leading_zeros())).min(31)
    }
}

/// A match model: finds the last occurrence of the most recent `min_len` bytes through a hash index and
/// predicts the bit that followed it, with a confidence learned per match length.
struct MatchModel {
    min_len: usize,
    roll: Rolling,
    index: Vec<u32>,
    index_mask: u32,
    /// Position in the history of the predicted byte, and the current match length (0 = none).
    ptr: u32,
    len: u32,
    /// The predicted byte as a 1-prefixed bit string aligned with `c0`, or 0 when the byte has mispredicted.
    expected: u32,
    sm: StateMap,
}

impl MatchModel {
    fn new(min_len: usize, index_bits: u8, limit: u32) -> Self {
        Self {
            min_len,
            roll: Rolling::new(min_len as u32),
            index: vec![0; 1 << index_bits],
            index_mask: (1 << index_bits) - 1,
            ptr: 0,
            len: 0,
            expected: 0,
            sm: StateMap::new(64 * 2, limit, |i| if i & 1 == 1 { 49_152 } else { 16_384 }),
        }
    }

    /// After byte `pos - 1` was appended to `hist` (a ring of `mask + 1` bytes).
    fn update_byte(&mut self, hist: &[u8], mask: u32, pos: u32) {
        let at = |i: u32| hist[(i & mask) as usize];
        if self.len > 0 && self.expected != 0 {
            self.len = (self.len + 1).min(MAX_MATCH);
            self.ptr = self.ptr.wrapping_add(1);
        } else {
            self.len = 0;
        }
        let n = self.min_len as u32;
        self.roll
            .push(at(pos.wrapping_sub(1)), if pos > n { at(pos - 1 - n) } else { 0 });
        if pos >= n {
            let slot = (self.roll.get() & self.index_mask) as usize;
            if self.len == 0 {
                let cand = self.index[slot];
                // Candidates must lie inside the history still held, and be verified backwards.
                if cand > 0 && pos.wrapping_sub(cand) <= mask {
                    let mut len = 0;
                    while len < MAX_VERIFY.min(cand).min(mask - pos.wrapping_sub(cand))
                        && at(cand - 1 - len) == at(pos.wrapping_sub(1 + len))
                    {
                        len += 1;
                    }
                    if len as usize >= self.min_len {
                        self.len = len;
                        self.ptr = cand;
                    }
                }
            }
            self.index[slot] = pos;
        }
        self.expected = if self.len > 0 { u32::from(at(self.ptr)) | 256 } else { 0 };
    }

    /// Adds the input for the next bit (`bitpos` bits of the byte seen, as `c0`) and returns the selector
    /// (length bucket and predicted bit; 0 when there is no prediction).
    fn predict(&mut self, m: &mut Mixer, lg: &Logistic, c0: u32, bitpos: u32) -> usize {
        if self.expected != 0 && (self.expected >> (8 - bitpos)) != c0 {
            self.expected = 0;
        }
        if self.expected == 0 {
            m.add(0);
            m.add(0);
            self.sm.p(0);
            return 0;
        }
        let bit = (self.expected >> (7 - bitpos)) & 1;
        let cx = (length_bucket(self.len) * 2 + bit) as usize;
        let st = lg.stretch(self.sm.p(cx));
        m.add(st);
        let conf = (length_bucket(self.len) as i32) * 64;
        m.add(if bit == 1 { conf } else { -conf });
        cx
    }
}

/// Detects a record (row) length: a byte value seen at three equal successive distances votes for that
/// distance; a candidate that wins enough votes in a row becomes the record length.
struct RecordDetector {
    last: Vec<[u32; 3]>,
    candidate: u32,
    votes: u32,
    len: u32,
}

impl RecordDetector {
    fn new() -> Self {
        Self {
            last: vec![[0; 3]; 256],
            candidate: 0,
            votes: 0,
            len: 0,
        }
    }

    fn update(&mut self, byte: u8, pos: u32) {
        let l = &mut self.last[usize::from(byte)];
        let d1 = pos.wrapping_sub(l[0]);
        let d2 = l[0].wrapping_sub(l[1]);
        let d3 = l[1].wrapping_sub(l[2]);
        *l = [pos, l[0], l[1]];
        if l[2] > 0 && d1 == d2 && d2 == d3 && d1 > 2 && d1 < 1 << 16 {
            if d1 == self.candidate {
                self.votes += 1;
                if self.votes >= 4 {
                    self.len = d1;
                }
            } else {
                self.candidate = d1;
                self.votes = 0;
            }
        }
    }
}

/// The byte model. Call [`ByteModel::p`] then [`ByteModel::update`] for each bit, most significant first.
pub struct ByteModel {
    hash_mask: u32,
    hash_shift: u32,
    /// The hashed slots, then the direct order-1 and order-2 tables.
    states: Vec<u8>,
    o1_base: usize,
    o2_base: usize,
    o0: [u8; 256],
    /// Enabled hashed contexts, their byte-level hashes, their current slot bases.
    hashed: Vec<u32>,
    ctx_hash: Vec<u32>,
    ctx_nib: Vec<u32>,
    slot: Vec<usize>,
    /// Per direct or hashed context: the index in `states` of the current bit's state.
    loc: Vec<usize>,
    maps: Vec<StateMap>,
    o0_map: StateMap,
    direct_o1: bool,
    direct_o2: bool,
    hist: Vec<u8>,
    hist_mask: u32,
    pos: u32,
    c0: u32,
    nib: u32,
    bitpos: u32,
    c4: u32,
    c8: u32,
    word: u32,
    word1: u32,
    record: RecordDetector,
    /// Hashes of the last 12, 16, 20 and 24 bytes.
    long: [Rolling; 4],
    /// The byte that followed the last occurrence of each order-1, order-2 and (hashed) order-3 context.
    next1: Vec<u8>,
    next2: Vec<u8>,
    next3: Vec<u8>,
    mm: MatchModel,
    mm_long: Option<MatchModel>,
    mixer: Mixer,
    apm1: Apm,
    apm2: Apm,
    apm3: Apm,
    lg: &'static Logistic,
    st: &'static StateTable,
}

impl ByteModel {
    /// Builds a model.
    ///
    /// # Panics
    ///
    /// If `cfg` is invalid; [`Self::try_new`] returns the error instead. Configurations from
    /// [`ByteModelConfig::from_bytes`] are always valid.
    pub fn new(cfg: &ByteModelConfig) -> Self {
        Self::try_new(cfg).expect("invalid ByteModelConfig")
    }

    /// Builds a model, or says why `cfg` is invalid.
    pub fn try_new(cfg: &ByteModelConfig) -> Result<Self, ByteConfigError> {
        cfg.validate()?;
        let st = StateTable::get();
        let limit = u32::from(cfg.state_limit);
        let hashed: Vec<u32> = HASHED.iter().copied().filter(|&c| cfg.contexts & c != 0).collect();
        let slots = 1usize << cfg.hash_bits;
        let o1_base = slots * 16;
        let o2_base = o1_base + (1 << 16);
        let direct_o1 = cfg.contexts & ctx::O1 != 0;
        let direct_o2 = cfg.contexts & ctx::O2 != 0;
        let n_maps = hashed.len() + usize::from(direct_o1) + usize::from(direct_o2);
        let init = move |s: usize| {
            let [n0, n1] = st.counts(s as u8);
            ((2 * u32::from(n1) + 1) << 16) / (2 * (u32::from(n0) + u32::from(n1)) + 2)
        };
        let maps = (0..n_maps).map(|_| StateMap::new(256, limit, init)).collect();
        let index_bits = cfg.history_bits - 2;
        let n_inputs = 1 + n_maps + 4 + 1;
        let mut model = Self {
            hash_mask: (slots as u32 - 1) & !3,
            hash_shift: 32 - u32::from(cfg.hash_bits),
            states: vec![0; o2_base + if direct_o2 { 1 << 24 } else { 0 }],
            o1_base,
            o2_base,
            o0: [0; 256],
            ctx_hash: vec![0; hashed.len()],
            ctx_nib: vec![0; hashed.len()],
            slot: vec![0; hashed.len()],
            hashed,
            loc: vec![0; n_maps],
            maps,
            o0_map: StateMap::new(256, limit, init),
            direct_o1,
            direct_o2,
            hist: vec![0; 1 << cfg.history_bits],
            hist_mask: (1 << cfg.history_bits) - 1,
            pos: 0,
            c0: 1,
            nib: 1,
            bitpos: 0,
            c4: 0,
            c8: 0,
            word: 0,
            word1: 0,
            record: RecordDetector::new(),
            long: [12, 16, 20, 24].map(Rolling::new),
            next1: vec![0; 1 << 8],
            next2: vec![0; 1 << 16],
            next3: vec![0; 1 << 16],
            mm: MatchModel::new(cfg.match_min.into(), index_bits, limit),
            mm_long: (cfg.long_match_min > 0).then(|| MatchModel::new(cfg.long_match_min.into(), index_bits, limit)),
            mixer: Mixer::new(
                n_inputs,
                &[256, 64 * 8, 256 * 4, 8 * 8, 1024, 256 * 8],
                cfg.mixer_rate.into(),
            ),
            apm1: Apm::new(1024, cfg.apm_rate.into()),
            apm2: Apm::new(1 << 16, cfg.apm_rate.into()),
            apm3: Apm::new(64 * 256, cfg.apm_rate.into()),
            lg: Logistic::get(),
            st,
        };
        model.byte_contexts();
        model.nibble_slots();
        Ok(model)
    }

    /// Byte at distance `d` (1 = the last byte), 0 before the start.
    #[inline]
    fn back(&self, d: u32) -> u32 {
        if d > self.pos || d > self.hist_mask {
            0
        } else {
            u32::from(self.hist[(self.pos.wrapping_sub(d) & self.hist_mask) as usize])
        }
    }

    /// Recomputes the byte-level hash of every hashed context after a byte boundary.
    fn byte_contexts(&mut self) {
        let c4 = self.c4;
        let rlen = self.record.len;
        let above = if rlen > 0 { self.back(rlen) } else { 0 };
        let above2 = if rlen > 0 { self.back(2 * rlen) } else { 0 };
        let col = if rlen > 0 { self.pos % rlen } else { 0 };
        for j in 0..self.hashed.len() {
            let c = self.hashed[j];
            let v = match c {
                ctx::O3 => c4 & 0xFF_FFFF,
                ctx::O4 => c4,
                ctx::O5 => hash2(c4, self.c8 & 0xFF),
                ctx::O6 => hash2(c4, self.c8 & 0xFFFF),
                ctx::O8 => hash2(c4, self.c8),
                ctx::WORD => hash2(self.word, c4 & 0xFF),
                ctx::WORD2 => hash2(self.word, self.word1),
                ctx::SPARSE2 => (c4 >> 8) & 0xFF,
                ctx::SPARSE3 => (c4 >> 16) & 0xFF,
                ctx::SPARSE4 => hash2((c4 >> 24) | (self.c8 & 0xFF) << 8, self.pos & 3),
                ctx::RECORD_ABOVE => hash2(above | above2 << 8, rlen),
                ctx::RECORD_LEFT => hash2(above | (c4 & 0xFF) << 8, rlen),
                ctx::RECORD_COLUMN => hash2(col | (c4 & 0xFF) << 16, rlen),
                ctx::O12 => self.long[0].get(),
                ctx::O16 => self.long[1].get(),
                ctx::O20 => self.long[2].get(),
                ctx::O24 => self.long[3].get(),
                ctx::SPARSE23 => c4 & 0xFF_FF00,
                ctx::ALIGN1 => (c4 & 0xFF) | (self.pos & 3) << 8,
                ctx::ALIGN2 => (c4 & 0xFFFF) | (self.pos & 3) << 16,
                ctx::SPARSE13 => c4 & 0xFF_00FF,
                ctx::SPARSE24 => c4 & 0xFF00_FF00,
                ctx::NIBBLES => c4 & 0xF0F0_F0F0,
                ctx::INDIRECT1 => (c4 & 0xFF) | u32::from(self.next1[(c4 & 0xFF) as usize]) << 8,
                ctx::INDIRECT2 => (c4 & 0xFFFF) | u32::from(self.next2[(c4 & 0xFFFF) as usize]) << 16,
                ctx::SPARSE14 => c4 & 0xFF00_00FF,
                ctx::LOW_NIBBLES => c4 & 0x0F0F_0F0F,
                _ => hash2(
                    c4 & 0xFF_FFFF,
                    self.next3[(hash2(c4 & 0xFF_FFFF, 3) >> 16) as usize].into(),
                ),
            };
            self.ctx_hash[j] = hash2(v, c);
        }
    }

    /// Finds (or claims) the slot of each hashed context for the current nibble.
    fn nibble_slots(&mut self) {
        let extra = if self.bitpos == 0 { 0 } else { self.c0 & 15 | 16 };
        for j in 0..self.hashed.len() {
            let h = if extra == 0 {
                self.ctx_hash[j]
            } else {
                hash2(self.ctx_hash[j], extra)
            };
            self.ctx_nib[j] = h;
            // Touch each line first so the cache misses of all contexts overlap.
            prefetch(&self.states[((h >> self.hash_shift) & self.hash_mask) as usize * 16]);
        }
        for j in 0..self.hashed.len() {
            self.slot[j] = self.find_slot(self.ctx_nib[j]);
        }
    }

    /// Looks for `h`'s checksum among three slots of one 64-byte line; on a miss, clears and claims the one
    /// whose first node has seen the fewest bits.
    fn find_slot(&mut self, h: u32) -> usize {
        let check = (h & 0xFF) as u8;
        let base = ((h >> self.hash_shift) & self.hash_mask) as usize;
        let mut victim = base;
        let mut victim_n = u32::MAX;
        for k in 0..3 {
            let i = (base + k) * 16;
            if self.states[i] == check {
                return i;
            }
            let [n0, n1] = self.st.counts(self.states[i + 1]);
            let n = u32::from(n0) + u32::from(n1);
            if n < victim_n {
                victim_n = n;
                victim = i;
            }
        }
        self.states[victim..victim + 16].fill(0);
        self.states[victim] = check;
        victim
    }

    /// Probability that the next bit is a one, out of `2^16` (1..=65535).
    pub fn p(&mut self) -> u32 {
        let lg = self.lg;
        let c0 = self.c0 as usize;
        let c1 = self.c4 & 0xFF;
        // Order 0.
        let s = self.o0[c0];
        self.mixer.add(lg.stretch(self.o0_map.p(usize::from(s))));
        let mut m = 0;
        if self.direct_o1 {
            self.loc[m] = self.o1_base + ((c1 as usize) << 8 | c0);
            m += 1;
        }
        if self.direct_o2 {
            self.loc[m] = self.o2_base + (((self.c4 & 0xFFFF) as usize) << 8 | c0);
            m += 1;
        }
        for j in 0..self.hashed.len() {
            self.loc[m + j] = self.slot[j] + self.nib as usize;
        }
        let mut known = 0usize;
        for (map, &loc) in self.maps.iter_mut().zip(&self.loc) {
            let state = self.states[loc];
            let st = lg.stretch(map.p(usize::from(state)));
            self.mixer.add(st);
            known += usize::from(state != 0);
        }
        let known = known * 8 / (self.maps.len() + 1);
        let ms = self.mm.predict(&mut self.mixer, lg, self.c0, self.bitpos);
        let ml = match &mut self.mm_long {
            Some(mm) => mm.predict(&mut self.mixer, lg, self.c0, self.bitpos),
            None => {
                self.mixer.add(0);
                self.mixer.add(0);
                0
            }
        };
        self.mixer.add(256);
        let sel = if ml != 0 { ml } else { ms };
        self.mixer.select(0, c0);
        self.mixer.select(1, sel * 8 + self.bitpos as usize);
        self.mixer.select(2, (c1 as usize) << 2 | (self.bitpos as usize >> 1));
        self.mixer.select(3, known * 8 + self.bitpos as usize);
        self.mixer.select(4, ((self.pos & 3) as usize) << 8 | c0);
        self.mixer
            .select(5, ((self.c4 >> 8) & 0xFF) as usize * 8 + self.bitpos as usize);
        let pr = self.mixer.p();
        let a1 = self.apm1.p(pr, ((self.pos & 3) as usize) << 8 | c0);
        let a2 = self.apm2.p(pr, (c1 as usize) << 8 | c0);
        let a3 = self.apm3.p(pr, sel << 8 | c0);
        let p = (pr as u32 * 16 * 2 + a1 * 3 + a2 * 4 + a3 * 7) / 16;
        p.clamp(1, 65_535)
    }

    /// Learns `bit` (0 or 1), the bit whose probability [`Self::p`] just gave.
    pub fn update(&mut self, bit: u32) {
        let bit = bit & 1;
        self.prefetch_next(bit);
        let st = self.st;
        let s = &mut self.o0[self.c0 as usize];
        *s = st.next(*s, bit);
        self.o0_map.update(bit);
        for (map, &loc) in self.maps.iter_mut().zip(&self.loc) {
            map.update(bit);
            self.states[loc] = st.next(self.states[loc], bit);
        }
        self.mm.sm.update(bit);
        if let Some(mm) = &mut self.mm_long {
            mm.sm.update(bit);
        }
        self.mixer.update(bit);
        self.apm1.update(bit);
        self.apm2.update(bit);
        self.apm3.update(bit);

        self.c0 = self.c0 << 1 | bit;
        self.nib = self.nib << 1 | bit;
        self.bitpos += 1;
        if self.bitpos == 8 {
            self.end_byte();
            self.byte_contexts();
            self.nibble_slots();
        } else if self.bitpos == 4 {
            self.nib = 1;
            self.nibble_slots();
        }
    }

    /// Starts loading the table rows the next bit's prediction will read, so their cache misses overlap with
    /// this bit's updates. Reads only; no effect on the output.
    fn prefetch_next(&mut self, bit: u32) {
        let (c4, c0, pos, bitpos) = if self.bitpos == 7 {
            (
                self.c4 << 8 | (self.c0 << 1 | bit) & 0xFF,
                1,
                self.pos.wrapping_add(1),
                0,
            )
        } else {
            (self.c4, self.c0 << 1 | bit, self.pos, self.bitpos + 1)
        };
        let (c0, c1, c2) = (c0 as usize, (c4 & 0xFF) as usize, ((c4 >> 8) & 0xFF) as usize);
        self.apm1.touch(((pos & 3) as usize) << 8 | c0);
        self.apm2.touch(c1 << 8 | c0);
        if self.direct_o2 {
            prefetch(&self.states[self.o2_base + (((c4 & 0xFFFF) as usize) << 8 | c0)]);
        }
        self.mixer.touch(0, c0);
        self.mixer.touch(2, c1 << 2 | (bitpos as usize >> 1));
        self.mixer.touch(4, ((pos & 3) as usize) << 8 | c0);
        self.mixer.touch(5, c2 * 8 + bitpos as usize);
    }

    fn end_byte(&mut self) {
        let byte = (self.c0 & 0xFF) as u8;
        self.hist[(self.pos & self.hist_mask) as usize] = byte;
        self.pos = self.pos.wrapping_add(1);
        self.next1[(self.c4 & 0xFF) as usize] = byte;
        self.next2[(self.c4 & 0xFFFF) as usize] = byte;
        self.next3[(hash2(self.c4 & 0xFF_FFFF, 3) >> 16) as usize] = byte;
        self.c8 = self.c8 << 8 | self.c4 >> 24;
        self.c4 = self.c4 << 8 | u32::from(byte);
        self.c0 = 1;
        self.nib = 1;
        self.bitpos = 0;
        let lower = byte.to_ascii_lowercase();
        if lower.is_ascii_lowercase() {
            self.word = hash2(self.word, u32::from(lower));
        } else if self.word != 0 {
            self.word1 = self.word;
            self.word = 0;
        }
        self.record.update(byte, self.pos);
        for i in 0..self.long.len() {
            let old = self.back(self.long[i].n + 1) as u8;
            self.long[i].push(byte, old);
        }
        self.mm.update_byte(&self.hist, self.hist_mask, self.pos);
        if let Some(mm) = &mut self.mm_long {
            mm.update_byte(&self.hist, self.hist_mask, self.pos);
        }
    }
}
