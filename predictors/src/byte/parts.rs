//! The adaptive parts the byte model is assembled from: state maps (bit history → probability), the gated
//! mixer and the SSE stage. Integer arithmetic only.

use super::tables::Logistic;

/// Asks the CPU to start loading the cache line holding `x`, without waiting for it. Has no effect on results.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults and `x` is a valid reference anyway. Measured: the
    // plain loads this replaces stall retirement on each cache miss.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((x as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Maps a small context (usually a bit-history state) to a probability, adapting each entry at rate
/// `1 / (count + 1.5)` until its count reaches the limit.
pub struct StateMap {
    /// High 22 bits: probability of a one; low 10 bits: count.
    t: Vec<u32>,
    limit: u32,
    /// `dt[n] = 2^17 / (2n + 3)`: the update step for count `n`, out of `2^16`.
    dt: &'static [i32; 1024],
    last: usize,
}

fn reciprocals() -> &'static [i32; 1024] {
    static DT: std::sync::OnceLock<[i32; 1024]> = std::sync::OnceLock::new();
    DT.get_or_init(|| std::array::from_fn(|n| (1 << 17) / (2 * n as i32 + 3)))
}

impl StateMap {
    /// `init(i)` gives entry `i`'s initial probability out of `2^16`.
    pub fn new(size: usize, limit: u32, init: impl Fn(usize) -> u32) -> Self {
        let t = (0..size).map(|i| (init(i).min(65_535) << 16) & !1023).collect();
        Self {
            t,
            limit,
            dt: reciprocals(),
            last: 0,
        }
    }

    /// Probability of a one out of 4096 for context `cx`.
    #[inline]
    pub fn p(&mut self, cx: usize) -> u32 {
        self.last = cx;
        self.t[cx] >> 20
    }

    #[inline]
    pub fn update(&mut self, bit: u32) {
        let e = &mut self.t[self.last];
        let n = *e & 1023;
        let p = (*e >> 10) as i32;
        let target = (bit << 22) as i32 - i32::from(bit != 0);
        // |target - p| < 2^22 and dt <= 2^16 / 1.5: the product fits i64, the step fits the 22 bits.
        let step = ((i64::from(target - p) * i64::from(self.dt[n as usize])) >> 16) as i32;
        let n = if n < self.limit { n + 1 } else { n };
        *e = (((p + step) as u32) << 10) | n;
    }
}

/// First-layer weights stay within ±8.0 (16.16 fixed point), which keeps the dot product in 32 bits.
const WEIGHT_LIMIT: i32 = (1 << 19) - 1;
/// Bound of the second layer's weights: 6 · 2047 · 2^28 still fits the i64 sum, and a sum / 2^16 fits i32.
const FINAL_WEIGHT_LIMIT: i32 = 1 << 28;

/// A gated mixer: `sets` first-layer weight vectors, each chosen by its own selector, whose outputs a second,
/// single weight vector mixes. Weights are 16.16 fixed point; inputs and outputs are stretched probabilities.
pub struct Mixer {
    n: usize,
    inputs: Vec<i32>,
    weights: Vec<i32>,
    /// Offset of each selector's weight range in `weights`, and the chosen row per selector.
    bases: Vec<usize>,
    rows: Vec<usize>,
    outputs: Vec<i32>,
    out_p: Vec<i32>,
    final_w: Vec<i32>,
    final_p: i32,
    rate: i32,
    lg: &'static Logistic,
}

impl Mixer {
    /// `n` inputs; `selector_sizes[k]` rows for selector `k`.
    pub fn new(n: usize, selector_sizes: &[usize], rate: u32) -> Self {
        let mut bases = Vec::with_capacity(selector_sizes.len());
        let mut total = 0;
        for &s in selector_sizes {
            bases.push(total);
            total += s * n;
        }
        let k = selector_sizes.len();
        Self {
            n,
            inputs: Vec::with_capacity(n),
            weights: vec![(1 << 16) / 16; total],
            bases,
            rows: vec![0; k],
            outputs: vec![0; k],
            out_p: vec![0; k],
            final_w: vec![(1 << 16) / k as i32; k],
            final_p: 2048,
            rate: rate as i32,
            lg: Logistic::get(),
        }
    }

    #[inline]
    pub fn add(&mut self, x: i32) {
        self.inputs.push(x);
    }

