//! Rewrites the session of every modeled frame of a nacz file and recomputes the frame checksums, as someone
//! forging a file would (xxh3 is no MAC): a tool to check that the decoder refuses such files before allocating.
//!
//! `cargo run --release --example forge_header -- IN.nacz OUT.nacz LANES WINDOW`

use nacz::container::{read_frame, FrameBody, FrameHeader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, lanes, window] = args.as_slice() else {
        return Err("usage: forge_header IN.nacz OUT.nacz LANES WINDOW".into());
    };
    let (lanes, window): (u32, u32) = (lanes.parse()?, window.parse()?);
    let bytes = std::fs::read(input)?;
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (frame, len) = read_frame(rest)?;
        let body = match frame.header.body {
            FrameBody::Modeled(mut params) => {
                params.session.lanes = lanes;
                params.session.window = window;
                FrameBody::Modeled(params)
            }
            stored => stored,
        };
        out.extend(FrameHeader::write_frame(frame.header.content_len, body, frame.payload));
        rest = &rest[len..];
    }
    std::fs::write(output, out)?;
    Ok(())
}
