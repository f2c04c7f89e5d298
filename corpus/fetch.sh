#!/usr/bin/env bash
# Fetch the benchmark corpora listed in corpus/manifest.tsv and verify every file's sha256.
#
# Usage: corpus/fetch.sh [--from DIR] [--dest DIR]
#
#   --from DIR   copy from a local copy laid out as DIR/SET/FILE (default: $NACZ_CORPUS)
#   --dest DIR   where to put the files, as DEST/SET/FILE (default: corpus/data)
#
# Without --from (and without NACZ_CORPUS) the archives named in the manifest's url column are
# downloaded (curl, or python3 urllib) and the needed files are extracted with python3's tarfile /
# zipfile. enwikN (N <= 8) is the first 10^N bytes of enwik8. Files already in DEST with the right
# sha256 are kept. Exits non-zero, naming each file, if any file is missing or has a wrong sha256.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=$script_dir/manifest.tsv

usage() {
    cat >&2 <<EOF
Usage: $0 [--from DIR] [--dest DIR]

  --from DIR   copy files from DIR/SET/FILE instead of downloading (default: \$NACZ_CORPUS)
  --dest DIR   destination, files go to DIR/SET/FILE (default: $script_dir/data)
EOF
}
die() {
    echo "corpus/fetch.sh: error: $*" >&2
    exit 1
}
log() { echo "corpus/fetch.sh: $*" >&2; }

from=${NACZ_CORPUS:-}
dest=$script_dir/data
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --from)
            [ $# -ge 2 ] || die "--from needs an argument"
            from=$2
            shift 2
            ;;
        --from=*)
            from=${1#--from=}
            shift
            ;;
        --dest)
            [ $# -ge 2 ] || die "--dest needs an argument"
            dest=$2
            shift 2
            ;;
        --dest=*)
            dest=${1#--dest=}
            shift
            ;;
        *)
            usage
            die "unknown argument: $1"
            ;;
    esac
done
[ -n "$dest" ] || die "--dest is empty"
[ -r "$manifest" ] || die "cannot read manifest $manifest"
if [ -n "$from" ] && [ ! -d "$from" ]; then
    die "source directory $from (--from / NACZ_CORPUS) does not exist"
fi

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
file_size() { wc -c <"$1" | tr -d ' '; }

# ok PATH BYTES SHA256 -> 0 when the file exists with that size and sha256
ok() {
    [ -f "$1" ] && [ "$(file_size "$1")" = "$2" ] && [ "$(file_sha256 "$1")" = "$3" ]
}

# --- read the manifest ----------------------------------------------------------------------
sets=() files=() sizes=() shas=() urls=()
while IFS=$'\x1f' read -r set file bytes sha url; do
    [ -n "$set" ] || continue
    for field in file bytes sha url; do
        [ -n "${!field}" ] || die "manifest line for '$set/$file': empty '$field' column"
    done
    sets+=("$set") files+=("$file") sizes+=("$bytes") shas+=("$sha") urls+=("$url")
done < <(awk -F'\t' -v OFS=$'\x1f' 'NR > 1 && NF > 0 { sub(/\r$/, ""); $1 = $1; print }' "$manifest")
[ "${#sets[@]}" -gt 0 ] || die "manifest $manifest lists no files"

mkdir -p -- "$dest" || die "cannot create $dest"

