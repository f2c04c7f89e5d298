#!/usr/bin/env bash
# End-to-end comparison: nacz against gzip -9, bzip2 -9, xz -9e and zstd -19 on the given files (default: alice29
# from the corpus), printing compressed bytes and bits per byte side by side, plus nacz's wall time.
# usage: benches/vs-classical.sh [FILE...] [-- extra nacz compress options]
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
if [ ${#files[@]} -eq 0 ]; then
  for d in "${NACZ_CORPUS:-}" corpus/data ../shared/corpus; do
    if [ -n "$d" ] && [ -f "$d/canterbury/alice29.txt" ]; then files=("$d/canterbury/alice29.txt"); break; fi
  done
fi
nacz=./target/release/nacz
bpb() { python3 -c "import sys; print(f'{8*int(sys.argv[2])/int(sys.argv[1]):.3f}')" "$1" "$2"; }
printf '%-16s %10s' file bytes
for t in gzip-9 bzip2-9 xz-9e zstd-19 nacz; do printf ' %14s' "$t"; done
printf ' %10s\n' "nacz s"
for f in "${files[@]}"; do
  n=$(stat -c %s "$f")
  printf '%-16s %10s' "$(basename "$f")" "$n"
  for cmd in "gzip -9 -c" "bzip2 -9 -c" "xz -9e -c" "zstd -19 -q -c"; do
    tool=${cmd%% *}
    if command -v "$tool" >/dev/null; then
      c=$($cmd "$f" | wc -c)
      printf ' %7s (%s)' "$c" "$(bpb "$n" "$c")"
    else
      printf ' %14s' "n/a"
    fi
  done
  start=$(date +%s.%N)
  c=$("$nacz" compress -q -c "$@" "$f" | wc -c)
  secs=$(python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.0f}')" "$start")
  printf ' %7s (%s) %10s\n' "$c" "$(bpb "$n" "$c")" "$secs"
done
