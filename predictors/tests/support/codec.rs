//! Byte model + binary coder round trip, shared by the byte-model tests and the `bytecm` example (kept out of the
//! library so that `nacz-predictors` stays free of coding). The stream holds the coded bits only; the caller keeps
//! the length.

use nacz_coder::{BinaryDecoder, BinaryEncoder};
use nacz_predictors::byte::{ByteModel, ByteModelConfig};

/// Codes `data` with a fresh model built from `cfg`.
pub fn compress(cfg: &ByteModelConfig, data: &[u8]) -> Vec<u8> {
    let mut model = ByteModel::new(cfg);
    let mut enc = BinaryEncoder::with_output(Vec::with_capacity(data.len() / 2));
    for &byte in data {
        for i in (0..8).rev() {
            let bit = u32::from(byte >> i) & 1;
            enc.encode(bit, model.p());
            model.update(bit);
        }
    }
    enc.finish()
}

/// Decodes `len` bytes from `stream` with a fresh model built from `cfg`.
pub fn decompress(cfg: &ByteModelConfig, stream: &[u8], len: usize) -> Vec<u8> {
    let mut model = ByteModel::new(cfg);
    let mut dec = BinaryDecoder::new(stream);
    (0..len)
        .map(|_| {
            let mut byte = 0u32;
            for _ in 0..8 {
                let bit = dec.decode(model.p());
                model.update(bit);
                byte = byte << 1 | bit;
            }
            byte as u8
        })
        .collect()
}
