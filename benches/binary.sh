#!/usr/bin/env bash
# Binary and non-LM inputs, side by side with gzip -9, bzip2 -9, zstd -19 and xz -9e in one run: nacz's bytes, its
# compress and decompress times, a byte-exact round trip, and whether it keeps the guarantee "at most xz -9e + 0.5%
# + 64 bytes".
#   benches/binary.sh [FILE...]    (default: the corpus's binary files and E.coli)
set -euo pipefail
cd "$(dirname "$0")/.."
nacz=$(realpath "${NACZ:-target/release/nacz}")
corpus=${NACZ_CORPUS:-../shared/corpus}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=("$corpus"/canterbury/{kennedy.xls,ptt5,sum} "$corpus"/calgary/{obj1,obj2,geo,pic} "$corpus"/large/E.coli)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secs() { python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$1"; }
echo "| file | bytes | gzip -9 | bzip2 -9 | zstd -19 | xz -9e | nacz | vs xz | compress | decompress | round trip | ≤ xz + 0.5% + 64 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
for f in "${files[@]}"; do
    n=$(stat -c %s "$f")
    g=$(gzip -9 -c "$f" | wc -c)
    b=$(bzip2 -9 -c "$f" | wc -c)
    z=$(zstd -19 -q -c "$f" | wc -c)
    x=$(xz -9e -c "$f" | wc -c)
    start=$(date +%s.%N)
    "$nacz" compress -q -c "$f" >"$work/c.nacz"
    ct=$(secs "$start")
    start=$(date +%s.%N)
    "$nacz" decompress -q -c "$work/c.nacz" >"$work/d"
    dt=$(secs "$start")
    c=$(stat -c %s "$work/c.nacz")
    rt=$(cmp -s "$work/d" "$f" && echo identical || echo DIFFERENT)
    ok=$(python3 -c "import sys; c,x=int(sys.argv[1]),int(sys.argv[2]); print('yes' if c <= x*1.005+64 else 'NO')" "$c" "$x")
    vs=$(python3 -c "import sys; print(f'{100*(int(sys.argv[1])/int(sys.argv[2])-1):+.1f}%')" "$c" "$x")
    echo "| $(basename "$f") | $n | $g | $b | $z | $x | $c | $vs | ${ct} s | ${dt} s | $rt | $ok |"
done
