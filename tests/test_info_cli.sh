# test_info_cli.sh - `evalctl info` end to end: the real default model, the tiny
# HF fixtures and their GGUF twins, and every kind of broken model file, each of
# which must give one error line naming the file, exit status 1 and no crash.
. tests/lib.sh
E=$EVALCTL
SMOL=models/smollm2-135m-instruct.gguf

expect_output "help" "$($E info --help)" $E info --help
$E info --bogus >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "unknown option must exit 2"
$E info >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "missing --model must exit 2"

# the default model: the figures the issue names
if [ -e "$SMOL" ]; then
    for kv in "arch: llama" "layers: 30" "heads: 9" "kv_heads: 3" "hidden: 576" "head_dim: 64" "ffn: 1536" \
              "vocab: 49152" "context: 8192" "rope_theta: 100000" "tied_embeddings: true" \
              "tensor_types: F32=61,Q4_1=210,Q8_0=1" "parameters: 134515008"; do
        expect_grep "smollm2 $kv" "^$kv\$" $E info --model "$SMOL"
    done
    # truncated copies of the real file
    for n in 3 100 2000 1000000 98362431; do
        head -c $n "$SMOL" >"$T_TMP/trunc.gguf"
        expect_error "smollm2 truncated at $n" "trunc.gguf: " $E info --model "$T_TMP/trunc.gguf"
    done
else
    t_bad "$SMOL missing: run make model"
fi

# an HF directory and its GGUF twin describe the same model
same_fields() {
    $E info --model "$1" | grep -E '^(arch|layers|hidden|heads|kv_heads|head_dim|ffn|vocab|context|tied_embeddings|parameters|bos_id|eos_ids):'
}
for m in tiny-llama3 tiny-qwen2; do
    a=$(same_fields tests/fixtures/hf/$m)
    b=$(same_fields tests/fixtures/models/$m.gguf)
    [ -n "$a" ] && [ "$a" = "$b" ] && t_ok || t_bad "$m: HF and GGUF info differ: [$a] vs [$b]"
done
expect_grep "tiny-llama3 rope llama3" "^rope_scaling: llama3 factor=8 low_freq_factor=1 high_freq_factor=4 original_context=64$" \
    $E info --model tests/fixtures/hf/tiny-llama3
expect_grep "tiny-llama3 gguf rope_freqs" "^rope_scaling: llama3 \(frequency factors tensor\)$" \
    $E info --model tests/fixtures/models/tiny-llama3.gguf
expect_grep "tiny-mistral head_dim" "^head_dim: 32$" $E info --model tests/fixtures/hf/tiny-mistral
expect_grep "tiny-qwen2 bf16" "^tensor_types: BF16=27$" $E info --model tests/fixtures/hf/tiny-qwen2
expect_grep "q8 twin" "^tensor_types: F32=6,Q8_0=15$" $E info --model tests/fixtures/models/tiny-llama3-q8.gguf

# broken model descriptions (valid GGUF containers)
expect_error "unknown arch" "bad-arch.gguf: unsupported architecture 'gpt2'" $E info --model tests/fixtures/models/bad-arch.gguf
expect_error "missing tensor" "bad-missing-tensor.gguf: missing tensor: layer 1 ffn up" $E info --model tests/fixtures/models/bad-missing-tensor.gguf
expect_error "misshaped q" "bad-q-shape.gguf: tensor 'blk.0.attn_q.weight' has shape" $E info --model tests/fixtures/models/bad-q-shape.gguf
expect_error "misshaped norm" "bad-norm-shape.gguf: tensor 'blk.1.ffn_norm.weight'" $E info --model tests/fixtures/models/bad-norm-shape.gguf
expect_error "llama with bias" "bad-llama-bias.gguf: layer 0 has q/k/v biases" $E info --model tests/fixtures/models/bad-llama-bias.gguf

# broken GGUF containers: every bad fixture of the reader's suite
n=0
for f in tests/fixtures/gguf/*.gguf; do
    case $(basename "$f") in valid_*|split-0000[23]-of-00003.gguf) continue ;; esac
    b=$(basename "$f")
    expect_error "gguf $b" "tests/fixtures/gguf/${b%%-0000*}" $E info --model "$f"
    n=$((n + 1))
done
[ $n -ge 60 ] && t_ok || t_bad "only $n bad GGUF fixtures found"

# broken HF directories: a valid config with each bad safetensors file as the weights
for f in tests/fixtures/safetensors/bad_*.safetensors; do
    d=$T_TMP/hf-$(basename "$f" .safetensors)
    mkdir -p "$d"
    cp tests/fixtures/hf/tiny-llama3/config.json "$d/"
    cp "$f" "$d/model.safetensors"
    expect_error "hf $(basename "$f")" "model.safetensors" $E info --model "$d"
done
for d in tests/fixtures/hf/bad-*; do
    expect_error "hf $(basename "$d")" "$(basename "$d")" $E info --model "$d"
done
mkdir -p "$T_TMP/empty-dir"
expect_error "dir without config" "empty-dir" $E info --model "$T_TMP/empty-dir"
mkdir -p "$T_TMP/badjson" && echo '{"architectures": [' >"$T_TMP/badjson/config.json"
expect_error "malformed config.json" "badjson/config.json" $E info --model "$T_TMP/badjson"
expect_error "missing file" "no/such/model.gguf: no such model" $E info --model no/such/model.gguf
: >"$T_TMP/zero.gguf"
expect_error "empty file" "zero.gguf" $E info --model "$T_TMP/zero.gguf"

done_tests info_cli
