#!/usr/bin/env bash
# make-texts.sh - public-domain English text for haystacks, perplexity and
# benchmarks, made from Debian's bible-kjv package (the King James Version):
#   data/texts/kjv.txt            the whole text, one verse per line, no verse labels
#   data/texts/kjv-books/NN.txt   the same cut into 66 books (PG19-style "books")
# The files are generated, not committed (data/texts/ is git-ignored).
set -eu
cd "$(dirname "$0")/.."
command -v bible >/dev/null || { echo "make-texts: the 'bible' program is missing: run make deps (package bible-kjv)" >&2; exit 1; }
out=data/texts
[ -s $out/kjv.txt ] && [ -s $out/kjv-books/66.txt ] && exit 0
mkdir -p $out/kjv-books
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
bible -f gen1:1-rev22:21 >"$tmp"
# each line is "<Book><chapter>:<verse> text"; a new book starts where the label changes
awk -v dir=$out/kjv-books '
    { label = $1; sub(/[0-9]+:[0-9]+$/, "", label)
      if (label != prev) { n++; prev = label; file = sprintf("%s/%02d.txt", dir, n) }
      sub(/^[^ ]+ /, ""); print > file; print }' "$tmp" >$out/kjv.txt
echo "make-texts: $out/kjv.txt ($(wc -c <$out/kjv.txt) bytes, $(ls $out/kjv-books | wc -l) books)"
