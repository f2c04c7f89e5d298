//! The predictor pipeline of a frame: the LM's logits (through the adaptive bias head) mixed with the n-gram and
//! match models into one distribution per position, and the confidence-skip decision.
//!
//! Every lane follows predict-then-update: [`Predictor::predict`] for a lane, the coder codes the token, then
//! [`Predictor::update`] for the same lane. The compressor and the decompressor call them in the same order (lanes
//! in index order within a step), so state shared by the lanes of a group stays identical on both sides.
//! All arithmetic is `f32` in a fixed order with our own exponential, so the output is bit-identical everywhere.

use crate::apm::{MapLookup, ProbabilityMap};
use crate::config::{ConfigError, MixerKind, PredictorConfig, RATE_ONE};
use crate::matcher::{length_bucket, MatchModel, MatchPrediction};
use crate::ngram::{Located, NgramTable, MAX_ORDER};
use crate::softmax::{bias_and_max, exp_nonpositive, exp_weights, softmax_into};
use crate::TokenId;

/// Most components a mixture has: the LM, up to [`MAX_ORDER`] n-gram orders and the match model.
const MAX_COMPONENTS: usize = MAX_ORDER + 2;

/// LM confidence buckets of the context mixer (by the LM's top probability), plus one for skipped positions.
const LM_BUCKETS: usize = 5;
/// Match-length buckets of the context mixer.
const MATCH_BUCKETS: usize = 4;
/// Weight sets the multi-context mixer sums (the context mixer has the first only).
const MAX_SETS: usize = 6;
/// Count buckets of the top n-gram order's context (1, 2-3, 4-7, 8+ occurrences).
const COUNT_BUCKETS: usize = 4;
/// How a prediction relates to the LM's top token: no LM at this position, the same token, another token.
const AGREEMENT_STATES: usize = 3;
/// Buckets of each recent-token context (hashed).
const TOKEN_BUCKETS: usize = 4096;
/// The adaptive probability map's share of the probability it re-estimates (the mixture keeps the rest).
const APM_MIX: f32 = 0.75;
/// Contexts of the adaptive probability map: the match model's token and the top n-gram order's most frequent
/// follower, each absent, the mixture's top token or another.
const APM_CONTEXTS: usize = 9;
/// The map re-estimates probabilities below this only, so the rest of the mixture keeps a share to scale.
const MAX_APM_INPUT: f32 = 0.999_99;
const MIN_APM_OUTPUT: f32 = 1e-6;
/// Multipliers that spread the last, second-to-last and third-to-last token over the recent-token hashes.
const RECENT_MULTIPLIERS: [u32; 3] = [0x9E37_79B1, 0x85EB_CA6B, 0xC2B2_AE35];
/// Initial mixer parameter of every component other than the LM (the LM's is 0): the LM starts with most weight.
const INITIAL_OTHER_WEIGHT: f32 = -5.0;
/// Smallest miss probability a skipped position reserves for tokens the cheap predictors did not predict.
const MIN_SKIP_FLOOR: f32 = 1.0 / 4096.0;

/// Nacrith's constants (NG/compressor.py, ngram_model.py, lzp_model.py).
const NACRITH_LM_WEIGHT: f32 = 0.85;
const NACRITH_ESCAPE: f32 = 5.0;
const NACRITH_LZP_PROBABILITY: f32 = 0.85;
const NACRITH_MIN_PROBABILITY: f32 = 1e-8;

/// State learned from a group of lanes (one lane, or all of them when lanes share).
struct Group {
    ngram: Option<NgramTable>,
    matcher: Option<MatchModel>,
    /// The final adaptive probability map, contexts by how the match and n-gram models relate to its token.
    apm: Option<ProbabilityMap>,
    /// Log-space bias added to the LM's logits (empty without a bias head).
    bias: Vec<f32>,
    /// Format version 8: the step of gradient descent the last LM position's update left for the bias, applied
    /// with that position's weights (still in `lm_probs`) by the next LM position's first pass.
    bias_step: f32,
    /// The LM's unnormalised probabilities at the group's last LM position (`n_symbols` of them in version 8).
    lm_probs: Vec<f32>,
    /// Context mixer: a parameter per (bucket, component); Nacrith mixer: one weight per component.
    mixer: Vec<f32>,
    /// Token counts over the alphabet, for Nacrith's Laplace-smoothed unigram (empty otherwise).
    unigram: Vec<u32>,
    unigram_total: u32,
}

/// A sparse component of a prediction: its tokens and probabilities are `entries[range]`.
struct Sparse {
    component: usize,
    range: std::ops::Range<usize>,
    /// Occurrences of the context behind it (n-gram orders).
    count_total: u32,
}

/// The LM's part in a position's prediction.
#[derive(Clone, Copy)]
struct LmSummary {
    /// Its top probability.
    top: f32,
    /// Its top token (the first among equals).
    best: Option<usize>,
}

/// What the sparse part of a prediction found, for the final probability map.
struct Components {
    prediction: Option<MatchPrediction>,
    /// The top n-gram order's most frequent follower.
    top_best: Option<TokenId>,
}

/// A prediction of format version 8, described rather than written out: every symbol `t` weighs
/// `dense_weight * dense[t] + uniform_weight` except the patched symbols, whose weights are given (sorted by
/// symbol, distinct). `dense_sum` is the sum of `dense` (`None`: no dense part). The coder turns it into
/// frequencies with `nacz_coder::LazyCdf` without a pass over the vocabulary.
#[derive(Debug)]
pub struct Mixture<'a> {
    pub dense: Option<&'a [f32]>,
    pub dense_sum: f64,
    pub dense_weight: f64,
    pub uniform_weight: f64,
    pub patches: &'a [(TokenId, f64)],
}

