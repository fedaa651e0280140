# test_ppl_books.sh - `evalctl ppl` over several books (PG19 as published: a
# directory of .txt/.txt.gz books, or JSONL with a "text" field): every book is
# windowed alone, each is reported, and the total is the token-weighted mean.
. tests/lib.sh
E=$EVALCTL
M=models/smollm2-135m-instruct.gguf
D=tests/fixtures/pg19/dir
$E ppl --model $M --file $D --ctx 128 >"$T_TMP/all" 2>"$T_TMP/err" && t_ok || t_bad "ppl dir: $(cat "$T_TMP/err")"
[ "$(grep -c '^book: ' "$T_TMP/all")" -eq 2 ] && t_ok || t_bad "two book lines expected: $(cat "$T_TMP/all")"
grep -q '^books: 2$' "$T_TMP/all" && t_ok || t_bad "books: 2"
# each book alone gives the figures its book line reports
sum_scored=0
for f in a_book.txt b_book.txt.gz; do
    one=$($E ppl --model $M --file $D/$f --ctx 128)
    nll=$(echo "$one" | sed -n 's/^nll: //p')
    sc=$(echo "$one" | sed -n 's/^scored: //p')
    title=${f%%.*}
    grep -q "^book: .* scored=$sc nll=$nll .*title=$title\$" "$T_TMP/all" && t_ok ||
        t_bad "$f alone: scored=$sc nll=$nll not in $(grep "title=$title" "$T_TMP/all")"
    sum_scored=$((sum_scored + sc))
done
grep -q "^scored: $sum_scored\$" "$T_TMP/all" && t_ok || t_bad "total scored != $sum_scored"
# JSONL books, plain and gzipped, give the same result
# (a book without a title is named by where it was read, so titles are left out)
a=$($E ppl --model $M --file tests/fixtures/pg19/books.jsonl --ctx 96 | sed 's/ title=.*//')
b=$($E ppl --model $M --file tests/fixtures/pg19/books.jsonl.gz --ctx 96 | sed 's/ title=.*//')
[ -n "$a" ] && [ "$a" = "$b" ] && t_ok || t_bad "jsonl vs jsonl.gz differ"
echo "$a" | grep -q '^variant: dense$' && t_ok || t_bad "variant header"
# --longppl: the plain figures unchanged, plus LongPPL's key tokens (ppl.h), the
# same tokens under every variant (they are the dense model's), a variant's
# mean over them its own
$E ppl --model $M --file $D --ctx 128 --longppl 16 >"$T_TMP/lp" 2>"$T_TMP/err" && t_ok || t_bad "longppl: $(cat "$T_TMP/err")"
[ "$(grep -v '^longppl\|^key_' "$T_TMP/lp" | sed 's/ key_tokens=.* title=/ title=/')" = "$(cat "$T_TMP/all")" ] && t_ok ||
    t_bad "--longppl changed the plain figures"
# each book's key tokens add up to the total
bk=$(sed -n 's/^book: .* key_tokens=\([0-9]*\) .*/\1/p' "$T_TMP/lp" | awk '{ s += $1 } END { print s + 0 }')
[ "$bk" = "$(sed -n 's/^key_tokens: //p' "$T_TMP/lp")" ] && t_ok || t_bad "book key tokens $bk != total: $(cat "$T_TMP/lp")"
grep -q '^longppl_trunc: 16$' "$T_TMP/lp" && grep -q '^longppl_slide: 4$' "$T_TMP/lp" && t_ok || t_bad "trunc 16, slide 16/4"
keys=$(sed -n 's/^key_tokens: //p' "$T_TMP/lp")
[ -n "$keys" ] && [ "$keys" -gt 0 ] && t_ok || t_bad "no key tokens in $(cat "$T_TMP/lp")"
kn=$(sed -n 's/^key_nll: //p' "$T_TMP/lp"); lp=$(sed -n 's/^longppl: //p' "$T_TMP/lp")
awk -v n="$kn" -v p="$lp" 'BEGIN { e = exp(n); exit !((e - p) ^ 2 < (1e-3 * p) ^ 2) }' && t_ok || t_bad "key_nll $kn vs longppl $lp"
$E ppl --model $M --file $D --ctx 128 --longppl 16 --variant streaming --sink 4 --window 16 >"$T_TMP/lps" 2>"$T_TMP/err" &&
    t_ok || t_bad "longppl streaming: $(cat "$T_TMP/err")"
grep -q "^key_tokens: $keys\$" "$T_TMP/lps" && t_ok || t_bad "streaming: other key tokens: $(grep key_tokens "$T_TMP/lps")"
[ "$(sed -n 's/^key_nll: //p' "$T_TMP/lps")" != "$kn" ] && t_ok || t_bad "streaming's key tokens scored as dense"
$E ppl --model $M --file $D --ctx 128 --slide 4 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "--slide without --longppl must exit 2"
expect_error "longppl >= ctx" "shorter than --ctx 128" $E ppl --model $M --file $D --ctx 128 --longppl 128
printf '{"title": "x"}\n' >"$T_TMP/bad.jsonl"
expect_error "book without text" "bad.jsonl:1: .*text" $E ppl --model $M --file "$T_TMP/bad.jsonl" --ctx 64
expect_error "missing file" "no/such.txt: no such file" $E ppl --model $M --file no/such.txt --ctx 64
done_tests ppl_books
