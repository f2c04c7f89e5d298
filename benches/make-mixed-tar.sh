#!/usr/bin/env bash
# Writes a mixed tarball like a user's: 40 kB of alice29, a 40 kB JSON log, 20 kB of random bytes, 20 kB of
# zeros (133,120 bytes; the random member differs run to run).   usage: benches/make-mixed-tar.sh OUT.tar
set -euo pipefail
out=$(realpath "$1")
corpus=$(realpath "${NACZ_CORPUS:-$(dirname "$0")/../../shared/corpus}")
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cd "$src"
head -c 40000 "$corpus/canterbury/alice29.txt" >story.txt
python3 - <<'PY'
import json, random
random.seed(7)
with open("log.json", "w") as f:
    for i in range(400):
        f.write(json.dumps({"ts": 1700000000 + i * 17, "level": random.choice(["info", "warn", "error"]),
                            "msg": "request served", "ms": random.randint(1, 900),
                            "path": "/api/v1/items/%d" % random.randint(1, 5000)}) + "\n")
PY
head -c 20000 /dev/urandom >random.bin
head -c 20000 /dev/zero >zeros.bin
tar cf "$out" story.txt log.json random.bin zeros.bin
