//! [`ByteModelConfig`]: every parameter that can change a probability of the byte model, with a versioned,
//! validated byte encoding for file headers and a stated memory bound.

use thiserror::Error;

/// Largest memory a valid configuration may ask for ([`ByteModelConfig::memory_bytes`]): 600 MiB.
pub const MAX_BYTE_MODEL_MEMORY: u64 = 600 << 20;

/// Version byte that starts [`ByteModelConfig::to_bytes`].
pub const BYTE_CONFIG_VERSION: u8 = 1;

/// Length of [`ByteModelConfig::to_bytes`].
pub const BYTE_CONFIG_LEN: usize = 16;

/// The context set of the model, one bit each in [`ByteModelConfig::contexts`]. Order 0 and the mixer are always
/// on. Orders 1 and 2 are direct tables; the others are hashed.
pub mod ctx {
    pub const O1: u32 = 1 << 0;
    pub const O2: u32 = 1 << 1;
    pub const O3: u32 = 1 << 2;
    pub const O4: u32 = 1 << 3;
    pub const O5: u32 = 1 << 4;
    pub const O6: u32 = 1 << 5;
    pub const O8: u32 = 1 << 6;
    /// The current alphabetic word (case folded).
    pub const WORD: u32 = 1 << 7;
    /// The current and the previous word.
    pub const WORD2: u32 = 1 << 8;
    /// The byte at distance 2 alone.
    pub const SPARSE2: u32 = 1 << 9;
    /// The byte at distance 3 alone.
    pub const SPARSE3: u32 = 1 << 10;
    /// The bytes at distances 4 and 8 with the position mod 4 (32-bit records).
    pub const SPARSE4: u32 = 1 << 11;
    /// The bytes one and two records above (record length detected from repeated byte distances).
    pub const RECORD_ABOVE: u32 = 1 << 12;
    /// The byte one record above with the previous byte.
    pub const RECORD_LEFT: u32 = 1 << 13;
    /// The column within the record with the previous byte.
    pub const RECORD_COLUMN: u32 = 1 << 14;
    /// Orders 12, 16, 20 and 24: long repeats such as DNA.
    pub const O12: u32 = 1 << 15;
    pub const O16: u32 = 1 << 16;
    pub const O20: u32 = 1 << 17;
    pub const O24: u32 = 1 << 18;
    /// The bytes at distances 2 and 3.
    pub const SPARSE23: u32 = 1 << 19;
    /// The previous byte with the position mod 4 (aligned instructions and fields).
    pub const ALIGN1: u32 = 1 << 20;
    /// The previous two bytes with the position mod 4.
    pub const ALIGN2: u32 = 1 << 21;
    /// The bytes at distances 1 and 3.
    pub const SPARSE13: u32 = 1 << 22;
    /// The bytes at distances 2 and 4.
    pub const SPARSE24: u32 = 1 << 23;
    /// The high nibbles of the last four bytes.
    pub const NIBBLES: u32 = 1 << 24;
    /// The previous byte with the byte that followed its last occurrence (indirect).
    pub const INDIRECT1: u32 = 1 << 25;
    /// The previous two bytes with the byte that followed their last occurrence (indirect).
    pub const INDIRECT2: u32 = 1 << 26;
    /// The bytes at distances 1 and 4.
    pub const SPARSE14: u32 = 1 << 27;
    /// The low nibbles of the last four bytes.
    pub const LOW_NIBBLES: u32 = 1 << 28;
    /// The previous three bytes with the byte that followed their last occurrence (indirect).
    pub const INDIRECT3: u32 = 1 << 29;
    /// Every context bit defined by this version.
    pub const ALL: u32 = (1 << 30) - 1;
}

/// Parameters of the byte model. Encoder and decoder must use equal configurations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteModelConfig {
    /// The hashed contexts' table holds `2^hash_bits` slots of 16 bytes (14..=25).
    pub hash_bits: u8,
    /// The match models' history holds `2^history_bits` bytes and their index `2^(history_bits - 2)` positions
    /// (16..=26).
    pub history_bits: u8,
    /// Bits of [`ctx`] switched on.
    pub contexts: u32,
    /// Minimum length of the short match model (4..=32); the match is found by a hash of this many bytes.
    pub match_min: u8,
    /// Minimum length of the long match model (0 = off, else `match_min + 1..=64`).
    pub long_match_min: u8,
    /// Learning rate of the mixers (1..=64; the weight step is `input * error * rate / 2^16`).
    pub mixer_rate: u8,
    /// Count limit of the adaptive state maps (1..=1023): higher adapts slower but settles finer.
    pub state_limit: u16,
    /// Shift of the SSE stages' update (4..=10): higher adapts slower.
    pub apm_rate: u8,
}

