//! Byte-model frames: a frame's content coded bit by bit, most significant bit first, with the byte-level
//! context-mixing model of [`nacz_predictors::byte`] and the binary arithmetic coder of [`nacz_coder::binary`].
//! No language model takes part, so binary data compresses at the speed of a classical compressor and decodes
//! without the model. The stream holds the coded bits only; the frame header keeps the content length.

use nacz_coder::{BinaryDecoder, BinaryEncoder};
use nacz_predictors::byte::{ByteModel, ByteModelConfig};

/// Codes `content` with a fresh model built from `config`; `progress` is told every 64 KiB.
pub fn encode(config: &ByteModelConfig, content: &[u8], mut progress: impl FnMut(u64)) -> Vec<u8> {
    let mut model = ByteModel::new(config);
    let mut encoder = BinaryEncoder::with_output(Vec::with_capacity(content.len() / 2));
    for (i, &byte) in content.iter().enumerate() {
        for shift in (0..8).rev() {
            let bit = u32::from(byte >> shift) & 1;
            encoder.encode(bit, model.p());
            model.update(bit);
        }
        if (i + 1) % (1 << 16) == 0 {
            progress(i as u64 + 1);
        }
    }
    encoder.finish()
}

/// Decodes `len` bytes from `stream` with a fresh model built from `config`, appending them to `out`. A corrupt
/// stream decodes to wrong bytes, never to an error or a panic: the caller's content checksum catches it.
pub fn decode(config: &ByteModelConfig, stream: &[u8], len: usize, out: &mut Vec<u8>, mut progress: impl FnMut(u64)) {
    let mut model = ByteModel::new(config);
    let mut decoder = BinaryDecoder::new(stream);
    out.reserve(len);
    for i in 0..len {
        let mut byte = 0u32;
        for _ in 0..8 {
            let bit = decoder.decode(model.p());
            model.update(bit);
            byte = byte << 1 | bit;
        }
        out.push(byte as u8);
        if (i + 1) % (1 << 16) == 0 {
            progress(i as u64 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_records() {
        let records: Vec<u8> = (0..2_000u32)
            .flat_map(|i| [(i % 7) as u8, 0, 0, 0, (i * 3) as u8, 0xFF, b'x', b'\n'])
            .collect();
        let config = ByteModelConfig::for_input_len(records.len() as u64);
        let stream = encode(&config, &records, |_| {});
        assert!(stream.len() < records.len() / 8, "{} bytes", stream.len());
        let mut out = vec![1, 2, 3];
        decode(&config, &stream, records.len(), &mut out, |_| {});
        assert_eq!(out[..3], [1, 2, 3], "appends");
        assert!(out[3..] == records[..]);
    }
}
