//! Line-ending normalization: a frame whose line breaks are all CRLF is modeled as LF text and its CRs are put
//! back on decode. The language models saw mostly LF text in training and predict CRLF text worse (the first
//! 20 kB of alice29: 3.3% more bits for the LM alone, README), so the header's one flag pays for itself on every
//! Windows text file. The transform is applied only where it is exactly invertible.

/// The content with the CR of every CRLF removed, when every LF of `content` follows a CR and there is at least
/// one; `None` otherwise (no line breaks, LF or mixed line endings), and the content is modeled as it is.
pub fn crlf_to_lf(content: &[u8]) -> Option<Vec<u8>> {
    let mut line_breaks = 0usize;
    for (i, &b) in content.iter().enumerate() {
        if b == b'\n' {
            if i == 0 || content[i - 1] != b'\r' {
                return None;
            }
            line_breaks += 1;
        }
    }
    if line_breaks == 0 {
        return None;
    }
    let mut text = Vec::with_capacity(content.len() - line_breaks);
    for (i, &b) in content.iter().enumerate() {
        // A CR is dropped only as the first half of a CRLF; lone CRs stay.
        if !(b == b'\r' && content.get(i + 1) == Some(&b'\n')) {
            text.push(b);
        }
    }
    Some(text)
}

/// Undoes [`crlf_to_lf`]: appends `text` to `out` with a CR before every LF.
pub fn lf_to_crlf(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + text.len() / 32);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn restored(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lf_to_crlf(text, &mut out);
        out
    }

    #[test]
    fn crlf_text_becomes_lf_text() {
        assert_eq!(crlf_to_lf(b"a\r\nb\r\n").as_deref(), Some(&b"a\nb\n"[..]));
        // A lone CR stays, also right before a CRLF.
        assert_eq!(crlf_to_lf(b"a\r\r\nb\rc\r\n").as_deref(), Some(&b"a\r\nb\rc\n"[..]));
        assert_eq!(restored(b"a\r\nb\rc\n"), b"a\r\r\nb\rc\r\n");
    }

    #[test]
    fn other_line_endings_are_left_alone() {
        for content in [
            &b""[..],
            b"no breaks",
            b"\r only \r",
            b"lf\n",
            b"\nstarts with lf",
            b"mixed\r\nlf\n",
        ] {
            assert_eq!(crlf_to_lf(content), None, "{content:?}");
        }
    }

    proptest! {
        #[test]
        fn the_transform_inverts(content in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()], 0..200)) {
            if let Some(text) = crlf_to_lf(&content) {
                prop_assert_eq!(restored(&text), content);
            }
        }

        #[test]
        fn crlf_text_always_transforms(lines in proptest::collection::vec("[a-z\r ]{0,8}", 1..20)) {
            let content: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
            let text = crlf_to_lf(content.as_bytes()).expect("every line ends in CRLF");
            prop_assert_eq!(restored(&text), content.as_bytes());
        }
    }
}
