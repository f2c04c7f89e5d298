#!/usr/bin/env bash
# Ablation of the online predictors on one file: bits per byte of every predictor set, from ONE pass of the model.
#
# Usage: benches/ablation.sh FILE [RECORD]
#
# The first run records the model's predictions over FILE at the default lanes (NACZ_LM_RECORD: a slow pass,
# 40-70 tokens/s on 2 cores, its speed reported on the first line); every row then replays that record
# (NACZ_LM_REPLAY) and takes seconds. Replayed logits are exact for the coded token (except each chunk's last)
# and keep the top 128 logits of every position, so the sizes match real runs to within a few bytes (alice29:
# 20,907 replayed vs 20,912 real for `lm`).
# Rows: the LM alone, each predictor added alone, all of them with each mixer (the single-set context mixer, the
# multi-context mixer, the latter with the adaptive probability map, Nacrith's), Nacrith's setting (LM + n-gram,
# its mixer), and the defaults (which add confidence skip; without context gaps, see below) with and without lanes
# sharing what they learn.
set -euo pipefail
file=${1:?usage: benches/ablation.sh FILE [RECORD]}
record=${2:-${TMPDIR:-/tmp}/nacz-ablation-$(basename "$file").rec}
nacz=${NACZ:-$(dirname "$0")/../target/release/nacz}
if [ ! -s "$record" ]; then
    echo "recording the model's predictions over $file into $record (slow, once)" >&2
    NACZ_LM_RECORD=$record "$nacz" compress -v --predictors lm -c "$file" 2>"$record.log" >/dev/null
fi
# The recording pass is a real run of the LM alone: its speed is the `lm` row's.
[ -s "$record.log" ] && grep -o '[0-9]* tokens in .*tok/s)' "$record.log" | sed 's/^/LM pass (real run): /' || true

size=$(wc -c <"$file")
# Each row also shows how long its replay took: the predictors' and coder's work without the model (model
# loading and tokenizing included), which adds to the LM pass's time in a real run.
row() {
    local bytes start
    start=$(date +%s.%N)
    bytes=$(NACZ_LM_REPLAY=$record "$nacz" compress -q "$@" -c "$file" | wc -c)
    printf '%-52s %9d  %.4f  %6.1f\n' "$*" "$bytes" "$(echo "8 * $bytes / $size" | bc -l)" \
        "$(echo "$(date +%s.%N) - $start" | bc -l)"
}
printf '%-52s %9s  %-6s  %s\n' "$(basename "$file") ($size bytes)" bytes bpb "replay s"
row --predictors lm
row --predictors lm+ngram
row --predictors lm+match
row --predictors lm+bias
row --predictors lm+ngram+match+bias --mixer context
row --predictors lm+ngram+match+bias
row --predictors lm+ngram+match+bias+apm
row --predictors lm+ngram+match+bias --mixer nacrith
row --predictors lm+ngram --mixer nacrith
# Context gaps change what the model sees, which a record cannot replay: the skip rows feed every token.
row --predictors all --no-skip-gap
row --predictors all --no-skip-gap --no-share
