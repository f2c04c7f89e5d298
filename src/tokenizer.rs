//! Byte-exact tokenization: any byte string becomes tokens whose pieces concatenate to exactly that string.
//!
//! Valid UTF-8 text goes through the model's own tokenizer (special-token text stays text); control bytes other
//! than tab/LF/CR and invalid UTF-8 become byte tokens, since llama.cpp's tokenizer drops some of them. Every
//! tokenized run is checked against its source and replaced by byte tokens if it does not reproduce it, and the
//! whole result is checked once more, so a tokenizer quirk can cost bits but never bytes.

use crate::lm::{LanguageModel, TokenId, Vocab};

/// A byte the model's tokenizer is not trusted with: C0 controls other than tab, LF and CR, and DEL.
pub(crate) fn is_control(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7F
}

/// Fraction of `input` that is binary rather than text: bytes of invalid UTF-8 and control bytes.
pub fn binary_fraction(input: &[u8]) -> f64 {
    if input.is_empty() {
        return 0.0;
    }
    let binary: usize = input
        .utf8_chunks()
        .map(|c| c.invalid().len() + c.valid().bytes().filter(|&b| is_control(b)).count())
        .sum();
    binary as f64 / input.len() as f64
}

/// Tokenizes `input` so that [`detokenize`] gives it back exactly.
pub fn tokenize(lm: &dyn LanguageModel, input: &[u8]) -> Vec<TokenId> {
    let vocab = lm.vocab();
    let mut tokens = Vec::with_capacity(input.len() / 3 + 16);
    for chunk in input.utf8_chunks() {
        let text = chunk.valid().as_bytes();
        for run in text.split_inclusive(|&b| is_control(b)) {
            let (body, control) = match run.last() {
                Some(&b) if is_control(b) => (&run[..run.len() - 1], Some(b)),
                _ => (run, None),
            };
            tokenize_text(lm, vocab, body, &mut tokens);
            if let Some(b) = control {
                tokens.push(vocab.byte_token(b));
            }
        }
        tokens.extend(chunk.invalid().iter().map(|&b| vocab.byte_token(b)));
    }
    if !reproduces(vocab, &tokens, input) {
        // Unreachable unless the vocabulary's pieces are inconsistent; bytes are always safe.
        tokens.clear();
        tokens.extend(input.iter().map(|&b| vocab.byte_token(b)));
    }
    tokens
}

fn tokenize_text(lm: &dyn LanguageModel, vocab: &Vocab, text: &[u8], out: &mut Vec<TokenId>) {
    if text.is_empty() {
        return;
    }
    let start = out.len();
    out.extend(lm.tokenize(text));
    if !reproduces(vocab, &out[start..], text) {
        out.truncate(start);
        out.extend(text.iter().map(|&b| vocab.byte_token(b)));
    }
}

fn reproduces(vocab: &Vocab, tokens: &[TokenId], expected: &[u8]) -> bool {
    let mut rest = expected;
    for &t in tokens {
        match rest.strip_prefix(vocab.piece(t)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Appends the bytes of `tokens` to `out`.
pub fn detokenize(vocab: &Vocab, tokens: &[TokenId], out: &mut Vec<u8>) {
    for &t in tokens {
        out.extend_from_slice(vocab.piece(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::FakeLm;
    use proptest::prelude::*;

    fn round_trip(input: &[u8]) -> Vec<TokenId> {
        let lm = FakeLm::new();
        let tokens = tokenize(&lm, input);
        let mut out = Vec::new();
        detokenize(lm.vocab(), &tokens, &mut out);
        assert_eq!(out, input);
        tokens
    }

    #[test]
    fn edge_cases_round_trip() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(&(0..=255u8).collect::<Vec<_>>());
        round_trip(b"ab\x04cd\x06\x13\x14\x16\x1d\x00");
        round_trip(b"hello <|endoftext|> world <|im_start|>");
        round_trip(b"\xff\xfe invalid \xc3 utf8 \xe6\x97");
        round_trip("caf\u{e9} \u{65e5}\u{672c}\r\n".as_bytes());
        round_trip(&[b' '; 5000]);
        round_trip(&[0u8; 1000]);
    }

    #[test]
    fn binary_fraction_counts_invalid_utf8_and_controls() {
        assert_eq!(binary_fraction(b""), 0.0);
        assert_eq!(binary_fraction("plain text\r\n\tcaf\u{e9}".as_bytes()), 0.0);
        assert_eq!(binary_fraction(b"ab\x00\xff"), 0.5);
    }

    #[test]
    fn text_uses_multi_byte_pieces() {
        assert!(round_trip(b"the cat and the hat").len() < 12);
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(input in proptest::collection::vec(any::<u8>(), 0..400)) {
            round_trip(&input);
        }
    }
}
