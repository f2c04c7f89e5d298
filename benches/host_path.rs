//! The host path's cost per token without a model: for each token, the default predictors (bias head, n-grams,
//! match model, multi-context mixer, probability map) turn a logit vector into a mixture, the mixture becomes a
//! lazy 28-bit table, the token is arithmetic-coded and the predictors learn it (format version 8). That is
//! everything a token costs besides the LM's decode, and on a GPU it is what bounds the speed. Format version 7's
//! path (a dense probability vector and a full CDF per token) is timed too, for comparison.
//!
//! Eight lanes share one predictor state and take turns, as in a frame; every position is an LM position (the
//! case the budget is about). The logits cycle through a bank of 64 synthetic vectors, each fresh in memory like a
//! model's output, with the coded token drawn mostly from their top entries so the predictors see repeats. Run:
//! `cargo bench --bench host_path` (criterion's report per vocabulary, then the version-7 figures and last one line
//! per vocabulary: `host: N µs per token at V symbols`, the median of five timed runs of 2,000 tokens on one core).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use nacz::codec::{mixture_table, DEFAULT_PREDICTORS};
use nacz::container::{cdf_precision_bits, FORMAT_VERSION};
use nacz::lm::TokenId;
use nacz_coder::{Cdf, Encoder, PatchCount};
use nacz_predictors::Predictor;

const LANES: usize = 8;
const BANK: usize = 64;
/// SmolLM2's and Gemma 3's vocabularies.
const VOCABULARIES: [usize; 2] = [49_152, 262_144];

/// Reproducible pseudo-random numbers (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A model-like logit vector: a flat, noisy floor and a few dozen likely tokens, the first the likeliest.
fn logits(rng: &mut Rng, n_symbols: usize) -> (Vec<f32>, Vec<TokenId>) {
    let mut logits: Vec<f32> = (0..n_symbols).map(|_| -4.0 + 4.0 * rng.unit()).collect();
    let top: Vec<TokenId> = (0..32).map(|_| rng.below(n_symbols.min(8_000)) as TokenId).collect();
    for (rank, &token) in top.iter().enumerate() {
        logits[token as usize] = 14.0 - 0.4 * rank as f32;
    }
    (logits, top)
}

/// Everything the host does for `tokens` tokens at `n_symbols` symbols, timed from the first token on.
struct HostPath {
    predictor: Predictor,
    /// Format version 7's path: dense probabilities and a full CDF.
    dense: bool,
    cdf: Cdf,
    probs: Vec<f32>,
    patch_counts: Vec<PatchCount>,
    bank: Vec<(Vec<f32>, Vec<TokenId>)>,
    rng: Rng,
    position: usize,
}

impl HostPath {
    fn new(n_symbols: usize, dense: bool) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let bank = (0..BANK).map(|_| logits(&mut rng, n_symbols)).collect();
        let config = DEFAULT_PREDICTORS.sized_for(1 << 20);
        Self {
            predictor: Predictor::new(config, LANES, n_symbols).expect("valid predictors"),
            dense,
            cdf: Cdf::with_precision(cdf_precision_bits(FORMAT_VERSION)),
            probs: Vec::new(),
            patch_counts: Vec::new(),
            bank,
            rng,
            position: 0,
        }
    }

    fn run(&mut self, tokens: u64) -> Duration {
        let mut encoder = Encoder::new();
        let start = Instant::now();
        for _ in 0..tokens {
            let lane = self.position % LANES;
            let (logits, top) = &self.bank[self.position % BANK];
            self.position += 1;
            let token = match self.rng.below(10) {
                0..=6 => top[0],
                7 | 8 => top[self.rng.below(top.len())],
                _ => self.rng.below(logits.len()) as TokenId,
            };
            if self.dense {
                self.predictor.predict(lane, Some(logits), &mut self.probs);
                self.cdf.quantize_into(&self.probs).expect("a valid distribution");
                encoder.encode(&self.cdf, token as usize);
            } else {
                let mixture = self.predictor.predict_mixture(lane, Some(logits));
                let table = mixture_table(
                    &mixture,
                    logits.len(),
                    self.cdf.precision_bits(),
                    &mut self.patch_counts,
                )
                .expect("a valid mixture");
                let (start, count) = table.range(token as usize).expect("a valid table");
                encoder.encode_range(start, count, table.precision_bits());
            }
            self.predictor.update(lane, token);
        }
        let elapsed = start.elapsed();
        black_box(encoder.finish());
        elapsed
    }
}

/// The median of five timed runs of 2,000 tokens, in µs per token.
fn median_micros(n_symbols: usize, dense: bool) -> f64 {
    let mut host = HostPath::new(n_symbols, dense);
    host.run(500);
    let mut runs: Vec<f64> = (0..5).map(|_| host.run(2_000).as_secs_f64() / 2_000.0).collect();
    runs.sort_by(f64::total_cmp);
    runs[2] * 1e6
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args().sample_size(10);
    for n_symbols in VOCABULARIES {
        let mut host = HostPath::new(n_symbols, false);
        criterion.bench_function(&format!("host_path/{n_symbols}"), |b| b.iter_custom(|n| host.run(n)));
    }
    criterion.final_summary();
    if std::env::args().any(|arg| arg == "--profile-time") {
        // Profiling criterion's runs: nothing else should show in the profile.
        return;
    }
    for n_symbols in VOCABULARIES {
        let micros = median_micros(n_symbols, true);
        println!("host (format 7, dense CDF): {micros:.0} µs per token at {n_symbols} symbols");
    }
    for n_symbols in VOCABULARIES {
        let micros = median_micros(n_symbols, false);
        println!("host: {micros:.0} µs per token at {n_symbols} symbols");
    }
}
