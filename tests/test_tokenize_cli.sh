#!/usr/bin/env bash
# test_tokenize_cli.sh - `evalctl tokenize` through the binary: ids, decode and
# chat templates byte for byte as transformers gives them (tests/fixtures/tok/cli,
# written by tools/gen_tok_fixtures.py), and one clear error line for bad input.
. "$(dirname "$0")/lib.sh"
FX=tests/fixtures/tok
CLI=$FX/cli

# --- the oracle cases: NN.args holds the model and the flags, NN.in the input
for args in "$CLI"/*.args; do
    n=${args%.args}
    model=$(sed -n 1p "$args")
    flags=$(sed -n 2p "$args")
    if [ ! -e "$model" ]; then
        echo "  skipped $(basename "$n"): $model is absent (make model)"
        continue
    fi
    if [[ " $flags " == *" --messages "* ]]; then
        # shellcheck disable=SC2086
        set -- ${flags/--messages/--messages $n.in}
    else
        # shellcheck disable=SC2086
        set -- $flags --file "$n.in"
    fi
    if "$EVALCTL" tokenize --model "$model" "$@" >"$T_TMP/got" 2>"$T_TMP/err" && cmp -s "$T_TMP/got" "$n.out"; then
        t_ok
    else
        t_bad "$(basename "$n"): tokenize --model $model $*: $(head -c 200 "$T_TMP/err") got '$(head -c 200 "$T_TMP/got")'"
    fi
done

# --- the same input through --text and standard input
expect_output "--text" "$(cat $CLI/03.out)" "$EVALCTL" tokenize --model $FX/llama3 --text "$(cat $CLI/03.in)"
expect_output "stdin" "$(cat $CLI/03.out)" bash -c "\"$EVALCTL\" tokenize --model $FX/llama3 < $CLI/03.in"
expect_output "--decode of a [list]" "$(cat $CLI/06.out)" "$EVALCTL" tokenize --model $FX/qwen2 --decode \
    --text "[$(sed 's/ /, /g' $CLI/06.in)]"
expect_output "--count" "$(wc -w <$CLI/03.out)" "$EVALCTL" tokenize --model $FX/llama3 --count --file $CLI/03.in
expect_output "tokenizer.json path" "$(cat $CLI/03.out)" "$EVALCTL" tokenize --model $FX/llama3/tokenizer.json \
    --file $CLI/03.in
expect_output "empty text" "" "$EVALCTL" tokenize --model $FX/qwen2 --text ""
# a config with model_max_length as a 31-digit integer (as transformers v4 wrote it)
mkdir -p "$T_TMP/bigint"
cp $FX/qwen2/tokenizer.json "$T_TMP/bigint/"
sed 's/}$/,"model_max_length":1000000000000000019884624838656}/' $FX/qwen2/tokenizer_config.json \
    >"$T_TMP/bigint/tokenizer_config.json"
expect_output "huge model_max_length" "$(cat $CLI/10.out)" "$EVALCTL" tokenize --model "$T_TMP/bigint" \
    --messages $CLI/10.in --no-generation-prompt
# encode then decode gives the text back
round=$("$EVALCTL" tokenize --model $FX/smollm2 --no-special --file $CLI/02.in |
    "$EVALCTL" tokenize --model $FX/smollm2 --decode)
if [ "$round" == "$(cat $CLI/02.in)" ]; then t_ok; else t_bad "round trip: '$round'"; fi

# --- bad input: exit 1, one line naming the problem
tj() { printf '%s' "$2" >"$T_TMP/$1.json"; }
tj ok '{"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}'
# the ids tokenizers gives for this file: Tokenizer.from_str(...).encode("aba b").ids == [2, 2]
# (no unk token: the space is dropped), and "baab" -> [1, 0, 2]
expect_output "hand-written tokenizer" "2 2" "$EVALCTL" tokenize --model "$T_TMP/ok.json" --text "aba b"
expect_output "hand-written tokenizer 2" "1 0 2" "$EVALCTL" tokenize --model "$T_TMP/ok.json" --text "baab"
tj trunc '{"version":"1.0","model":{"type":"BPE","vocab":{"a":0'
expect_error "malformed JSON" "trunc.json: invalid JSON: .*at byte [0-9]+" \
    "$EVALCTL" tokenize --model "$T_TMP/trunc.json" --text x
tj pre '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Whitespace"}}'
expect_error "unknown pre_tokenizer" "pre.json: unsupported pre_tokenizer type 'Whitespace'" \
    "$EVALCTL" tokenize --model "$T_TMP/pre.json" --text x
tj norm '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":{"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"Lowercase"}]}}'
expect_error "unknown normalizer" "norm.json: unsupported normalizer type 'Lowercase'" \
    "$EVALCTL" tokenize --model "$T_TMP/norm.json" --text x
tj dec '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"WordPiece","prefix":"##"}}'
expect_error "unknown decoder" "dec.json: unsupported decoder type 'WordPiece'" \
    "$EVALCTL" tokenize --model "$T_TMP/dec.json" --text x
tj post '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"post_processor":{"type":"Mystery"}}'
expect_error "unknown post_processor" "post.json: unsupported post_processor type 'Mystery'" \
    "$EVALCTL" tokenize --model "$T_TMP/post.json" --text x
tj uni '{"model":{"type":"Unigram","vocab":[["a",0.0]]}}'
expect_error "unknown model" "uni.json: unsupported model type 'Unigram'" \
    "$EVALCTL" tokenize --model "$T_TMP/uni.json" --text x
tj merge '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b","a zz"]}}'
expect_error "merge with an unknown token" "merge.json: merge 1 names unknown token 'zz'" \
    "$EVALCTL" tokenize --model "$T_TMP/merge.json" --text x
tj merge2 '{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[["a","b"]]}}'
expect_error "merge making an unknown token" "merge2.json: merge 0 names unknown token 'ab'" \
    "$EVALCTL" tokenize --model "$T_TMP/merge2.json" --text x
tj regex '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated","invert":false}}'
expect_error "bad regex" "regex.json: bad regex /\(a/" "$EVALCTL" tokenize --model "$T_TMP/regex.json" --text x
tj ver '{"version":"9.9","model":{"type":"BPE","vocab":{},"merges":[]}}'
expect_error "unknown version" "ver.json: unknown tokenizer.json version '9.9'" \
    "$EVALCTL" tokenize --model "$T_TMP/ver.json" --text x
expect_error "invalid UTF-8 text" "not valid UTF-8 \(at byte 3\)" \
    "$EVALCTL" tokenize --model $FX/llama3 --text $'abc\xff'
printf 'caf\xc3' >"$T_TMP/bad.txt"
expect_error "truncated UTF-8 in a file" "not valid UTF-8 \(at byte 3\)" \
    "$EVALCTL" tokenize --model $FX/spm --file "$T_TMP/bad.txt"
expect_error "no such model" "nowhere: no such file or directory" "$EVALCTL" tokenize --model "$T_TMP/nowhere" --text x
mkdir -p "$T_TMP/empty"
expect_error "directory without tokenizer.json" "no tokenizer.json" "$EVALCTL" tokenize --model "$T_TMP/empty" --text x
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T_TMP/bare.gguf"
expect_error "GGUF without a tokenizer" "bare.gguf: no tokenizer.ggml.model" \
    "$EVALCTL" tokenize --model "$T_TMP/bare.gguf" --text x
expect_error "--decode of a non-number" "'12x' is not a token id" "$EVALCTL" tokenize --model $FX/qwen2 --decode --text "1 12x"
expect_error "--decode past the vocabulary" "token id 999999 out of range" \
    "$EVALCTL" tokenize --model $FX/qwen2 --decode --text "1 999999"
printf '[{"role":' >"$T_TMP/m.json"
expect_error "bad messages JSON" "m.json: invalid JSON" "$EVALCTL" tokenize --model $FX/qwen2 --messages "$T_TMP/m.json"
printf '{"role":"user"}' >"$T_TMP/m2.json"
expect_error "messages not a list" "m2.json: expected a list of messages" \
    "$EVALCTL" tokenize --model $FX/qwen2 --messages "$T_TMP/m2.json"
expect_error "no chat template" "no chat template" "$EVALCTL" tokenize --model $FX/mix/tokenizer.json \
    --messages $CLI/08.in

# usage errors exit 2
"$EVALCTL" tokenize --text x >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "no --model: want exit 2"; fi
"$EVALCTL" tokenize --model $FX/qwen2 --bogus >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "unknown option: want exit 2"; fi

done_tests tokenize_cli
