//! LM throughput by lane count and window: tokens per second of lockstep batched decoding with the real model,
//! probability work (softmax + CDF) included, as the codec runs it. Run:
//! `cargo bench --bench lane_throughput -- [STEPS] [LANES,..] [WINDOW,..] [flash:0|1] [kv:f16|q8] [PREFILL]
//! [MAX_FEED]`. PREFILL tokens are fed to every lane (MAX_FEED per step) before the timed steps, so that
//! they measure a context that is already long, as in the middle of a file.

use std::time::Instant;

use nacz::container::{cdf_precision_bits, FORMAT_VERSION};
use nacz::lm::{LaneFeed, LanguageModel, LlamaLm, SessionConfig, Threads};
use nacz::model;
use nacz_coder::Cdf;
use nacz_predictors::softmax_into;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let steps: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(256);
    let list = |i: usize, default: &str| -> Vec<u32> {
        args.get(i)
            .map_or(default, String::as_str)
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let lanes_list = list(1, "1,4,8,16");
    let windows = list(2, "2048");
    let flash = args.get(3).is_some_and(|f| f == "1");
    let kv_q8 = args.get(4).is_some_and(|f| f == "q8");
    let prefill: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(0);
    let max_feed: u32 = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(1);
    let path = model::resolve(None).expect("model");
    let threads = std::env::var("NACZ_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut lm = LlamaLm::load(&path, model::fingerprint(&path).unwrap(), Threads::Fixed(threads), 1).unwrap();
    let text = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/alice-head.txt")).unwrap();
    let tokens = lm.tokenize(&text);
    let (mut probs, mut cdf) = (Vec::new(), Cdf::with_precision(cdf_precision_bits(FORMAT_VERSION)));
    for &window in &windows {
        for &lanes in &lanes_list {
            let config = SessionConfig {
                lanes,
                lane_group: lanes,
                window,
                slide: window / 4,
                sink: 4,
                flash_attention: flash,
                kv_q8,
                max_feed,
            };
            lm.begin(config).unwrap();
            let fill = Instant::now();
            for start in (0..prefill).step_by(max_feed as usize) {
                let end = (start + max_feed as usize).min(prefill);
                let chunks: Vec<Vec<_>> = (0..lanes as usize)
                    .map(|l| (start..end).map(|i| tokens[(i + 7 * l) % tokens.len()]).collect())
                    .collect();
                let feed: Vec<_> = chunks
                    .iter()
                    .map(|c| LaneFeed {
                        tokens: c,
                        logits: false,
                    })
                    .collect();
                lm.step(&feed).unwrap();
            }
            if prefill > 0 {
                println!(
                    "  prefilled {prefill} tokens per lane: {:.1} tok/s",
                    (prefill * lanes as usize) as f64 / fill.elapsed().as_secs_f64()
                );
            }
            let start = Instant::now();
            let mut lm_time = 0.0;
            let mut segment = (Instant::now(), 0.0f64);
            for step in 0..steps {
                if step > 0 && step % 256 == 0 {
                    let secs = segment.0.elapsed().as_secs_f64();
                    println!(
                        "  steps {:5}..{step:5}: {:7.1} tok/s",
                        step - 256,
                        256.0 * f64::from(lanes) / secs
                    );
                    segment = (Instant::now(), 0.0);
                }
                let feed: Vec<_> = (0..lanes as usize)
                    .map(|l| LaneFeed::one(&tokens[(prefill + step + 7 * l) % tokens.len()]))
                    .collect();
                let t = Instant::now();
                lm.step(&feed).unwrap();
                lm_time += t.elapsed().as_secs_f64();
                for lane in 0..lanes as usize {
                    softmax_into(lm.logits(lane), &mut probs);
                    cdf.quantize_into(&probs).unwrap();
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let n = (steps * lanes as usize) as f64;
            println!(
                "window {window:5} lanes {lanes:3} flash {}: {:7.1} tok/s ({:.1}% of time outside the LM), {steps} steps",
                u8::from(flash),
                n / secs,
                100.0 * (secs - lm_time) / secs
            );
        }
    }
}
