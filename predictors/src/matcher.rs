//! The match model (LZP over tokens): when the last `min_len` tokens occurred before, predict the token that
//! followed them then, and keep following that earlier occurrence while it keeps being right.
//!
//! One hash table maps a context of `min_len` tokens to the latest place it occurred, in any lane of the group
//! (`2^table_bits` entries of 4 bytes). Each lane keeps its own token history (4 bytes per token), so a lane can
//! follow a match into another lane's history as far as that lane has got. The track record of predictions, per
//! match-length bucket, gives the confidence the mixer and the skip policy use.

use crate::TokenId;

/// Tokens compared backwards when a match is found, which bounds the work per lookup.
const MAX_VERIFY: usize = 48;

/// Match lengths are bucketed for the track record: 0 (no match), then by powers of two up to 32+.
pub const LENGTH_BUCKETS: usize = 8;

/// Where a lane's current match points: the history it follows and the index of the predicted token.
#[derive(Clone, Copy, Debug, Default)]
struct Pointer {
    lane: usize,
    index: usize,
}

#[derive(Clone, Debug, Default)]
struct LaneMatch {
    history: Vec<TokenId>,
    pointer: Option<Pointer>,
    /// Tokens matched so far behind the pointer.
    length: usize,
}

/// A prediction: the token and the length of the match behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchPrediction {
    pub token: TokenId,
    pub length: usize,
}

/// The match model of one group of lanes.
pub struct MatchModel {
    table: Vec<u32>,
    bits: u32,
    min_len: usize,
    lanes: Vec<LaneMatch>,
    /// Per length bucket: predictions that came true, and all predictions (halved together when large).
    hits: [u32; LENGTH_BUCKETS],
    tries: [u32; LENGTH_BUCKETS],
}

/// The track-record bucket of a match length.
pub fn length_bucket(length: usize) -> usize {
    match length {
        0 => 0,
        1..=3 => 1,
        4..=7 => 2,
        8..=11 => 3,
        12..=15 => 4,
        16..=23 => 5,
        24..=31 => 6,
        _ => 7,
    }
}

impl MatchModel {
    /// `lanes` lanes whose histories are searched, a table of `2^bits` entries, contexts of `min_len` tokens.
    pub fn new(lanes: usize, min_len: usize, bits: u32) -> Self {
        assert!(lanes <= 256 && min_len >= 1 && (8..=26).contains(&bits));
        Self {
            table: vec![0; 1 << bits],
            bits,
            min_len,
            lanes: vec![LaneMatch::default(); lanes],
            hits: [0; LENGTH_BUCKETS],
            tries: [0; LENGTH_BUCKETS],
        }
    }