work=""
cleanup() {
    if [ -n "$work" ]; then rm -rf -- "$work"; fi
    rm -f -- "$dest"/*/.*.part 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- which files are still needed? ------------------------------------------------------------
need=()
for i in "${!sets[@]}"; do
    target=$dest/${sets[$i]}/${files[$i]}
    if ok "$target" "${sizes[$i]}" "${shas[$i]}"; then
        continue
    fi
    need+=("$i")
done
have=$((${#sets[@]} - ${#need[@]}))
[ "$have" -eq 0 ] || log "$have file(s) already present and verified in $dest"

# install_part I ORIGIN: verify DEST/SET/.FILE.part for manifest row I and rename it into place;
# on a mismatch, delete it and report it, naming ORIGIN (source file or archive URL).
declare -A reported=()
install_part() {
    local i=$1 origin=$2
    local rel=${sets[$i]}/${files[$i]}
    local tmp=$dest/${sets[$i]}/.${files[$i]}.part
    if ok "$tmp" "${sizes[$i]}" "${shas[$i]}"; then
        mv -f -- "$tmp" "$dest/$rel"
    else
        log "MISMATCH $rel (from $origin): size $(file_size "$tmp") sha256 $(file_sha256 "$tmp"), expected size ${sizes[$i]} sha256 ${shas[$i]}"
        rm -f -- "$tmp"
        reported[$i]=1
    fi
}

download() { # URL OUT
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 3 --connect-timeout 30 -sS -o "$2" -- "$1"
    else
        python3 - "$1" "$2" <<'EOF'
import shutil, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"User-Agent": "nacz-corpus-fetch"})
with urllib.request.urlopen(req, timeout=60) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)
EOF
    fi
}

if [ "${#need[@]}" -gt 0 ]; then
    if [ -n "$from" ]; then
        # --- copy from a local copy ------------------------------------------------------------
        for i in "${need[@]}"; do
            rel=${sets[$i]}/${files[$i]}
            src=$from/$rel
            if [ ! -f "$src" ]; then
                log "not found: $src"
                continue
            fi
            mkdir -p -- "$dest/${sets[$i]}"
            tmp=$dest/${sets[$i]}/.${files[$i]}.part
            cp -- "$src" "$tmp" || die "cannot copy $src to $tmp"
            install_part "$i" "$src"
        done
    else
        # --- download the archives and extract ------------------------------------------------
        work=$(mktemp -d "${TMPDIR:-/tmp}/nacz-corpus.XXXXXX")
        declare -A done_url=()
        for i in "${need[@]}"; do
            url=${urls[$i]}
            [ -z "${done_url[$url]:-}" ] || continue
            done_url[$url]=1
            archive=$work/${url##*/}
            log "downloading $url"
            if ! download "$url" "$archive"; then
                log "download failed: $url"
                continue
            fi
            # Arguments for the extractor: MEMBER_BASENAME OUT_PATH BYTE_LIMIT (0 = whole file).
            args=()
            for j in "${need[@]}"; do
                [ "${urls[$j]}" = "$url" ] || continue
                member=${files[$j]} limit=0
                if [[ ${sets[$j]} == enwik && ${files[$j]} =~ ^enwik([0-8])$ ]]; then
                    member=enwik8
                    limit=$((10 ** BASH_REMATCH[1]))
                fi
                mkdir -p -- "$dest/${sets[$j]}"
                args+=("$member" "$dest/${sets[$j]}/.${files[$j]}.part" "$limit")
            done
            log "extracting from ${url##*/}"
            python3 - "$archive" "${args[@]}" <<'EOF' || log "extraction from $archive failed"
import os, sys, tarfile, zipfile

archive, rest = sys.argv[1], sys.argv[2:]
wanted = list(zip(rest[0::3], rest[1::3], (int(x) for x in rest[2::3])))

def copy(src, out_path, limit):
    left = limit if limit > 0 else None
    with open(out_path, "wb") as out:
        while left is None or left > 0:
            chunk = src.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            out.write(chunk)
            if left is not None:
                left -= len(chunk)

def pick(names, base):
    # Match by base name, whatever folder the archive puts the file in; prefer the shortest path.
    hits = sorted((n for n in names if n.rstrip("/").split("/")[-1] == base), key=len)
    return hits[0] if hits else None

missing = []
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z:
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        for base, out_path, limit in wanted:
            m = pick(names, base)
            if m is None:
                missing.append(base)
                continue
            with z.open(m) as src:
                copy(src, out_path, limit)
elif tarfile.is_tarfile(archive):
    with tarfile.open(archive, "r:*") as t:
        members = {m.name: m for m in t.getmembers() if m.isfile()}
        for base, out_path, limit in wanted:
            m = pick(list(members), base)
            if m is None:
                missing.append(base)
                continue
            with t.extractfile(members[m]) as src:
                copy(src, out_path, limit)
else:
    sys.exit(f"corpus/fetch.sh: error: {archive} is neither a zip nor a tar archive")
for base in missing:
    print(f"corpus/fetch.sh: {os.path.basename(archive)} has no member named {base}", file=sys.stderr)
EOF
            for j in "${need[@]}"; do
                [ "${urls[$j]}" = "$url" ] || continue
                if [ -f "$dest/${sets[$j]}/.${files[$j]}.part" ]; then install_part "$j" "$url"; fi
            done
            rm -f -- "$archive"
        done
    fi
fi

# --- verify everything ------------------------------------------------------------------------
bad=0
for i in "${need[@]}"; do
    rel=${sets[$i]}/${files[$i]}
    target=$dest/$rel
    if [ -n "${reported[$i]:-}" ]; then
        bad=$((bad + 1))
    elif [ ! -f "$target" ]; then
        log "MISSING  $rel"
        bad=$((bad + 1))
    elif ! ok "$target" "${sizes[$i]}" "${shas[$i]}"; then
        log "MISMATCH $rel: size $(file_size "$target") sha256 $(file_sha256 "$target"), expected size ${sizes[$i]} sha256 ${shas[$i]}"
        bad=$((bad + 1))
    fi
done
if [ "$bad" -gt 0 ]; then
    die "$bad of ${#sets[@]} file(s) missing or with a wrong sha256 (see above)"
fi
log "all ${#sets[@]} files verified in $dest"
echo "$dest"
