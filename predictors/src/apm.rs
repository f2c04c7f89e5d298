//! The final adaptive probability map (secondary estimation): re-estimates the probability of the mixture's most
//! probable token from that probability and a small context, learned online from whether that token came true.
//!
//! The map holds, per context, a piecewise-linear function on the logistic scale (nodes every 0.5 from −8 to 8,
//! starting as the identity). A lookup interpolates between the two nodes around the input; the update moves both
//! toward the outcome in proportion to their share. All arithmetic is `f32` in a fixed order with `libm`, so the
//! result is bit-identical everywhere.

/// Nodes per context: stretch(p) from −[`STRETCH_LIMIT`] to +[`STRETCH_LIMIT`] in steps of 0.5.
const NODES: usize = 33;
const STRETCH_LIMIT: f32 = 8.0;

/// Where a lookup fell, kept for the update that follows it.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapLookup {
    node: usize,
    /// Share of the upper node, in [0, 1).
    upper_share: f32,
    /// The re-estimated probability.
    pub probability: f32,
}

/// One learned map per context.
pub struct ProbabilityMap {
    nodes: Vec<f32>,
    contexts: usize,
}

fn squash(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

fn stretch(p: f32) -> f32 {
    libm::logf(p / (1.0 - p))
}

impl ProbabilityMap {
    pub fn new(contexts: usize) -> Self {
        let mut map = Self {
            nodes: vec![0.0; contexts * NODES],
            contexts,
        };
        map.clear();
        map
    }

    /// Back to the identity map in every context.
    pub fn clear(&mut self) {
        for context in self.nodes.chunks_mut(NODES) {
            for (j, node) in context.iter_mut().enumerate() {
                *node = squash(j as f32 * (2.0 * STRETCH_LIMIT / (NODES - 1) as f32) - STRETCH_LIMIT);
            }
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.nodes.len() * 4
    }

    /// The map's estimate for probability `p` (0 < p < 1) in `context`.
    pub fn lookup(&self, context: usize, p: f32) -> MapLookup {
        debug_assert!(context < self.contexts);
        let position = (stretch(p).clamp(-STRETCH_LIMIT, STRETCH_LIMIT) + STRETCH_LIMIT)
            * ((NODES - 1) as f32 / (2.0 * STRETCH_LIMIT));
        let lower = (position as usize).min(NODES - 2);
        let upper_share = (position - lower as f32).clamp(0.0, 1.0);
        let node = context * NODES + lower;
        MapLookup {
            node,
            upper_share,
            probability: self.nodes[node] * (1.0 - upper_share) + self.nodes[node + 1] * upper_share,
        }
    }

    /// Moves the two nodes behind `lookup` toward the outcome at `rate`.
    pub fn update(&mut self, lookup: &MapLookup, came_true: bool, rate: f32) {
        let target = if came_true { 1.0 } else { 0.0 };
        for (node, share) in [
            (lookup.node, 1.0 - lookup.upper_share),
            (lookup.node + 1, lookup.upper_share),
        ] {
            let value = &mut self.nodes[node];
            *value += rate * share * (target - *value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_as_the_identity_and_learns_overconfidence() {
        let mut map = ProbabilityMap::new(2);
        for p in [0.01, 0.3, 0.5, 0.9, 0.999] {
            let got = map.lookup(1, p).probability;
            assert!((got - p).abs() < 0.02 * p.max(0.1), "{p} -> {got}");
        }
        // The input says 0.9, the outcome comes true half the time: the map learns about 0.5 in that context only.
        for i in 0..2000 {
            let lookup = map.lookup(0, 0.9);
            map.update(&lookup, i % 2 == 0, 0.02);
        }
        assert!((map.lookup(0, 0.9).probability - 0.5).abs() < 0.05);
        assert!((map.lookup(1, 0.9).probability - 0.9).abs() < 0.02);
    }
}