    /// Bytes held now (the table plus the histories).
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 4 + self.lanes.iter().map(|l| l.history.capacity() * 4).sum::<usize>()
    }

    pub fn clear(&mut self) {
        self.table.fill(0);
        for lane in &mut self.lanes {
            *lane = LaneMatch::default();
        }
        self.hits = [0; LENGTH_BUCKETS];
        self.tries = [0; LENGTH_BUCKETS];
    }

    /// The token the current match of `lane` predicts, if any.
    pub fn predict(&self, lane: usize) -> Option<MatchPrediction> {
        let state = &self.lanes[lane];
        let pointer = state.pointer?;
        let token = *self.lanes[pointer.lane].history.get(pointer.index)?;
        Some(MatchPrediction {
            token,
            length: state.length,
        })
    }

    /// The share of past predictions at this match length that came true, as (hits, tries).
    pub fn track_record(&self, length: usize) -> (u32, u32) {
        let bucket = length_bucket(length);
        (self.hits[bucket], self.tries[bucket])
    }

    /// Appends `token` to the lane's history, scores the prediction made for it and finds the next match.
    pub fn update(&mut self, lane: usize, token: TokenId) {
        if let Some(predicted) = self.predict(lane) {
            let bucket = length_bucket(predicted.length);
            if self.tries[bucket] >= 1 << 16 {
                self.tries[bucket] /= 2;
                self.hits[bucket] /= 2;
            }
            self.tries[bucket] += 1;
            let state = &mut self.lanes[lane];
            let pointer = state.pointer.as_mut().expect("a prediction has a pointer");
            if predicted.token == token {
                self.hits[bucket] += 1;
                pointer.index += 1;
                state.length += 1;
            } else {
                state.pointer = None;
                state.length = 0;
            }
        } else {
            let state = &mut self.lanes[lane];
            state.pointer = None;
            state.length = 0;
        }
        self.lanes[lane].history.push(token);
        let history = &self.lanes[lane].history;
        if history.len() < self.min_len {
            return;
        }
        let slot = self.slot(&history[history.len() - self.min_len..]);
        let here = history.len();
        if self.lanes[lane].pointer.is_none() {
            if let Some(found) = self.decode_entry(self.table[slot]) {
                self.try_match(lane, found);
            }
        }
        // Positions from 2^24 − 1 on are not indexed (frames are far smaller), so an entry never overflows.
        if here < (1 << 24) - 1 {
            self.table[slot] = ((lane as u32) << 24 | here as u32) + 1;
        }
    }

    fn slot(&self, context: &[TokenId]) -> usize {
        let mut hash: u64 = 0x1357_9BDF_2468_ACE1;
        for &token in context {
            hash = (hash ^ u64::from(token)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        ((hash ^ (hash >> 31)) >> (64 - self.bits)) as usize
    }

    fn decode_entry(&self, entry: u32) -> Option<Pointer> {
        let entry = entry.checked_sub(1)?;
        let lane = (entry >> 24) as usize;
        (lane < self.lanes.len()).then_some(Pointer {
            lane,
            index: (entry & 0xFF_FFFF) as usize,
        })
    }

    /// Verifies a candidate by comparing backwards and adopts it if at least `min_len` tokens agree.
    fn try_match(&mut self, lane: usize, candidate: Pointer) {
        let source = &self.lanes[candidate.lane].history;
        let own = &self.lanes[lane].history;
        if candidate.index > source.len() || (candidate.lane == lane && candidate.index >= own.len()) {
            return;
        }
        let length = source[..candidate.index]
            .iter()
            .rev()
            .zip(own.iter().rev())
            .take(MAX_VERIFY)
            .take_while(|(a, b)| a == b)
            .count();
        if length >= self.min_len {
            let state = &mut self.lanes[lane];
            state.pointer = Some(candidate);
            state.length = length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_repeat_and_learns_its_track_record() {
        let mut model = MatchModel::new(1, 3, 12);
        let text: Vec<TokenId> = (0..20).chain(0..20).collect();
        let mut predicted = Vec::new();
        for &token in &text {
            predicted.push(model.predict(0));
            model.update(0, token);
        }
        // The repeat is recognised after its first 3 tokens, then every token is predicted.
        assert!(predicted[..23].iter().all(Option::is_none));
        for (i, prediction) in predicted.iter().enumerate().skip(23) {
            let prediction = prediction.expect("inside the repeat");
            assert_eq!(prediction.token, text[i]);
            assert_eq!(prediction.length, i - 20);
        }
        let (hits, tries) = model.track_record(8);
        assert_eq!(hits, tries);
        assert!(tries > 0);
    }

    #[test]
    fn a_lane_follows_another_lanes_history_only_as_far_as_it_goes() {
        let mut model = MatchModel::new(2, 2, 12);
        for token in [5, 6, 7, 8] {
            model.update(0, token);
        }
        model.update(1, 5);
        model.update(1, 6);
        assert_eq!(model.predict(1).map(|p| p.token), Some(7));
        model.update(1, 7);
        model.update(1, 8);
        assert_eq!(model.predict(1), None, "lane 0 has nothing after 8 yet");
        model.update(0, 9);
        assert_eq!(model.predict(1).map(|p| p.token), Some(9));
    }

    #[test]
    fn a_miss_drops_the_match() {
        let mut model = MatchModel::new(1, 2, 12);
        for token in [1, 2, 3, 1, 2] {
            model.update(0, token);
        }
        assert_eq!(model.predict(0).map(|p| p.token), Some(3));
        model.update(0, 9);
        assert_eq!(model.predict(0), None);
        assert_eq!(model.track_record(2), (0, 1));
    }
}