    #[inline]
    pub fn select(&mut self, k: usize, row: usize) {
        self.rows[k] = self.bases[k] + row * self.n;
    }

    /// Starts loading row `row` of selector `k` into the cache.
    #[inline]
    pub fn touch(&self, k: usize, row: usize) {
        let start = self.bases[k] + row * self.n;
        for i in (start..start + self.n).step_by(16) {
            prefetch(&self.weights[i]);
        }
    }

    /// Mixes the inputs added since the last update; returns the probability of a one out of 4096.
    pub fn p(&mut self) -> i32 {
        debug_assert_eq!(self.inputs.len(), self.n);
        let mut total: i64 = 0;
        for k in 0..self.rows.len() {
            let w = &self.weights[self.rows[k]..self.rows[k] + self.n];
            // |x| <= 2047 and |w| < 2^19, so each product fits i32 and the sum of products / 2^8 does too.
            let dot: i32 = self.inputs.iter().zip(w).map(|(&x, &w)| (x * w) >> 8).sum();
            let s = (dot >> 8).clamp(-2047, 2047);
            self.outputs[k] = s;
            self.out_p[k] = self.lg.squash(s);
            total += i64::from(s) * i64::from(self.final_w[k]);
        }
        self.final_p = self.lg.squash(((total >> 16) as i32).clamp(-2047, 2047));
        self.final_p
    }

    pub fn update(&mut self, bit: u32) {
        let y = (bit as i32) << 12;
        // The second layer sees few, already mixed inputs: a slower rate keeps it from chasing noise.
        let err = (y - self.final_p) * self.rate / 8;
        for (w, &x) in self.final_w.iter_mut().zip(&self.outputs) {
            // Far beyond any weight real data reaches (they start near 2^13), so no stream can overflow them.
            *w = (*w + ((x * err) >> 14)).clamp(-FINAL_WEIGHT_LIMIT, FINAL_WEIGHT_LIMIT);
        }
        for k in 0..self.rows.len() {
            let err = (y - self.out_p[k]) * self.rate;
            let w = &mut self.weights[self.rows[k]..self.rows[k] + self.n];
            for (w, &x) in w.iter_mut().zip(&self.inputs) {
                *w = (*w + ((x * err) >> 14)).clamp(-WEIGHT_LIMIT, WEIGHT_LIMIT);
            }
        }
        self.inputs.clear();
    }
}

/// Secondary estimation: refines a probability given a context, by interpolating between 33 learned nodes
/// over the stretched input. Nodes hold 16-bit probabilities; both nodes learn in proportion to their share.
pub struct Apm {
    t: Vec<u16>,
    /// The lower node of the last lookup, and the upper node's share (out of 128).
    index: usize,
    share: i32,
    rate: u32,
    lg: &'static Logistic,
}

impl Apm {
    pub fn new(contexts: usize, rate: u32) -> Self {
        let lg = Logistic::get();
        let t = (0..contexts * 33)
            .map(|i| (lg.squash((i % 33) as i32 * 128 - 2048) * 16) as u16)
            .collect();
        Self {
            t,
            index: 0,
            share: 0,
            rate,
            lg,
        }
    }

    /// Starts loading context `cx`'s nodes into the cache.
    #[inline]
    pub fn touch(&self, cx: usize) {
        prefetch(&self.t[cx * 33]);
        prefetch(&self.t[cx * 33 + 32]);
    }

    /// Refines `p` (out of 4096) in context `cx`; returns a probability out of `2^16`.
    #[inline]
    pub fn p(&mut self, p: i32, cx: usize) -> u32 {
        let s = (self.lg.stretch(p as u32) + 2048).clamp(0, 4095) as usize;
        let lo = s >> 7;
        let w = (s & 127) as u32;
        let base = cx * 33 + lo;
        self.index = base;
        self.share = w as i32;
        (u32::from(self.t[base]) * (128 - w) + u32::from(self.t[base + 1]) * w) >> 7
    }

    #[inline]
    pub fn update(&mut self, bit: u32) {
        let target = if bit != 0 { 65_535 } else { 0 };
        for (i, share) in [(self.index, 128 - self.share), (self.index + 1, self.share)] {
            let v = &mut self.t[i];
            // The step is at most an eighth of the distance to the target, so the node stays in 0..=65535.
            *v = (i32::from(*v) + (((target - i32::from(*v)) * share) >> (6 + self.rate))) as u16;
        }
    }
}
