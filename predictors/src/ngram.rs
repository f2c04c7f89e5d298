//! Token n-gram statistics: for each order k (1..=max), the tokens that followed the last k tokens, with counts.
//!
//! All orders share one hashed table of fixed size (`2^table_bits` buckets of [`SLOTS`] followers each), so memory
//! is bounded whatever the input: 48 bytes per bucket, 192 MiB at the default 2^22 buckets. A bucket belongs to one
//! context at a time (a 32-bit check tells contexts apart); a new context that hashes onto it takes it over. Within
//! a bucket the least counted follower gives way to a new one. Everything is integer arithmetic, so predictions are
//! bit-identical everywhere.

use crate::TokenId;

/// Followers kept per context.
pub const SLOTS: usize = 7;

/// Highest order a table supports.
pub const MAX_ORDER: usize = 8;

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Bucket {
    /// Identifies the context owning the bucket; 0 when empty.
    check: u32,
    tokens: [TokenId; SLOTS],
    counts: [u16; SLOTS],
    /// Sum of `counts`.
    total: u16,
}

/// What one order knows about the current context: its followers and their counts.
#[derive(Clone, Copy, Debug)]
pub struct OrderStats<'a> {
    pub tokens: &'a [TokenId],
    pub counts: &'a [u16],
    /// Sum of `counts` (≥ 1).
    pub total: u32,
}

/// Buckets located for one context history, so an update touches the buckets the prediction read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Located {
    slots: [(usize, u32); MAX_ORDER],
    orders: usize,
}

/// The shared n-gram table.
pub struct NgramTable {
    buckets: Vec<Bucket>,
    bits: u32,
    max_order: usize,
}

impl NgramTable {
    /// A table of `2^bits` buckets for orders `1..=max_order`.
    pub fn new(max_order: usize, bits: u32) -> Self {
        assert!((1..=MAX_ORDER).contains(&max_order) && (8..=26).contains(&bits));
        Self {
            buckets: vec![Bucket::default(); 1 << bits],
            bits,
            max_order,
        }
    }

    /// Bytes held by the table.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
    }

    pub fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
    }

    /// Finds the bucket of every order whose context `history` (oldest first) is long enough for.
    pub fn locate(&self, history: &[TokenId]) -> Located {
        let mut located = Located::default();
        let mut hash: u64 = 0x243F_6A88_85A3_08D3;
        for (k, &token) in history.iter().rev().take(self.max_order).enumerate() {
            hash = (hash ^ u64::from(token))
                .wrapping_add(k as u64 + 1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mixed = hash ^ (hash >> 29);
            let index = (mixed >> (64 - self.bits)) as usize;
            let check = (mixed as u32) | 1;
            located.slots[k] = (index, check);
            located.orders = k + 1;
        }
        located
    }

    /// The statistics of order `k` (1-based) if its context has been seen.
    pub fn stats(&self, located: &Located, order: usize) -> Option<OrderStats<'_>> {
        if order == 0 || order > located.orders {
            return None;
        }
        let (index, check) = located.slots[order - 1];
        let bucket = &self.buckets[index];
        if bucket.check != check || bucket.total == 0 {
            return None;
        }
        let used = bucket.counts.iter().take_while(|&&c| c > 0).count();
        Some(OrderStats {
            tokens: &bucket.tokens[..used],
            counts: &bucket.counts[..used],
            total: u32::from(bucket.total),
        })
    }

    /// Counts `token` as the follower of every located context.
    pub fn update(&mut self, located: &Located, token: TokenId) {
        for &(index, check) in &located.slots[..located.orders] {
            let bucket = &mut self.buckets[index];
            if bucket.check != check {
                *bucket = Bucket {
                    check,
                    ..Bucket::default()
                };
            }
            bucket.add(token);
        }
    }
}

impl Bucket {
    fn add(&mut self, token: TokenId) {
        let used = self.counts.iter().take_while(|&&c| c > 0).count();
        let slot = match self.tokens[..used].iter().position(|&t| t == token) {
            Some(slot) => slot,
            None if used < SLOTS => {
                self.tokens[used] = token;
                used
            }
            None => {
                // Replace the least counted follower (the last one among equals: the most recently added).
                let mut slot = 0;
                for i in 1..SLOTS {
                    if self.counts[i] <= self.counts[slot] {
                        slot = i;
                    }
                }
                self.total -= self.counts[slot];
                self.counts[slot] = 0;
                self.tokens[slot] = token;
                slot
            }
        };
        if self.total >= 4000 {
            // Halve, keeping every follower at ≥ 1, so recent statistics dominate and counts stay small.
            self.total = 0;
            for count in &mut self.counts[..used.max(slot + 1)] {
                *count = (*count).div_ceil(2);
                self.total += *count;
            }
        }
        self.counts[slot] += 1;
        self.total += 1;
        // Keep the followers in descending count order (stable), so `stats` sees the most likely first.
        let mut i = slot;
        while i > 0 && self.counts[i - 1] < self.counts[i] {
            self.counts.swap(i - 1, i);
            self.tokens.swap(i - 1, i);
            i -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_followers_per_order() {
        let mut table = NgramTable::new(3, 12);
        let text: Vec<TokenId> = [1, 2, 3, 1, 2, 4, 1, 2, 3].to_vec();
        for i in 1..text.len() {
            let located = table.locate(&text[..i]);
            table.update(&located, text[i]);
        }
        let located = table.locate(&[9, 1, 2]);
        let order1 = table.stats(&located, 1).unwrap();
        assert_eq!(
            (order1.tokens, order1.counts, order1.total),
            (&[3, 4][..], &[2, 1][..], 3)
        );
        let order2 = table.stats(&located, 2).unwrap();
        assert_eq!(order2.total, 3);
        assert!(table.stats(&located, 3).is_none(), "9 1 2 never occurred");
    }

    #[test]
    fn a_full_bucket_replaces_its_weakest_follower_and_halves() {
        let mut bucket = Bucket {
            check: 1,
            ..Bucket::default()
        };
        for token in 0..SLOTS as TokenId {
            bucket.add(token);
        }
        bucket.add(0);
        bucket.add(100);
        assert!(bucket.tokens.contains(&100));
        assert_eq!(bucket.tokens[0], 0);
        assert_eq!(bucket.total, bucket.counts.iter().sum::<u16>());
        for _ in 0..10_000 {
            bucket.add(5);
        }
        assert!(bucket.total <= 4000);
        assert_eq!(bucket.tokens[0], 5);
        assert_eq!(bucket.total, bucket.counts.iter().sum::<u16>());
    }

    #[test]
    fn bucket_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Bucket>(), 48);
    }
}