impl Default for ByteModelConfig {
    fn default() -> Self {
        Self {
            hash_bits: 23,
            history_bits: 24,
            // Off by default: measured not to pay for their time (the match models cover long repeats).
            contexts: ctx::ALL & !(ctx::O3 | ctx::O5 | ctx::O16 | ctx::O20 | ctx::O24 | ctx::ALIGN2 | ctx::LOW_NIBBLES),
            match_min: 5,
            long_match_min: 24,
            mixer_rate: 16,
            state_limit: 1023,
            apm_rate: 6,
        }
    }
}

/// Why a configuration was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ByteConfigError {
    #[error("byte model config: expected {BYTE_CONFIG_LEN} bytes, got {0}")]
    Length(usize),
    #[error("byte model config: unknown version {0}")]
    Version(u8),
    #[error("byte model config: {name} = {value} is outside {min}..={max}")]
    Range {
        name: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("byte model config: unknown context bits {0:#x}")]
    Contexts(u32),
    #[error("byte model config: needs {0} bytes of memory, more than the {MAX_BYTE_MODEL_MEMORY} allowed")]
    Memory(u64),
}

fn check(name: &'static str, value: u32, min: u32, max: u32) -> Result<(), ByteConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ByteConfigError::Range { name, value, min, max })
    }
}

impl ByteModelConfig {
    /// The default configuration with its tables shrunk to what an input of `len` bytes can fill, which makes
    /// small inputs much faster (less memory to clear and fault in) at almost no cost in size.
    pub fn for_input_len(len: u64) -> Self {
        let d = Self::default();
        let log = 64 - len.max(1).leading_zeros() as u8;
        Self {
            hash_bits: (log + 5).clamp(16, d.hash_bits),
            history_bits: (log + 1).clamp(16, d.history_bits),
            ..d
        }
    }

    /// Checks every field's range and the memory bound.
    pub fn validate(&self) -> Result<(), ByteConfigError> {
        check("hash_bits", self.hash_bits.into(), 14, 25)?;
        check("history_bits", self.history_bits.into(), 16, 26)?;
        if self.contexts & !ctx::ALL != 0 {
            return Err(ByteConfigError::Contexts(self.contexts & !ctx::ALL));
        }
        check("match_min", self.match_min.into(), 4, 32)?;
        if self.long_match_min != 0 {
            check(
                "long_match_min",
                self.long_match_min.into(),
                u32::from(self.match_min) + 1,
                64,
            )?;
        }
        check("mixer_rate", self.mixer_rate.into(), 1, 64)?;
        check("state_limit", self.state_limit.into(), 1, 1023)?;
        check("apm_rate", self.apm_rate.into(), 4, 10)?;
        let memory = self.memory_bytes();
        if memory > MAX_BYTE_MODEL_MEMORY {
            return Err(ByteConfigError::Memory(memory));
        }
        Ok(())
    }

    /// An upper bound on the heap the model allocates: the hash table, the direct order-1/2 tables, the history
    /// and the two match indexes, plus a fixed 8 MiB for state maps, mixers, SSE and indirect tables. The default
    /// is about 200 MiB.
    pub fn memory_bytes(&self) -> u64 {
        let hash = 16u64 << self.hash_bits;
        let direct = (1u64 << 16) + (1 << 24);
        let history = (1u64 << self.history_bits) + (4u64 << (self.history_bits - 2)) * 2;
        hash + direct + history + (8 << 20)
    }

    /// The header form: version, then the fields in declaration order, little-endian.
    pub fn to_bytes(&self) -> [u8; BYTE_CONFIG_LEN] {
        let mut b = [0u8; BYTE_CONFIG_LEN];
        b[0] = BYTE_CONFIG_VERSION;
        b[1] = self.hash_bits;
        b[2] = self.history_bits;
        b[3..7].copy_from_slice(&self.contexts.to_le_bytes());
        b[7] = self.match_min;
        b[8] = self.long_match_min;
        b[9] = self.mixer_rate;
        b[10..12].copy_from_slice(&self.state_limit.to_le_bytes());
        b[12] = self.apm_rate;
        b
    }

    /// Parses and validates [`Self::to_bytes`]; bytes 13..16 are reserved and must be zero.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ByteConfigError> {
        if b.len() != BYTE_CONFIG_LEN {
            return Err(ByteConfigError::Length(b.len()));
        }
        if b[0] != BYTE_CONFIG_VERSION {
            return Err(ByteConfigError::Version(b[0]));
        }
        let reserved = u32::from_le_bytes([b[13], b[14], b[15], 0]);
        check("reserved", reserved, 0, 0)?;
        let cfg = Self {
            hash_bits: b[1],
            history_bits: b[2],
            contexts: u32::from_le_bytes([b[3], b[4], b[5], b[6]]),
            match_min: b[7],
            long_match_min: b[8],
            mixer_rate: b[9],
            state_limit: u16::from_le_bytes([b[10], b[11]]),
            apm_rate: b[12],
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