/// What a prediction used, kept for the update that follows it.
#[derive(Default)]
struct Pending {
    lane: Option<usize>,
    lm_used: bool,
    /// The prediction was a [`Mixture`] (format version 8): the bias step is deferred.
    mixture: bool,
    located: Located,
    sparse: Vec<Sparse>,
    entries: Vec<(TokenId, f32)>,
    /// Mixing weight of each component (0 when inactive).
    weights: [f32; MAX_COMPONENTS],
    /// Context mixers: where the parameters of each weight set's selected bucket start in `Group::mixer`.
    offsets: [usize; MAX_SETS],
    /// `1 / Σ` of the LM's unnormalised probabilities in the group's `lm_probs`.
    lm_scale: f32,
    /// Nacrith: the weight of every symbol in the n-gram's unigram base (`Π(1-λ) / (N + V)`).
    unigram_scale: f32,
    /// Weight of the uniform floor of a skipped position.
    floor: f32,
    /// The adaptive probability map's lookup and the token it re-estimated.
    apm: Option<(MapLookup, TokenId)>,
}

/// Predicts every position of a frame's lanes.
pub struct Predictor {
    config: PredictorConfig,
    n_symbols: usize,
    groups: Vec<Group>,
    /// Recent tokens of each lane (its n-gram context), oldest first, at most [`MAX_ORDER`].
    recent: Vec<Vec<TokenId>>,
    biased: Vec<f32>,
    /// The patches of the last [`Mixture`].
    patches: Vec<(TokenId, f64)>,
    /// Sparse contributions of a version-8 prediction, by token.
    contributions: Vec<(TokenId, f32)>,
    pending: Pending,
}

impl Predictor {
    /// A predictor for `lanes` lanes over an alphabet of `n_symbols` symbols.
    pub fn new(config: PredictorConfig, lanes: usize, n_symbols: usize) -> Result<Self, ConfigError> {
        config.validate(lanes as u32)?;
        let n_groups = if config.share_lanes { 1 } else { lanes };
        let members = if config.share_lanes { lanes } else { 1 };
        let n_components = 2 + usize::from(config.ngram_order);
        let order = usize::from(config.ngram_order);
        let groups = (0..n_groups)
            .map(|_| Group {
                ngram: (order > 0).then(|| NgramTable::new(order, u32::from(config.ngram_table_bits))),
                matcher: (config.match_min_len > 0).then(|| {
                    MatchModel::new(
                        members,
                        usize::from(config.match_min_len),
                        u32::from(config.match_table_bits),
                    )
                }),
                apm: (config.apm_rate > 0).then(|| ProbabilityMap::new(APM_CONTEXTS)),
                bias: Vec::new(),
                bias_step: 0.0,
                lm_probs: Vec::new(),
                mixer: initial_mixer(&config, n_components),
                unigram: Vec::new(),
                unigram_total: 0,
            })
            .collect();
        let mut predictor = Self {
            config,
            n_symbols,
            groups,
            recent: vec![Vec::new(); lanes],
            biased: Vec::new(),
            patches: Vec::new(),
            contributions: Vec::new(),
            pending: Pending::default(),
        };
        predictor.reset();
        Ok(predictor)
    }

    /// Forgets everything learned, as at the start of a frame.
    pub fn reset(&mut self) {
        let n_components = 2 + usize::from(self.config.ngram_order);
        for group in &mut self.groups {
            if let Some(ngram) = &mut group.ngram {
                ngram.clear();
            }
            if let Some(matcher) = &mut group.matcher {
                matcher.clear();
            }
            if let Some(apm) = &mut group.apm {
                apm.clear();
            }
            group.bias.clear();
            group.bias_step = 0.0;
            group.lm_probs.clear();
            if self.config.bias_rate > 0 {
                group.bias.resize(self.n_symbols, 0.0);
            }
            group.mixer = initial_mixer(&self.config, n_components);
            group.unigram.clear();
            group.unigram_total = 0;
            if self.config.mixer == MixerKind::Nacrith && self.config.ngram_order > 0 {
                group.unigram.resize(self.n_symbols, 0);
            }
        }
        for recent in &mut self.recent {
            recent.clear();
        }
        self.pending = Pending::default();
    }

