#!/usr/bin/env python3
"""gen_model_fixtures.py - GGUF twins of the tiny HF fixture models, written the
way llama.cpp's convert_hf_to_gguf.py lays them out, plus broken model files.

  tests/fixtures/models/tiny-llama3.gguf   tests/fixtures/hf/tiny-llama3 as GGUF:
      Q/K rows permuted for adjacent-pair RoPE, llama3 scaling as a rope_freqs
      tensor, tied embeddings (no output.weight); F32.
  tests/fixtures/models/tiny-llama3-q8.gguf  the same with the matrices in Q8_0
  tests/fixtures/models/tiny-qwen2.gguf    tests/fixtures/hf/tiny-qwen2 as GGUF (no
      permutation: llama.cpp runs qwen2 with NeoX RoPE), F32 (from BF16 exactly).
  tests/fixtures/models/bad-*.gguf         one defect each (see BAD below).

Needs: numpy, gguf (the llama.cpp package), safetensors. Run from the repo root.
"""
import json
import math
import os

import numpy as np
import gguf
import struct

HF = "tests/fixtures/hf"
OUT = "tests/fixtures/models"


DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def load_file(path):
    # a plain safetensors reader: safetensors.numpy cannot represent BF16
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DTYPES[v["dtype"]])
        out[k] = a.reshape(v["shape"])
    return out


def load_hf(name):
    d = os.path.join(HF, name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    tensors = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            for k, v in load_file(os.path.join(d, f)).items():
                tensors[k] = v
    return cfg, tensors


def bf16_to_f32(a):
    if a.dtype == np.float32:
        return a
    if a.dtype == np.float16:
        return a.astype(np.float32)
    # BF16 arrives as raw uint16 words (see load_file)
    return (a.astype(np.uint32) << 16).view(np.float32)


def permute(w, n_head, n_head_kv):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute: HF half-split rotary
    # pairs (i, i+d/2) become adjacent pairs (2i, 2i+1)
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def llama3_factors(cfg, head_dim):
    rs = cfg["rope_scaling"]
    base = cfg.get("rope_theta", 10000.0)
    factor = rs.get("factor", 8.0)
    low, high = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    low_wl, high_wl = old / low, old / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def convert(name, arch, quant=None, mutate=None, out_name=None, meta_arch=None):
    cfg, t = load_hf(name)
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    tensors = {}
    tensors["token_embd.weight"] = bf16_to_f32(t["model.embed_tokens.weight"])
    tensors["output_norm.weight"] = bf16_to_f32(t["model.norm.weight"])
    if not cfg.get("tie_word_embeddings", False):
        tensors["output.weight"] = bf16_to_f32(t["lm_head.weight"])
    if cfg.get("rope_scaling") and cfg["rope_scaling"].get("rope_type") == "llama3":
        tensors["rope_freqs.weight"] = llama3_factors(cfg, hd)
    for k, v in t.items():
        if not k.startswith("model.layers."):
            continue
        rest = k[len("model.layers."):]
        layer, suffix = rest.split(".", 1)
        v = bf16_to_f32(v)
        if arch == "llama" and suffix == "self_attn.q_proj.weight":
            v = permute(v, nh, nh)
        if arch == "llama" and suffix == "self_attn.k_proj.weight":
            v = permute(v, nh, nkv)
        tensors[f"blk.{layer}.{NAMES[suffix]}"] = v
    if mutate:
        mutate(tensors)
    w = gguf.GGUFWriter(os.path.join(OUT, out_name or f"{name}.gguf"), meta_arch or arch)
    a = meta_arch or arch
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    if cfg.get("bos_token_id") is not None:
        w.add_bos_token_id(cfg["bos_token_id"])
    # every end id of config.json and generation_config.json, as eos/eot/eom
    eos = []
    for f in ("config.json", "generation_config.json"):
        p = os.path.join(HF, name, f)
        e = json.load(open(p)).get("eos_token_id") if os.path.exists(p) else None
        for i in (e if isinstance(e, list) else [e]):
            if i is not None and i not in eos:
                eos.append(i)
    for add, i in zip((w.add_eos_token_id, w.add_eot_token_id, w.add_eom_token_id), eos):
        add(i)
    for k, v in tensors.items():
        if quant and v.ndim == 2 and v.shape[1] % 32 == 0:
            q = gguf.quants.quantize(v, quant)
            w.add_tensor(k, q, raw_shape=q.shape, raw_dtype=quant)
        else:
            w.add_tensor(k, np.ascontiguousarray(v, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def drop(name):
    return lambda t: t.pop(name)


def reshape_q(t):
    t["blk.0.attn_q.weight"] = t["blk.0.attn_q.weight"][:-16]


def f64_norm(t):
    t["blk.1.ffn_norm.weight"] = t["blk.1.ffn_norm.weight"][:-1]


def main():
    os.makedirs(OUT, exist_ok=True)
    convert("tiny-llama3", "llama")
    convert("tiny-llama3", "llama", quant=gguf.GGMLQuantizationType.Q8_0, out_name="tiny-llama3-q8.gguf")
    convert("tiny-qwen2", "qwen2")
    # broken files: Q8_0 keeps them small
    q8 = gguf.GGMLQuantizationType.Q8_0
    convert("tiny-llama3", "llama", q8, drop("blk.1.ffn_up.weight"), "bad-missing-tensor.gguf")
    convert("tiny-llama3", "llama", q8, reshape_q, "bad-q-shape.gguf")
    convert("tiny-llama3", "llama", q8, f64_norm, "bad-norm-shape.gguf")
    convert("tiny-llama3", "llama", q8, None, "bad-arch.gguf", meta_arch="gpt2")
    convert("tiny-llama3", "llama", q8, lambda t: t.update(
        {"blk.0.attn_q.bias": np.zeros(64, np.float32)}), "bad-llama-bias.gguf")


if __name__ == "__main__":
    main()
