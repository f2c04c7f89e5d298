#!/usr/bin/env bash
# Ablation of the online predictors on one file: bits per byte of every predictor set, from ONE pass of the model.
#
# Usage: benches/ablation.sh FILE [RECORD]
#
# The first run records the model's predictions over FILE at the default lanes (NACZ_LM_RECORD: a slow pass,
# about 40 tokens/s on 2 cores); every row then replays that record (NACZ_LM_REPLAY) and takes seconds. Replayed
# logits are exact for the coded token (except each chunk's last) and keep the top 128 logits of every position,
# so the sizes match real runs to within a few bytes (alice29: 20,907 replayed vs 20,912 real for `lm`).
# Rows: the LM alone, each predictor added alone, all of them with each mixer, Nacrith's setting (LM + n-gram,
# its mixer), and the defaults (which add confidence skip; without context gaps, see below) with and without lanes
# sharing what they learn.
set -euo pipefail
file=${1:?usage: benches/ablation.sh FILE [RECORD]}
record=${2:-${TMPDIR:-/tmp}/nacz-ablation-$(basename "$file").rec}
nacz=${NACZ:-$(dirname "$0")/../target/release/nacz}
if [ ! -s "$record" ]; then
    echo "recording the model's predictions over $file into $record (slow, once)" >&2
    NACZ_LM_RECORD=$record "$nacz" compress -q --predictors lm -c "$file" >/dev/null
fi
size=$(wc -c <"$file")
row() {
    local bytes
    bytes=$(NACZ_LM_REPLAY=$record "$nacz" compress -q "$@" -c "$file" | wc -c)
    printf '%-52s %9d  %.4f\n' "$*" "$bytes" "$(echo "8 * $bytes / $size" | bc -l)"
}
printf '%-52s %9s  %s\n' "$(basename "$file") ($size bytes)" bytes bpb
row --predictors lm
row --predictors lm+ngram
row --predictors lm+match
row --predictors lm+bias
row --predictors lm+ngram+match+bias
row --predictors lm+ngram+match+bias --mixer nacrith
row --predictors lm+ngram --mixer nacrith
# Context gaps change what the model sees, which a record cannot replay: the skip rows feed every token.
row --predictors all --no-skip-gap
row --predictors all --no-skip-gap --no-share