    /// Bytes of learned state (tables, histories, biases).
    pub fn memory_bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|g| {
                g.ngram.as_ref().map_or(0, NgramTable::memory_bytes)
                    + g.matcher.as_ref().map_or(0, MatchModel::memory_bytes)
                    + g.apm.as_ref().map_or(0, ProbabilityMap::memory_bytes)
                    + 4 * (g.bias.len() + g.lm_probs.len() + g.mixer.len() + g.unigram.len())
            })
            .sum()
    }

    fn member(&self, lane: usize) -> (usize, usize) {
        if self.config.share_lanes {
            (0, lane)
        } else {
            (lane, 0)
        }
    }

    fn match_prediction(&self, lane: usize) -> Option<MatchPrediction> {
        let (group, member) = self.member(lane);
        self.groups[group].matcher.as_ref()?.predict(member)
    }

    /// Whether the next position of `lane` needs the LM's prediction; when it does not (confidence skip), the
    /// caller need not ask the LM for logits there. Depends only on state both sides share.
    pub fn wants_lm(&self, lane: usize) -> bool {
        if self.config.skip_miss_rate == 0 {
            return true;
        }
        match self.match_prediction(lane) {
            Some(prediction) => miss_rate(&self.groups[self.member(lane).0], prediction.length) > self.skip_threshold(),
            None => true,
        }
    }

    fn skip_threshold(&self) -> f32 {
        f32::from(self.config.skip_miss_rate) / RATE_ONE
    }

    /// Writes the weights of every symbol for the next token of `lane` into `out` (unnormalised; the CDF
    /// quantizer normalises): format versions 1–7, and the Nacrith mixer in every version. `logits` is the LM's
    /// prediction, `None` on a skipped position.
    pub fn predict(&mut self, lane: usize, logits: Option<&[f32]>, out: &mut Vec<f32>) {
        let (group_index, _) = self.member(lane);
        self.begin(lane, logits.is_some(), false);
        if self.config.is_lm_only() {
            // Exactly the spine's computation, so format-version-1 frames decode unchanged.
            softmax_into(logits.expect("LM-only predictors never skip"), out);
            out.resize(self.n_symbols, 0.0);
            return;
        }
        // The LM through the bias head, normalised.
        let lm = logits.map(|logits| {
            let group = &mut self.groups[group_index];
            let input = if group.bias.is_empty() {
                logits
            } else {
                self.biased.clear();
                self.biased.extend(logits.iter().zip(&group.bias).map(|(l, b)| l + b));
                &self.biased
            };
            softmax_into(input, &mut group.lm_probs);
            let sum: f32 = group.lm_probs.iter().sum();
            self.pending.lm_scale = 1.0 / sum;
            LmSummary {
                // softmax_into gives the top token weight 1; only the multi-context mixer asks which token that is,
                // so the other mixers skip the search.
                top: self.pending.lm_scale,
                best: (self.config.mixer == MixerKind::MultiContext)
                    .then(|| group.lm_probs.iter().position(|&p| p == 1.0))
                    .flatten(),
            }
        });
        let Components { prediction, top_best } = self.mix_components(lane, lm);
        let group = &self.groups[group_index];
        let pending = &mut self.pending;
        let match_component = usize::from(self.config.ngram_order) + 1;

        // Dense part: the LM, then Nacrith's unigram base or a uniform floor; then the sparse components.
        out.clear();
        if logits.is_some() {
            let w_lm = pending.weights[0] * pending.lm_scale;
            out.extend(group.lm_probs.iter().map(|p| p * w_lm));
        }
        out.resize(self.n_symbols, 0.0);
        let (uniform, sparse_scale) = match self.config.mixer {
            MixerKind::Context | MixerKind::MultiContext if logits.is_none() => {
                (pending.floor / self.n_symbols as f32, 1.0 - pending.floor)
            }
            MixerKind::Context | MixerKind::MultiContext => (0.0, 1.0),
            MixerKind::Nacrith => (pending.weights[2] * pending.floor, 1.0),
        };
        if uniform > 0.0 {
            for o in out.iter_mut() {
                *o += uniform;
            }
        }
        if !group.unigram.is_empty() {
            let scale = pending.weights[1] * pending.unigram_scale;
            for (o, &c) in out.iter_mut().zip(&group.unigram) {
                *o += scale * (c + 1) as f32;
            }
        }
        for sparse in &pending.sparse {
            let weight = match self.config.mixer {
                MixerKind::Context | MixerKind::MultiContext => pending.weights[sparse.component] * sparse_scale,
                MixerKind::Nacrith if sparse.component == match_component => pending.weights[2],
                MixerKind::Nacrith => pending.weights[1],
            };
            for &(token, q) in &pending.entries[sparse.range.clone()] {
                out[token as usize] += weight * q;
            }
        }

        if let Some(apm) = &group.apm {
            // The most probable token (the first among equals) and its share of the mixture.
            let (mut best, mut best_weight, mut total) = (0, 0.0f32, 0.0f32);
            for (i, &w) in out.iter().enumerate() {
                total += w;
                if w > best_weight {
                    (best, best_weight) = (i, w);
                }
            }
            let p = best_weight / total;
            if total > 0.0 && p > 0.0 && p < MAX_APM_INPUT {
                let relation = |other: Option<TokenId>| match other {
                    None => 0,
                    Some(token) if token as usize == best => 1,
                    Some(_) => 2,
                };
                let context = relation(prediction.map(|p| p.token)) * 3 + relation(top_best);
                let lookup = apm.lookup(context, p);
                // The mixture keeps a share: the map is noisy in rarely seen contexts.
                let refined = ((1.0 - APM_MIX) * p + APM_MIX * lookup.probability).clamp(MIN_APM_OUTPUT, MAX_APM_INPUT);
                let rest = (1.0 - refined) / (1.0 - p);
                for w in out.iter_mut() {
                    *w *= rest;
                }
                out[best] = refined * total;
                pending.apm = Some((lookup, best as TokenId));
            }
        }
    }

    /// Whether format version 8 describes this configuration's predictions as a [`Mixture`]: every mixer but
    /// Nacrith's (whose unigram base weighs every symbol differently; it keeps [`Predictor::predict`]).
    pub fn predicts_mixtures(&self) -> bool {
        self.config.mixer != MixerKind::Nacrith || self.config.is_lm_only()
    }

    /// The prediction of format version 8 for the next token of `lane`, as a [`Mixture`]: two passes over the
    /// vocabulary where the LM is used (the bias step and the peak, then the weights and their sum; see
    /// `softmax`), none where it is skipped. The mixture is the one [`Predictor::predict`] writes out, with the
    /// LM's weights from the vectorizable passes and the probability map applied to the larger of the LM's top
    /// token and the patched tokens (the first among equals).
    ///
    /// # Panics
    /// If [`Predictor::predicts_mixtures`] is false.
    pub fn predict_mixture(&mut self, lane: usize, logits: Option<&[f32]>) -> Mixture<'_> {
        assert!(self.predicts_mixtures(), "the Nacrith mixer has no version-8 form");
        let (group_index, _) = self.member(lane);
        let n_symbols = self.n_symbols;
        self.begin(lane, logits.is_some(), true);
        let mut dense_sum = 0.0;
        let lm = logits.map(|logits| {
            let group = &mut self.groups[group_index];
            if group.lm_probs.len() != n_symbols {
                group.lm_probs.clear();
                group.lm_probs.resize(n_symbols, 0.0);
            }
            let logits = &logits[..logits.len().min(n_symbols)];
            let peak = bias_and_max(logits, &mut group.bias, &mut group.lm_probs, group.bias_step);
            group.bias_step = 0.0;
            dense_sum = exp_weights(&mut group.lm_probs[..logits.len()], peak.max);
            self.pending.lm_scale = (1.0 / dense_sum) as f32;
            // The peak weighs exactly 1.
            LmSummary {
                top: self.pending.lm_scale,
                best: Some(peak.index),
            }
        });
        if self.config.is_lm_only() {
            let group = &self.groups[group_index];
            self.patches.clear();
            return Mixture {
                dense: Some(&group.lm_probs),
                dense_sum,
                dense_weight: 1.0,
                uniform_weight: 0.0,
                patches: &self.patches,
            };
        }
        let Components { prediction, top_best } = self.mix_components(lane, lm);
        let group = &self.groups[group_index];
        let pending = &mut self.pending;
        let dense = lm.map(|_| group.lm_probs.as_slice());
        let mut dense_weight = f64::from(pending.weights[0] * pending.lm_scale);
        // The skipped position's uniform floor, as in `predict`.
        let (uniform, sparse_scale) = if lm.is_none() {
            (pending.floor / n_symbols as f32, 1.0 - pending.floor)
        } else {
            (0.0, 1.0)
        };
        let mut uniform_weight = f64::from(uniform);
        // Every sparse contribution, by token (components in order within a token), summed onto the token's dense
        // weight.
        self.contributions.clear();
        for sparse in &pending.sparse {
            let weight = pending.weights[sparse.component] * sparse_scale;
            self.contributions.extend(
                pending.entries[sparse.range.clone()]
                    .iter()
                    .map(|&(token, q)| (token, weight * q)),
            );
        }
        self.contributions.sort_by_key(|&(token, _)| token);
        let dense_at = |t: usize| dense.map_or(0.0, |d| f64::from(d[t]));
        let mut total = dense_weight * dense_sum + uniform_weight * n_symbols as f64;
        self.patches.clear();
        for &(token, contribution) in &self.contributions {
            let contribution = f64::from(contribution);
            total += contribution;
            match self.patches.last_mut() {
                Some((last, weight)) if *last == token => *weight += contribution,
                _ => self.patches.push((
                    token,
                    dense_weight * dense_at(token as usize) + uniform_weight + contribution,
                )),
            }
        }

        if let Some(apm) = &group.apm {
            // The largest weight is the LM's top token's (symbol 0's without the LM) or a patched token's; the
            // first among equals.
            let dense_top = lm.and_then(|lm| lm.best).unwrap_or(0);
            let unpatched_top = self
                .patches
                .binary_search_by_key(&(dense_top as TokenId), |&(t, _)| t)
                .is_err()
                .then(|| (dense_top, dense_weight * dense_at(dense_top) + uniform_weight));
            let best = self
                .patches
                .iter()
                .map(|&(t, w)| (t as usize, w))
                .fold(unpatched_top, |best, (t, w)| match best {
                    Some((bt, bw)) if w < bw || (w == bw && bt < t) => best,
                    _ => Some((t, w)),
                })
                .expect("a dense top or a patch");
            let p = (best.1 / total) as f32;
            if total > 0.0 && p > 0.0 && p < MAX_APM_INPUT {
                let relation = |other: Option<TokenId>| match other {
                    None => 0,
                    Some(token) if token as usize == best.0 => 1,
                    Some(_) => 2,
                };
                let context = relation(prediction.map(|p| p.token)) * 3 + relation(top_best);
                let lookup = apm.lookup(context, p);
                let refined = ((1.0 - APM_MIX) * p + APM_MIX * lookup.probability).clamp(MIN_APM_OUTPUT, MAX_APM_INPUT);
                let rest = f64::from((1.0 - refined) / (1.0 - p));
                dense_weight *= rest;
                uniform_weight *= rest;
                for (_, weight) in &mut self.patches {
                    *weight *= rest;
                }
                let refined_weight = f64::from(refined) * total;
                match self.patches.binary_search_by_key(&(best.0 as TokenId), |&(t, _)| t) {
                    Ok(i) => self.patches[i].1 = refined_weight,
                    Err(i) => self.patches.insert(i, (best.0 as TokenId, refined_weight)),
                }
                pending.apm = Some((lookup, best.0 as TokenId));
            }
        }
        Mixture {
            dense,
            dense_sum,
            dense_weight,
            uniform_weight,
            patches: &self.patches,
        }
    }

    /// Starts a prediction for `lane`: what the update that follows needs to know, cleared.
    fn begin(&mut self, lane: usize, lm_used: bool, mixture: bool) {
        let pending = &mut self.pending;
        pending.lane = Some(lane);
        pending.lm_used = lm_used;
        pending.mixture = mixture;
        pending.sparse.clear();
        pending.entries.clear();
        pending.weights = [0.0; MAX_COMPONENTS];
        pending.lm_scale = 0.0;
        pending.unigram_scale = 0.0;
        pending.floor = 0.0;
        pending.apm = None;
    }

    /// The part of a prediction both forms share: the sparse components (n-gram orders, the match model) and
    /// every component's mixing weight, from the LM's summary (`None` on a skipped position).
    fn mix_components(&mut self, lane: usize, lm: Option<LmSummary>) -> Components {
        let (group_index, member) = self.member(lane);
        let group = &self.groups[group_index];
        let pending = &mut self.pending;
        let lm_top = lm.map_or(0.0, |lm| lm.top);
        // Sparse components: n-gram orders (low to high), then the match model.
        let order = usize::from(self.config.ngram_order);
        // The highest order seen: its context's count and its most frequent follower.
        let (mut top_order, mut top_count, mut top_best) = (0, 0, None);
        if let Some(ngram) = &group.ngram {
            pending.located = ngram.locate(&self.recent[lane]);
            for k in 1..=order {
                if let Some(stats) = ngram.stats(&pending.located, k) {
                    top_order = k;
                    top_count = stats.total;
                    top_best = stats.tokens.first().copied();
                    let start = pending.entries.len();
                    let scale = 1.0 / stats.total as f32;
                    pending.entries.extend(
                        stats
                            .tokens
                            .iter()
                            .zip(stats.counts)
                            .map(|(&t, &c)| (t, f32::from(c) * scale)),
                    );
                    pending.sparse.push(Sparse {
                        component: k,
                        range: start..pending.entries.len(),
                        count_total: stats.total,
                    });
                }
            }
        }
        let match_component = order + 1;
        let prediction = group.matcher.as_ref().and_then(|m| m.predict(member));
        if let Some(prediction) = prediction {
            let start = pending.entries.len();
            pending.entries.push((prediction.token, 1.0));
            pending.sparse.push(Sparse {
                component: match_component,
                range: start..start + 1,
                count_total: 0,
            });
        }

        match self.config.mixer {
            MixerKind::Context | MixerKind::MultiContext => {
                let lm_bucket = if lm.is_none() {
                    LM_BUCKETS - 1
                } else if lm_top < 0.25 {
                    0
                } else if lm_top < 0.5 {
                    1
                } else if lm_top < 0.8 {
                    2
                } else {
                    3
                };
                let match_bucket = match prediction.map_or(0, |p| length_bucket(p.length)) {
                    0 => 0,
                    1 => 1,
                    2 | 3 => 2,
                    _ => 3,
                };
                let n = order + 2;
                pending.offsets[0] = ((lm_bucket * (order + 1) + top_order) * MATCH_BUCKETS + match_bucket) * n;
                let sets = weight_sets(&self.config);
                if sets.len() > 1 {
                    let lm_best = lm.and_then(|lm| lm.best);
                    let agreement = |token: Option<TokenId>| match (lm_best, token) {
                        (None, _) => 0,
                        (Some(best), Some(token)) if best == token as usize => 1,
                        _ => 2,
                    };
                    let count_bucket = match top_count {
                        0 | 1 => 0,
                        2..=3 => 1,
                        4..=7 => 2,
                        _ => 3,
                    };
                    // Hashes of the last one, two and three tokens (of as many as there are).
                    let mut recent_hashes = [0u32; 3];
                    let mut hash = 0u32;
                    for (k, &token) in self.recent[lane].iter().rev().take(3).enumerate() {
                        let spread = token.wrapping_mul(RECENT_MULTIPLIERS[k]);
                        hash = if k == 0 {
                            spread
                        } else {
                            (hash ^ spread).wrapping_mul(RECENT_MULTIPLIERS[0])
                        };
                        recent_hashes[k] = hash;
                    }
                    for k in 1..3 {
                        if self.recent[lane].len() <= k {
                            recent_hashes[k] = recent_hashes[k - 1];
                        }
                    }
                    let token_bucket = |hash: u32| (hash >> (32 - TOKEN_BUCKETS.trailing_zeros())) as usize;
                    let selected = [
                        0,
                        (top_order * COUNT_BUCKETS + count_bucket) * AGREEMENT_STATES + agreement(top_best),
                        (lm_bucket * MATCH_BUCKETS + match_bucket) * AGREEMENT_STATES
                            + agreement(prediction.map(|p| p.token)),
                        token_bucket(recent_hashes[0]),
                        token_bucket(recent_hashes[1]),
                        token_bucket(recent_hashes[2]),
                    ];
                    let mut base = sets[0] * n;
                    for s in 1..sets.len() {
                        pending.offsets[s] = base + selected[s] * n;
                        base += sets[s] * n;
                    }
                }
                let mut params = [0.0f32; MAX_COMPONENTS];
                for &offset in &pending.offsets[..sets.len()] {
                    for (sum, p) in params.iter_mut().zip(&group.mixer[offset..offset + n]) {
                        *sum += p;
                    }
                }
                let mut active = [false; MAX_COMPONENTS];
                active[0] = lm.is_some();
                for sparse in &pending.sparse {
                    active[sparse.component] = true;
                }
                let max = (0..order + 2)
                    .filter(|&i| active[i])
                    .map(|i| params[i])
                    .fold(f32::NEG_INFINITY, f32::max);
                let mut total = 0.0;
                for i in 0..order + 2 {
                    if active[i] {
                        pending.weights[i] = exp_nonpositive(params[i] - max);
                        total += pending.weights[i];
                    }
                }
                for weight in &mut pending.weights {
                    *weight /= total;
                }
                if lm.is_none() {
                    // A skipped position: reserve the estimated miss rate for a uniform floor.
                    let length = prediction.map_or(0, |p| p.length);
                    pending.floor = miss_rate(group, length).max(MIN_SKIP_FLOOR);
                }
            }
            MixerKind::Nacrith => {
                let weights = &group.mixer;
                let has_ngram = order > 0;
                let active = [lm.is_some(), has_ngram, prediction.is_some()];
                let total: f32 = (0..3).filter(|&i| active[i]).map(|i| weights[i]).sum();
                for i in 0..3 {
                    if active[i] {
                        pending.weights[i] = weights[i] / total;
                    }
                }
                if has_ngram {
                    // Nacrith's interpolation, highest order first: λ_k = n_k / (n_k + 5) of order k, the rest passed
                    // down, ending in the Laplace-smoothed unigram.
                    let mut remaining = 1.0;
                    let n_sparse = pending.sparse.len() - usize::from(prediction.is_some());
                    for sparse in pending.sparse[..n_sparse].iter().rev() {
                        let count_total = sparse.count_total as f32;
                        let lambda = count_total / (count_total + NACRITH_ESCAPE);
                        for entry in &mut pending.entries[sparse.range.clone()] {
                            entry.1 *= lambda * remaining;
                        }
                        remaining *= 1.0 - lambda;
                    }
                    pending.unigram_scale = remaining / (group.unigram_total as f32 + self.n_symbols as f32);
                }
                if prediction.is_some() {
                    let start = pending.sparse.last().expect("the match component").range.start;
                    pending.entries[start].1 = NACRITH_LZP_PROBABILITY;
                    pending.floor = (1.0 - NACRITH_LZP_PROBABILITY) / (self.n_symbols - 1) as f32;
                }
            }
        }
        Components { prediction, top_best }
    }

    /// Learns from the token actually coded at the position [`Predictor::predict`] just predicted for `lane`.
    pub fn update(&mut self, lane: usize, token: TokenId) {
        debug_assert_eq!(
            self.pending.lane,
            Some(lane),
            "update follows predict for the same lane"
        );
        self.pending.lane = None;
        if self.config.is_lm_only() {
            return;
        }
        let (group_index, member) = self.member(lane);
        let order = usize::from(self.config.ngram_order);
        let n_symbols = self.n_symbols;
        let group = &mut self.groups[group_index];
        let pending = &self.pending;
        let lm_q = if pending.lm_used {
            group.lm_probs.get(token as usize).map_or(0.0, |p| p * pending.lm_scale)
        } else {
            0.0
        };
        // Each sparse component's probability of the token.
        let mut q = [0.0f32; MAX_COMPONENTS];
        q[0] = lm_q;
        for sparse in &pending.sparse {
            if let Some(&(_, p)) = pending.entries[sparse.range.clone()].iter().find(|(t, _)| *t == token) {
                q[sparse.component] = p;
            }
        }

        let rate = f32::from(self.config.mixer_rate) / RATE_ONE;
        match self.config.mixer {
            MixerKind::Context | MixerKind::MultiContext if rate > 0.0 => {
                // p = (1 - floor)·Σ w_i q_i + floor/V (floor = 0 where the LM was used); one step of gradient
                // descent on -ln p over the softmax parameters of the bucket's weights.
                let mixed: f32 = (0..order + 2).map(|i| pending.weights[i] * q[i]).sum();
                let kept = 1.0 - pending.floor;
                let p = kept * mixed + pending.floor / n_symbols as f32;
                if p > 0.0 {
                    // Every set's selected bucket takes the same step: the gradient of the summed parameters.
                    for &offset in &pending.offsets[..weight_sets(&self.config).len()] {
                        let params = &mut group.mixer[offset..][..order + 2];
                        for i in 0..order + 2 {
                            if pending.weights[i] > 0.0 {
                                params[i] -= rate * pending.weights[i] * kept * (mixed - q[i]) / p;
                            }
                        }
                    }
                }
            }
            MixerKind::Nacrith if pending.lm_used => {
                let match_component = order + 1;
                let mut component_q = [q[0], 0.0, 0.0];
                if order > 0 {
                    let base = pending.unigram_scale * (group.unigram[token as usize] + 1) as f32;
                    component_q[1] = base + (1..=order).map(|k| q[k]).sum::<f32>();
                }
                if pending.sparse.last().is_some_and(|s| s.component == match_component) {
                    component_q[2] = if q[match_component] > 0.0 {
                        NACRITH_LZP_PROBABILITY
                    } else {
                        pending.floor
                    };
                }
                // Exponential weights over the components that predicted; they keep their share of the total,
                // so a component that sat the position out (no match) neither gains nor loses.
                let (mut before, mut after) = (0.0, 0.0);
                for ((weight, used), q) in group.mixer.iter_mut().zip(pending.weights).zip(component_q) {
                    if used > 0.0 {
                        before += *weight;
                        *weight *= libm::expf(rate * libm::logf(q.max(NACRITH_MIN_PROBABILITY)));
                        after += *weight;
                    }
                }
                if after > 0.0 {
                    for i in 0..3 {
                        if pending.weights[i] > 0.0 {
                            group.mixer[i] *= before / after;
                        }
                    }
                }
            }
            _ => {}
        }

        // The bias head: one step of gradient descent on -ln p_lm(token) over the logit biases.
        // Version 8 defers the step over every symbol to the next LM position's first pass, which reads the bias
        // anyway; the coded token's share is taken now.
        if !group.bias.is_empty() && pending.lm_used {
            let bias_rate = f32::from(self.config.bias_rate) / RATE_ONE;
            let step = bias_rate * pending.lm_scale;
            if pending.mixture {
                group.bias_step = step;
            } else {
                for (b, p) in group.bias.iter_mut().zip(&group.lm_probs) {
                    *b -= step * p;
                }
            }
            if let Some(b) = group.bias.get_mut(token as usize) {
                *b += bias_rate;
            }
        }

        if let (Some(apm), Some((lookup, best))) = (&mut group.apm, &pending.apm) {
            apm.update(lookup, token == *best, f32::from(self.config.apm_rate) / RATE_ONE);
        }
        if let Some(ngram) = &mut group.ngram {
            ngram.update(&pending.located, token);
        }
        if let Some(matcher) = &mut group.matcher {
            matcher.update(member, token);
        }
        if !group.unigram.is_empty() {
            if group.unigram_total >= 1 << 30 {
                for c in &mut group.unigram {
                    *c /= 2;
                }
                group.unigram_total = group.unigram.iter().sum();
            }
            group.unigram[token as usize % n_symbols] += 1;
            group.unigram_total += 1;
        }
        let recent = &mut self.recent[lane];
        if recent.len() == MAX_ORDER {
            recent.remove(0);
        }
        recent.push(token);
    }
}

