//! The chunk plan: how a frame's tokens are cut into chunks, one per lane. A pure function of header fields and
//! the token count, so the decoder recomputes it and checks the chunk table against it.

/// Token counts of the chunks of a frame of `total` tokens, with at most `lanes` chunks of at least
/// `min_chunk_tokens` each (one chunk if the frame is shorter). Sizes differ by at most one, longer ones first.
pub fn chunk_sizes(total: u64, lanes: u32, min_chunk_tokens: u32) -> Vec<u64> {
    let by_size = total / u64::from(min_chunk_tokens.max(1));
    let n = by_size.clamp(1, u64::from(lanes.max(1)));
    let (base, extra) = (total / n, total % n);
    (0..n).map(|i| base + u64::from(i < extra)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_frames_use_one_lane_and_long_ones_all() {
        assert_eq!(chunk_sizes(0, 8, 100), vec![0]);
        assert_eq!(chunk_sizes(150, 8, 100), vec![150]);
        assert_eq!(chunk_sizes(250, 8, 100), vec![125, 125]);
        assert_eq!(chunk_sizes(10_001, 4, 100), vec![2501, 2500, 2500, 2500]);
    }

    proptest::proptest! {
        #[test]
        fn the_plan_keeps_its_promises(total in 0u64..2_000_000, lanes in 1u32..=256, min in 1u32..20_000) {
            let sizes = chunk_sizes(total, lanes, min);
            proptest::prop_assert!(!sizes.is_empty() && sizes.len() <= lanes as usize);
            proptest::prop_assert_eq!(sizes.iter().sum::<u64>(), total);
            // Longer chunks first, differing by at most one token.
            proptest::prop_assert!(sizes.windows(2).all(|w| w[0] == w[1] || w[0] == w[1] + 1));
            if sizes.len() > 1 {
                proptest::prop_assert!(sizes.iter().all(|&s| s >= u64::from(min)));
            }
        }
    }

    #[test]
    fn sizes_sum_to_total() {
        for total in [0, 1, 7, 1000, 123_457] {
            for lanes in 1..10 {
                assert_eq!(chunk_sizes(total, lanes, 37).iter().sum::<u64>(), total);
            }
        }
    }
}
