//! Measures the byte model: compresses and decompresses each file given, checks the round trip, and prints size,
//! bits per byte and speed next to `xz -9e` run on the same file in the same run.
//!
//! `cargo run --release -p nacz-predictors --example bytecm -- FILE...`: each file is coded with
//! `ByteModelConfig::for_input_len`; set `BYTECM_CONFIG=<hex of ByteModelConfig::to_bytes>` to use one fixed
//! configuration instead, `BYTECM_NO_XZ=1` to skip xz. Exits nonzero if any round trip fails.

#[path = "../tests/support/codec.rs"]
mod codec;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use nacz_predictors::byte::ByteModelConfig;

fn xz_size(data: &[u8]) -> Option<usize> {
    let mut child = Command::new("xz")
        .args(["-9e", "-c", "-T1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout.len())
}

fn main() {
    // BYTECM_CONFIG: one configuration for every file, in its header form as hex (for ablations); otherwise each
    // file gets ByteModelConfig::for_input_len.
    let fixed = std::env::var("BYTECM_CONFIG").ok().map(|hex| {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("BYTECM_CONFIG is hex"))
            .collect();
        ByteModelConfig::from_bytes(&bytes).expect("BYTECM_CONFIG")
    });
    let run_xz = std::env::var_os("BYTECM_NO_XZ").is_none();
    println!(
        "{:<14} {:>10} {:>10} {:>7} {:>8} {:>8} {:>10} {:>8} {:>7}",
        "file", "bytes", "bytecm", "bpc", "c MB/s", "d MB/s", "xz -9e", "vs xz", "mem MiB"
    );
    let (mut total, mut total_c, mut total_x) = (0usize, 0usize, 0usize);
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let cfg = fixed
            .clone()
            .unwrap_or_else(|| ByteModelConfig::for_input_len(data.len() as u64));
        let t = Instant::now();
        let packed = codec::compress(&cfg, &data);
        let tc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let unpacked = codec::decompress(&cfg, &packed, data.len());
        let td = t.elapsed().as_secs_f64();
        let ok = unpacked == data;
        failed |= !ok;
        let xz = if run_xz { xz_size(&data) } else { None };
        let name = path.rsplit('/').next().unwrap_or(&path);
        let mb = data.len() as f64 / 1e6;
        let vs = xz.map_or(String::from("-"), |x| {
            format!("{:+.1}%", (packed.len() as f64 / x as f64 - 1.0) * 100.0)
        });
        println!(
            "{:<14} {:>10} {:>10} {:>7.3} {:>8.2} {:>8.2} {:>10} {:>8} {:>7}{}",
            name,
            data.len(),
            packed.len(),
            packed.len() as f64 * 8.0 / data.len().max(1) as f64,
            mb / tc,
            mb / td,
            xz.map_or(String::from("-"), |x| x.to_string()),
            vs,
            cfg.memory_bytes() >> 20,
            if ok { "" } else { "  ROUND TRIP FAILED" }
        );
        total += data.len();
        total_c += packed.len();
        total_x += xz.unwrap_or(0);
    }
    println!(
        "{:<14} {:>10} {:>10} {:>7} {:>8} {:>8} {:>10}",
        "total", total, total_c, "", "", "", total_x
    );
    if failed {
        std::process::exit(1);
    }
}