/// The match model's estimated miss rate at this match length: (misses + 1) / (tries + 2).
fn miss_rate(group: &Group, length: usize) -> f32 {
    let (hits, tries) = group.matcher.as_ref().map_or((0, 0), |m| m.track_record(length));
    (tries - hits + 1) as f32 / (tries + 2) as f32
}

/// Buckets of each weight set a context mixer sums: the (LM confidence, top n-gram order, match length) context
/// of [`MixerKind::Context`]; for [`MixerKind::MultiContext`] also (top order, its context's count, whether its
/// most frequent follower is the LM's top token), (LM confidence, match length, whether the match's token is the
/// LM's top token) and hashes of the last token, the last two tokens and the last three tokens.
fn weight_sets(config: &PredictorConfig) -> &'static [usize] {
    // Sized for the largest order; a smaller order leaves buckets unused, never out of range.
    const CONTEXT: usize = LM_BUCKETS * (MAX_ORDER + 1) * MATCH_BUCKETS;
    const MULTI: [usize; MAX_SETS] = [
        CONTEXT,
        (MAX_ORDER + 1) * COUNT_BUCKETS * AGREEMENT_STATES,
        LM_BUCKETS * MATCH_BUCKETS * AGREEMENT_STATES,
        TOKEN_BUCKETS,
        TOKEN_BUCKETS,
        TOKEN_BUCKETS,
    ];
    match config.mixer {
        MixerKind::MultiContext => &MULTI,
        _ => &MULTI[..1],
    }
}

