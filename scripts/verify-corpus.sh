#!/usr/bin/env bash
# Byte-exact round trip of every corpus file with the release binary, printing sizes, bits per byte and speed.
# usage: scripts/verify-corpus.sh [--max-bytes N] [DIR_OR_FILE...] [-- extra nacz compress options]
# The default is $NACZ_CORPUS, then corpus/data, then ../shared/corpus. Files larger than --max-bytes are listed
# as skipped (a CPU-only run of the whole corpus takes hours: the model runs once per token).
set -euo pipefail
cd "$(dirname "$0")/.."
max=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-bytes) max=$2; shift 2 ;;
    --) shift; break ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for d in "${NACZ_CORPUS:-}" corpus/data ../shared/corpus; do
    if [ -n "$d" ] && [ -d "$d" ]; then targets=("$d"); break; fi
  done
fi
[ ${#targets[@]} -gt 0 ] || { echo "verify-corpus: no corpus directory (run corpus/fetch.sh or pass one)" >&2; exit 2; }
nacz=./target/release/nacz
[ -x "$nacz" ] || cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-28s %10s %10s %8s %8s %s\n' file bytes nacz bpb seconds result
while IFS= read -r f; do
  size=$(stat -c %s "$f")
  name=$(basename "$(dirname "$f")")/$(basename "$f")
  if [ "$max" -gt 0 ] && [ "$size" -gt "$max" ]; then
    printf '%-28s %10s %10s %8s %8s %s\n' "$name" "$size" - - - skipped
    continue
  fi
  start=$(date +%s.%N)
  if "$nacz" compress -q -c "$@" "$f" >"$work/c.nacz" && "$nacz" decompress -q -c "$work/c.nacz" >"$work/d" && cmp -s "$f" "$work/d"; then
    result=OK
  else
    result=FAILED
    failed=1
  fi
  secs=$(python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$start")
  csize=$(stat -c %s "$work/c.nacz" 2>/dev/null || echo 0)
  bpb=$(python3 -c "import sys; o,c=int(sys.argv[1]),int(sys.argv[2]); print(f'{8*c/o:.3f}' if o else '-')" "$size" "$csize")
  printf '%-28s %10s %10s %8s %8s %s\n' "$name" "$size" "$csize" "$bpb" "$secs" "$result"
done < <(find "${targets[@]}" -type f ! -name '*.md' ! -name SHA256SUMS | sort)
exit $failed
