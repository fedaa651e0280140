#!/usr/bin/env python3
"""gen_gpu_models.py - random-weight Hugging Face model directories with the head
dimensions the CUDA attention kernels take (64, 128), for tests/gpu/test_forward.c.

The tiny fixture models under tests/fixtures/hf/ have head_dim 16 and 32, which
the GPU kernels do not take, and GPU-shaped ones are too big to commit, so
`make test-gpu` writes these (deterministic, numpy + safetensors only) into
build-gpu/gpu-models/ before the GPU tests run. They cover the three loader
paths the forward pass branches on: llama with llama3 RoPE scaling and untied
head (head_dim 128, GQA 2), qwen2 with Q/K/V biases and tied embeddings
(head_dim 64, GQA 4), and mistral (head_dim 64, GQA 8, f16 weights).

usage: python3 tools/gen_gpu_models.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

MODELS = {
    "gpu-llama3": dict(arch="LlamaForCausalLM", model_type="llama", hidden=256, heads=2, kv=1, head_dim=128,
                       ffn=384, layers=2, vocab=320, tied=False, bias=False, dtype="bfloat16",
                       rope={"rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0,
                             "low_freq_factor": 1.0, "original_max_position_embeddings": 128,
                             "rope_type": "llama3"}}),
    "gpu-qwen2": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden=256, heads=4, kv=1, head_dim=64,
                      ffn=512, layers=2, vocab=300, tied=True, bias=True, dtype="bfloat16",
                      rope={"rope_theta": 1000000.0}),
    "gpu-mistral": dict(arch="MistralForCausalLM", model_type="mistral", hidden=512, heads=8, kv=1, head_dim=64,
                        ffn=768, layers=2, vocab=280, tied=False, bias=False, dtype="float16",
                        rope={"rope_theta": 10000.0}),
}


def bf16(a):
    """float32 -> bfloat16 bits (round to nearest even) as uint16"""
    u = a.astype(np.float32).view(np.uint32)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def make(name, c, out):
    rng = np.random.default_rng(sum(map(ord, name)))
    H, q, kv, F = c["hidden"], c["heads"] * c["head_dim"], c["kv"] * c["head_dim"], c["ffn"]
    t = {}

    def w(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t["model.embed_tokens.weight"] = w((c["vocab"], H), 1.0)
    t["model.norm.weight"] = 1.0 + w((H,), 0.1)
    if not c["tied"]:
        t["lm_head.weight"] = w((c["vocab"], H), H ** -0.5)
    for l in range(c["layers"]):
        p = "model.layers.%d." % l
        t[p + "input_layernorm.weight"] = 1.0 + w((H,), 0.1)
        t[p + "post_attention_layernorm.weight"] = 1.0 + w((H,), 0.1)
        t[p + "self_attn.q_proj.weight"] = w((q, H), 2 * H ** -0.5)
        t[p + "self_attn.k_proj.weight"] = w((kv, H), 2 * H ** -0.5)
        t[p + "self_attn.v_proj.weight"] = w((kv, H), H ** -0.5)
        t[p + "self_attn.o_proj.weight"] = w((H, q), q ** -0.5)
        if c["bias"]:
            t[p + "self_attn.q_proj.bias"] = w((q,), 0.5)
            t[p + "self_attn.k_proj.bias"] = w((kv,), 0.5)
            t[p + "self_attn.v_proj.bias"] = w((kv,), 0.5)
        t[p + "mlp.gate_proj.weight"] = w((F, H), H ** -0.5)
        t[p + "mlp.up_proj.weight"] = w((F, H), H ** -0.5)
        t[p + "mlp.down_proj.weight"] = w((H, F), F ** -0.5)
    if c["dtype"] == "bfloat16":
        # safetensors.numpy has no bfloat16: write the bits and patch the header below
        stored = {k: bf16(v) for k, v in t.items()}
    else:
        stored = {k: v.astype(np.float16) for k, v in t.items()}
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.safetensors")
    save_file(stored, path)
    if c["dtype"] == "bfloat16":
        raw = open(path, "rb").read()
        n = int.from_bytes(raw[:8], "little")
        hdr = json.loads(raw[8:8 + n])
        for k, v in hdr.items():
            if k != "__metadata__":
                v["dtype"] = "BF16"
        h = json.dumps(hdr).encode()
        h += b" " * (-len(h) % 8)
        open(path, "wb").write(len(h).to_bytes(8, "little") + h + raw[8 + n:])
    cfg = {"architectures": [c["arch"]], "model_type": c["model_type"], "hidden_size": H,
           "num_attention_heads": c["heads"], "num_key_value_heads": c["kv"], "head_dim": c["head_dim"],
           "intermediate_size": F, "num_hidden_layers": c["layers"], "vocab_size": c["vocab"],
           "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "hidden_act": "silu",
           "tie_word_embeddings": c["tied"], "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": c["dtype"]}
    cfg.update(c["rope"])
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build-gpu/gpu-models"
    for name, c in MODELS.items():
        make(name, c, out)
        print("wrote", os.path.join(out, name))


if __name__ == "__main__":
    main()
