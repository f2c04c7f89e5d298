#!/usr/bin/env bash
# Quick start, part 1: install what the build needs (if missing), fetch and verify the model, build the release
# binary (with its bash completion and man pages where it can install them), and run a demo round trip that
# prints the ratio. Safe to run again; skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v clang >/dev/null || need_apt+=(clang)
[ -n "$(find /usr/lib /usr/lib64 -name 'libclang*.so*' 2>/dev/null | head -n 1)" ] || need_apt+=(libclang-dev)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

bash models/fetch.sh smollm2-135m >/dev/null
cargo build --release --locked

# Optional: bash completion and man pages where those system folders can be written; never fails the setup.
install_docs() {
  local completions=/usr/share/bash-completion/completions man1=/usr/local/share/man/man1
  if [ -d "$completions" ] && [ -w "$completions" ]; then
    ./target/release/nacz completions bash >"$completions/nacz" && echo "setup: bash completion in $completions/nacz" >&2
  fi
  if mkdir -p "$man1" 2>/dev/null && [ -w "$man1" ]; then
    ./target/release/nacz man --dir "$man1" && echo "setup: man pages in $man1 (man nacz)" >&2
  fi
}
install_docs || echo "setup: completions and man pages not installed (optional)" >&2

# A 3,000-byte sample keeps the demo under a minute on 2 cores (the model runs once per token).
sample=tests/golden/alice-head.txt
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
cp "$sample" "$demo/sample.txt"
echo "setup: demo round trip on $sample ($(wc -c <"$sample") bytes)" >&2
./target/release/nacz compress -v "$demo/sample.txt"
./target/release/nacz decompress -c "$demo/sample.txt.nacz" | cmp - "$demo/sample.txt"
orig=$(wc -c <"$demo/sample.txt")
comp=$(wc -c <"$demo/sample.txt.nacz")
python3 -c "import sys; o,c=int(sys.argv[1]),int(sys.argv[2]); print(f'demo: {o} -> {c} bytes, ratio {o/c:.2f}, {8*c/o:.3f} bits/byte, round trip OK')" "$orig" "$comp"
