#!/usr/bin/env bash
# fetch-words.sh - the word lists RULER's generators draw from, into data/words/
# (git-ignored; evalctl gen ruler --words DIR reads them):
#   nounlist.txt adjectivelist.txt verblist.txt  wonderwords 2.2.0's assets (MIT,
#       LICENSE.wonderwords beside them), the version RULER's scripts ran with:
#       niah keys "adjective-noun", cwe's words
#   english.txt  the all-lowercase words of Debian's wamerican (SCOWL), cwe's
#       words beyond the 8169 of wonderwords (RULER's own english_words.json
#       is a Git LFS file of unstated origin); skipped, with a note, where
#       neither apt-get download nor /usr/share/dict/american-english is there
# A no-op when the files are there.
set -eu
cd "$(dirname "$0")/.."
out=data/words
WW_VERSION=2.2.0
WW_SHA256=65fc665f1f5590e98f6d9259414ea036bf1b6dd83e51aa6ba44473c99ca92da1
[ -s $out/nounlist.txt ] && [ -s $out/adjectivelist.txt ] && [ -s $out/verblist.txt ] && [ -s $out/english.txt ] && exit 0
mkdir -p $out
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! [ -s $out/nounlist.txt ] || ! [ -s $out/adjectivelist.txt ] || ! [ -s $out/verblist.txt ]; then
    if ! python3 -m pip download -q --no-deps --no-cache-dir -d "$tmp" "wonderwords==$WW_VERSION" >"$tmp/log" 2>&1; then
        tail -n 3 "$tmp/log" >&2
        echo "fetch-words: could not download wonderwords==$WW_VERSION from PyPI. Offline: copy its" \
             "wonderwords/assets/{noun,adjective,verb}list.txt into $out/." >&2
        exit 1
    fi
    whl=$tmp/wonderwords-$WW_VERSION-py3-none-any.whl
    [ "$(sha256sum "$whl" | cut -d' ' -f1)" = "$WW_SHA256" ] ||
        { echo "fetch-words: $whl does not have the recorded sha256 $WW_SHA256" >&2; exit 1; }
    for f in nounlist adjectivelist verblist; do
        unzip -p "$whl" "wonderwords/assets/$f.txt" >"$tmp/$f.txt"
        mv "$tmp/$f.txt" "$out/$f.txt"
    done
    unzip -p "$whl" "wonderwords-$WW_VERSION.dist-info/LICENSE" >"$out/LICENSE.wonderwords"
fi

if ! [ -s $out/english.txt ]; then
    dict=
    if (cd "$tmp" && apt-get download wamerican >/dev/null 2>&1); then
        dpkg-deb -x "$tmp"/wamerican_*.deb "$tmp/x" && dict=$tmp/x/usr/share/dict/american-english
    elif [ -s /usr/share/dict/american-english ]; then
        dict=/usr/share/dict/american-english
    fi
    if [ -n "$dict" ]; then
        LC_ALL=C grep -E '^[a-z]+$' "$dict" | LC_ALL=C sort -u >"$tmp/english.txt"
        mv "$tmp/english.txt" $out/english.txt
    else
        echo "fetch-words: no wamerican word list (apt-get download wamerican failed); cwe beyond" \
             "8169 distinct words (about 100K tokens) will need $out/english.txt" >&2
    fi
fi
echo "fetch-words: $out: $(cat $out/nounlist.txt $out/adjectivelist.txt $out/verblist.txt | wc -l) wonderwords" \
     "words, $(cat $out/english.txt 2>/dev/null | wc -l) english.txt words"