fn initial_mixer(config: &PredictorConfig, n_components: usize) -> Vec<f32> {
    match config.mixer {
        MixerKind::Context | MixerKind::MultiContext => {
            // The first set starts with the LM's weight near 1; the others add nothing until they learn.
            let sets = weight_sets(config);
            let first = sets[0] * n_components;
            let mut params = vec![0.0; sets.iter().sum::<usize>() * n_components];
            for bucket in params[..first].chunks_mut(n_components) {
                bucket[1..].fill(INITIAL_OTHER_WEIGHT);
            }
            params
        }
        MixerKind::Nacrith => {
            let others = usize::from(config.ngram_order > 0) + usize::from(config.match_min_len > 0);
            let other = if others == 0 {
                0.0
            } else {
                (1.0 - NACRITH_LM_WEIGHT) / others as f32
            };
            vec![
                NACRITH_LM_WEIGHT,
                if config.ngram_order > 0 { other } else { 0.0 },
                if config.match_min_len > 0 { other } else { 0.0 },
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N_SYMBOLS: usize = 300;

    fn config() -> PredictorConfig {
        PredictorConfig {
            ngram_order: 4,
            ngram_table_bits: 12,
            match_min_len: 3,
            match_table_bits: 12,
            bias_rate: 66,
            mixer: MixerKind::Context,
            mixer_rate: 1311,
            skip_miss_rate: 0,
            share_lanes: true,
            skip_gap: false,
            apm_rate: 0,
        }
    }

    /// The multi-context mixer with the adaptive probability map, and skip.
    fn multi_with_map() -> PredictorConfig {
        PredictorConfig {
            mixer: MixerKind::MultiContext,
            apm_rate: 1311,
            skip_miss_rate: 2000,
            ..config()
        }
    }

    /// Logits that depend on the position only, like a model that knows nothing of the text.
    fn logits(position: usize) -> Vec<f32> {
        (0..N_SYMBOLS - 4)
            .map(|t| ((t * 7 + position * 13) % 29) as f32 * 0.1)
            .collect()
    }

    /// Runs `tokens` through one lane; returns the code length of each token in bits and a hash of every weight.
    fn run(config: PredictorConfig, tokens: &[TokenId]) -> (Vec<f64>, u64) {
        let mut predictor = Predictor::new(config, 2, N_SYMBOLS).unwrap();
        let mut out = Vec::new();
        let mut costs = Vec::new();
        let mut hash = 0xCBF2_9CE4_8422_2325u64;
        for (i, &token) in tokens.iter().enumerate() {
            let logits = logits(i);
            let lm = predictor.wants_lm(0).then_some(logits.as_slice());
            predictor.predict(0, lm, &mut out);
            assert_eq!(out.len(), N_SYMBOLS);
            assert!(
                out.iter().all(|w| w.is_finite() && *w >= 0.0),
                "{config:?} at {i}: {:?}",
                &out[..8]
            );
            let total: f64 = out.iter().map(|&w| f64::from(w)).sum();
            costs.push(-(f64::from(out[token as usize]) / total).log2());
            for w in &out {
                hash = (hash ^ u64::from(w.to_bits())).wrapping_mul(0x100_0000_01B3);
            }
            predictor.update(0, token);
        }
        (costs, hash)
    }

    fn repeated_text() -> Vec<TokenId> {
        let phrase: Vec<TokenId> = (0..40).map(|i| (i * 37 % 250) as TokenId).collect();
        phrase.iter().cycle().take(400).copied().collect()
    }

    #[test]
    fn lm_only_is_the_plain_softmax() {
        let mut predictor = Predictor::new(PredictorConfig::LM_ONLY, 1, N_SYMBOLS).unwrap();
        let (mut got, mut want) = (Vec::new(), Vec::new());
        predictor.predict(0, Some(&logits(3)), &mut got);
        softmax_into(&logits(3), &mut want);
        want.resize(N_SYMBOLS, 0.0);
        assert_eq!(got, want);
    }

    #[test]
    fn every_mixer_learns_a_repeat() {
        let text = repeated_text();
        let (lm_only, _) = run(PredictorConfig::LM_ONLY, &text);
        let lm_bits: f64 = lm_only.iter().sum();
        for config in [
            config(),
            PredictorConfig {
                share_lanes: false,
                ..config()
            },
            PredictorConfig {
                mixer: MixerKind::Nacrith,
                mixer_rate: 1 << 15,
                ..config()
            },
            PredictorConfig {
                skip_miss_rate: 2000,
                ..config()
            },
            multi_with_map(),
        ] {
            let (costs, _) = run(config, &text);
            let first: f64 = costs[..40].iter().sum();
            let last: f64 = costs[360..].iter().sum();
            assert!(
                last < first / 4.0,
                "{config:?}: {first} bits on the first pass, {last} on the last"
            );
            assert!(costs.iter().sum::<f64>() < lm_bits / 2.0, "{config:?}");
        }
    }

    #[test]
    fn skip_uses_the_lm_less_on_repeats() {
        let text = repeated_text();
        let mut predictor = Predictor::new(
            PredictorConfig {
                skip_miss_rate: 2000,
                ..config()
            },
            1,
            N_SYMBOLS,
        )
        .unwrap();
        let mut out = Vec::new();
        let mut skipped = 0;
        for (i, &token) in text.iter().enumerate() {
            let wants = predictor.wants_lm(0);
            skipped += usize::from(!wants);
            predictor.predict(0, wants.then_some(logits(i).as_slice()), &mut out);
            predictor.update(0, token);
        }
        assert!(skipped > 250, "{skipped} of 400 positions skipped");
    }

    /// Writes a mixture out as the weight of every symbol.
    fn expand(mixture: &Mixture<'_>, n_symbols: usize) -> Vec<f64> {
        let mut out: Vec<f64> = (0..n_symbols)
            .map(|t| {
                let dense = mixture.dense.map_or(0.0, |d| f64::from(d[t]));
                mixture.dense_weight * dense + mixture.uniform_weight
            })
            .collect();
        for &(t, w) in mixture.patches {
            out[t as usize] = w;
        }
        out
    }

    /// Runs `tokens` through one lane as format version 8 does; returns each token's code length in bits, a hash
    /// of every mixture, and the largest difference between a mixture's probabilities and `predict`'s for the
    /// same history (both predictors learn the same tokens).
    fn run_mixtures(config: PredictorConfig, tokens: &[TokenId]) -> (Vec<f64>, u64, f64) {
        let mut predictor = Predictor::new(config, 2, N_SYMBOLS).unwrap();
        let mut dense = Predictor::new(config, 2, N_SYMBOLS).unwrap();
        let (mut costs, mut largest_difference) = (Vec::new(), 0.0f64);
        let mut out = Vec::new();
        let mut hash = 0xCBF2_9CE4_8422_2325u64;
        for (i, &token) in tokens.iter().enumerate() {
            let logits = logits(i);
            let lm = predictor.wants_lm(0).then_some(logits.as_slice());
            assert_eq!(lm.is_some(), dense.wants_lm(0), "{config:?} at {i}");
            let mixture = predictor.predict_mixture(0, lm);
            let weights = expand(&mixture, N_SYMBOLS);
            for v in [mixture.dense_sum, mixture.dense_weight, mixture.uniform_weight]
                .into_iter()
                .chain(mixture.patches.iter().map(|p| p.1))
            {
                hash = (hash ^ v.to_bits()).wrapping_mul(0x100_0000_01B3);
            }
            assert!(weights.iter().all(|w| w.is_finite() && *w >= 0.0), "{config:?} at {i}");
            let total: f64 = weights.iter().sum();
            costs.push(-(weights[token as usize] / total).log2());
            dense.predict(0, lm, &mut out);
            let dense_total: f64 = out.iter().map(|&w| f64::from(w)).sum();
            for (w, &o) in weights.iter().zip(&out) {
                largest_difference = largest_difference.max((w / total - f64::from(o) / dense_total).abs());
            }
            predictor.update(0, token);
            dense.update(0, token);
        }
        (costs, hash, largest_difference)
    }

    #[test]
    fn mixtures_are_the_dense_predictions_described() {
        let text = repeated_text();
        for config in [
            PredictorConfig::LM_ONLY,
            config(),
            PredictorConfig {
                skip_miss_rate: 2000,
                ..config()
            },
            multi_with_map(),
        ] {
            let (costs, _, difference) = run_mixtures(config, &text);
            assert!(difference < 1e-4, "{config:?}: probabilities differ by {difference}");
            if config != PredictorConfig::LM_ONLY {
                let first: f64 = costs[..40].iter().sum();
                let last: f64 = costs[360..].iter().sum();
                assert!(last < first / 4.0, "{config:?}: {first} bits, then {last}");
            }
        }
    }

    /// Pins the version-8 mixtures bit for bit: a change here changes every version-8 file.
    #[test]
    fn pinned_mixture_bits() {
        let text = repeated_text();
        let hashes: Vec<u64> = [config(), multi_with_map()]
            .into_iter()
            .map(|c| run_mixtures(c, &text[..200]).1)
            .collect();
        assert_eq!(hashes, PINNED_MIXTURES);
    }

    const PINNED_MIXTURES: [u64; 2] = [5759126785309029143, 13376923296320036175];

    /// Pins the mixed weights bit for bit: a change here changes every compressed file.
    #[test]
    fn pinned_bits() {
        let text = repeated_text();
        let hashes: Vec<u64> = [
            config(),
            PredictorConfig {
                mixer: MixerKind::Nacrith,
                mixer_rate: 1 << 15,
                ..config()
            },
            PredictorConfig {
                skip_miss_rate: 2000,
                ..config()
            },
            multi_with_map(),
        ]
        .into_iter()
        .map(|c| run(c, &text[..200]).1)
        .collect();
        assert_eq!(hashes, PINNED);
    }

    const PINNED: [u64; 4] = [
        1628496505549691353,
        7314035969041380099,
        16036242651889624609,
        612372487762280599,
    ];
}
