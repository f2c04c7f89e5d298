#!/usr/bin/env bash
# Writes the reproducible mixed tarball of issue #19: three text members of Canterbury (fields.c, grammar.lsp,
# xargs.1), one HTML page (cp.html) and two binaries (sum, obj1), 112,640 bytes, the same on every machine.
#   benches/make-issue-tar.sh OUT.tar      then e.g. benches/binary.sh OUT.tar
set -euo pipefail
out=$(realpath "$1")
corpus=$(realpath "${NACZ_CORPUS:-$(dirname "$0")/../../shared/corpus}")
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp "$corpus"/canterbury/{fields.c,grammar.lsp,xargs.1,cp.html,sum} "$corpus"/calgary/obj1 "$src"/
cd "$src"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out" fields.c grammar.lsp xargs.1 cp.html sum obj1
