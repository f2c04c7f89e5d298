#!/usr/bin/env bash
# nacz under load, side by side in one run (2 cores): the time of a small compression alone, beside another
# compression, beside a second copy of itself and beside a busy loop; four files through GNU parallel -j1 and
# -j2; the default settings alone against a BASELINE binary; and the peak memory of decoding a forged header.
#
#   benches/under-load.sh [NACZ] [BASELINE]     (defaults: target/release/nacz, no baseline)
#
# Inputs are cut from ../shared/corpus (or $NACZ_CORPUS). Nothing else should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=()
nacz=$(realpath "${1:-target/release/nacz}")
baseline=${2:-}
corpus=${NACZ_CORPUS:-../shared/corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT
head -c 3000 "$corpus/canterbury/alice29.txt" >"$work/small.txt"
head -c 20000 "$corpus/canterbury/alice29.txt" >"$work/large.txt"
for f in asyoulik.txt lcet10.txt plrabn12.txt alice29.txt; do
    tail -c 3000 "$corpus/canterbury/$f" >"$work/four-$f"
done

# Wall seconds of a command, output discarded.
secs() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
ratio() { echo "scale=2; $1 / $2" | bc; }
row() { printf '| %s | %.1f s | %s× |\n' "$1" "$2" "$(ratio "$2" "$alone")"; }

small() { "$nacz" compress -q -c "$work/small.txt"; }

echo "| run | time | vs alone |"
echo "|---|---:|---:|"
alone=$(secs small)
row "3 kB alone" "$alone"

secs "$nacz" compress -q -c "$work/large.txt" >"$work/large.time" &
sleep 2
row "3 kB while the 20 kB file compresses" "$(secs small)"
wait
printf '| (the 20 kB file meanwhile) | %.1f s | |\n' "$(cat "$work/large.time")"

secs small >"$work/a.time" &
secs small >"$work/b.time" &
wait
row "two 3 kB at once (first)" "$(cat "$work/a.time")"
row "two 3 kB at once (second)" "$(cat "$work/b.time")"

yes >/dev/null &
busy=$!
sleep 1
row "3 kB beside \`yes > /dev/null\`" "$(secs small)"
kill "$busy"
wait "$busy" 2>/dev/null || true

if command -v parallel >/dev/null; then
    j1=$(secs parallel -j1 "$nacz" compress -q -c {} ::: "$work"/four-*)
    j2=$(secs parallel -j2 "$nacz" compress -q -c {} ::: "$work"/four-*)
    printf '| four 3 kB files, parallel -j1 | %.1f s | |\n| four 3 kB files, parallel -j2 | %.1f s | %s× of -j1 |\n' \
        "$j1" "$j2" "$(ratio "$j2" "$j1")"
else
    echo "| parallel -j1/-j2 | GNU parallel not installed | |"
fi

if [ -n "$baseline" ]; then
    new=$(secs "$nacz" compress -q -c "$work/large.txt")
    old=$(secs "$baseline" compress -q -c "$work/large.txt")
    printf '| 20 kB alone, this build | %.1f s | |\n| 20 kB alone, baseline | %.1f s | %s× of this build |\n' \
        "$new" "$old" "$(ratio "$old" "$new")"
fi

# A real file whose header is rewritten (checksum recomputed) to sessions a decoder must refuse before allocating:
# beyond the format's limits, and within them but beyond the default memory limit.
"$nacz" compress -q -c "$work/small.txt" >"$work/small.nacz"
for session in "256 1048576" "256 1024"; do
    set -- $session
    cargo run -q --release --example forge_header -- "$work/small.nacz" "$work/forged.nacz" "$1" "$2"
    /usr/bin/time -f '%M' -o "$work/rss" "$nacz" decompress -c "$work/forged.nacz" >/dev/null 2>"$work/err" || true
    printf '| forged header: %s lanes × %s-token window | refused, peak RSS %s MB | |\n' "$1" "$2" \
        "$(($(tail -n 1 "$work/rss") / 1024))"
    messages+=("$1 × $2: $(head -n 1 "$work/err")")
done
echo
printf '%s\n' "${messages[@]}"
