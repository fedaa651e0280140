#!/usr/bin/env python3
"""gen_hf_fixtures.py - writes the safetensors and Hugging Face model fixtures.

  tests/fixtures/hf/tiny-*/               tiny random-weight HF model directories that
                                          transformers itself can load
  tests/fixtures/hf/tiny-*.expected.json  hyperparameters as transformers reads them
  tests/fixtures/safetensors/             valid files written by the safetensors
                                          package, their expected contents, and one
                                          corrupt file (or directory) per failure case

The oracles are the reference packages: transformers' config classes write and
re-read every config.json (AutoConfig/GenerationConfig give the expected
hyperparameters), and the safetensors package writes every valid file (its
safe_open reads them back before the expectations are recorded). Only the
corrupt files are assembled by hand, since no library will write them.

Usage: python3 tools/gen_hf_fixtures.py   (from the repository root; needs numpy,
safetensors and transformers, no torch). Output is deterministic.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors import _safetensors_rust as st_rust
from safetensors.numpy import save_file

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import transformers  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HF = os.path.join(ROOT, "tests", "fixtures", "hf")
ST = os.path.join(ROOT, "tests", "fixtures", "safetensors")

# safetensors header dtype -> the name its serializer takes
DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "F64": "float64",
               "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn"}


def to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bit patterns, rounded to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


class Tensor:
    """A tensor as stored: header dtype, logical shape, raw little-endian bytes."""

    def __init__(self, dtype, shape, raw):
        self.dtype, self.shape, self.raw = dtype, tuple(shape), raw


def as_stored(a, dtype):
    if dtype == "F32":
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
    elif dtype == "F16":
        raw = np.ascontiguousarray(a, dtype="<f2").tobytes()
    elif dtype == "BF16":
        raw = to_bf16_bits(a).astype("<u2").tobytes()
    else:
        raise ValueError(dtype)
    return Tensor(dtype, a.shape, raw)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: Tensor} through the safetensors package's own serializer."""
    keep = []
    specs = {}
    for name, t in tensors.items():
        buf = np.frombuffer(t.raw, dtype=np.uint8).copy() if t.raw else np.zeros(1, np.uint8)
        keep.append(buf)
        specs[name] = st_rust.TensorSpec(dtype=DTYPE_NAMES[t.dtype], shape=list(t.shape),
                                         data_ptr=buf.ctypes.data, data_len=len(t.raw))
    st_rust.serialize_file(specs, path, metadata)
    # read back with the reference reader: what we record is what it sees
    with safe_open(path, framework="numpy") as f:
        assert sorted(f.keys()) == sorted(tensors.keys())


def raw_of(path, name):
    """The tensor's bytes as the safetensors package's header locates them."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    hdr = json.loads(blob[8:8 + n])
    b, e = hdr[name]["data_offsets"]
    return blob[8 + n + b:8 + n + e]


# ----------------------------------------------------------------------- HF dirs

def weights(cfg, rng, dtype, bias, tied):
    """Standard HF Llama/Qwen2/Mistral tensor names and [out, in] shapes.

    Scales are chosen so that activations stay O(1) through the tiny network and
    attention is far from uniform (std 0.02 as in real initialisation would make
    every logit ~0 and hide RoPE or attention bugs in reference comparisons)."""
    H, F, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    hd = getattr(cfg, "head_dim", None) or H // cfg.num_attention_heads
    Q, KV = cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd

    def mat(rows, cols, std=None):
        return rng.normal(0.0, std if std else 1.0 / np.sqrt(cols), (rows, cols)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.normal(size=n)).astype(np.float32)

    w = {"model.embed_tokens.weight": mat(V, H, 0.5)}
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(H)
        w[p + "self_attn.q_proj.weight"] = mat(Q, H, 2.0 / np.sqrt(H))
        w[p + "self_attn.k_proj.weight"] = mat(KV, H, 2.0 / np.sqrt(H))
        w[p + "self_attn.v_proj.weight"] = mat(KV, H)
        w[p + "self_attn.o_proj.weight"] = mat(H, Q)
        if bias:
            w[p + "self_attn.q_proj.bias"] = (0.2 * rng.normal(size=Q)).astype(np.float32)
            w[p + "self_attn.k_proj.bias"] = (0.2 * rng.normal(size=KV)).astype(np.float32)
            w[p + "self_attn.v_proj.bias"] = (0.2 * rng.normal(size=KV)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = norm(H)
        w[p + "mlp.gate_proj.weight"] = mat(F, H)
        w[p + "mlp.up_proj.weight"] = mat(F, H)
        w[p + "mlp.down_proj.weight"] = mat(H, F)
    w["model.norm.weight"] = norm(H)
    if not tied:
        w["lm_head.weight"] = mat(V, H)
    return {k: as_stored(v, dtype) for k, v in w.items()}


def legacy_config(cfg, version="4.45.0"):
    """config.json as transformers 4.x wrote it (and as most hub checkpoints still
    are): rope_theta at the top level, rope_scaling null or {rope_type, ...},
    torch_dtype. transformers 5 writes rope_parameters instead."""
    d = json.loads(cfg.to_json_string(use_diff=True))
    rp = d.pop("rope_parameters")
    d["rope_theta"] = rp.pop("rope_theta")
    d["rope_scaling"] = None if rp.get("rope_type") == "default" else rp
    if "dtype" in d:
        d["torch_dtype"] = d.pop("dtype")
    d["transformers_version"] = version
    return d


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def expected(d, arch, files):
    """What our loader must report, read back through transformers itself."""
    c = transformers.AutoConfig.from_pretrained(d)
    rp = dict(c.rope_parameters)
    eos = c.eos_token_id
    eos = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
    if os.path.exists(os.path.join(d, "generation_config.json")):
        g = transformers.GenerationConfig.from_pretrained(d).eos_token_id
        for e in (g if isinstance(g, (list, tuple)) else [g] if g is not None else []):
            if e not in eos:
                eos.append(e)
    kind = rp.get("rope_type", "default")
    hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    exp = {
        "arch": arch,
        "n_layers": c.num_hidden_layers,
        "hidden": c.hidden_size,
        "n_heads": c.num_attention_heads,
        "n_kv_heads": c.num_key_value_heads,
        "head_dim": hd,
        "ffn": c.intermediate_size,
        "vocab": c.vocab_size,
        "context": c.max_position_embeddings,
        "rms_eps": c.rms_norm_eps,
        "rope_theta": rp["rope_theta"],
        "rope_scaling": {"kind": {"default": "none"}.get(kind, kind),
                         "factor": rp.get("factor", 1.0),
                         "low_freq_factor": rp.get("low_freq_factor", 0.0),
                         "high_freq_factor": rp.get("high_freq_factor", 0.0),
                         "original_context": rp.get("original_max_position_embeddings", 0)},
        "tied_embeddings": bool(c.tie_word_embeddings),
        "bos_id": -1 if c.bos_token_id is None else c.bos_token_id,
        "eos_ids": eos,
        "biases": arch == "qwen2",
        "n_tensors": 0,
        "n_params": 0,
        "tensors": {},
    }
    # a few tensors' leading bytes, located by the safetensors package
    for fn in files:
        p = os.path.join(d, fn)
        with safe_open(p, framework="numpy") as f:
            names = list(f.keys())
        exp["n_tensors"] += len(names)
        with safe_open(p, framework="numpy") as f:
            for name in names:
                if not (c.tie_word_embeddings and name == "lm_head.weight"):
                    exp["n_params"] += int(np.prod(f.get_slice(name).get_shape()))
        for name in names:
            if name in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                        "model.layers.1.self_attn.k_proj.weight", "model.layers.0.self_attn.q_proj.bias",
                        "model.layers.1.mlp.down_proj.weight"):
                with safe_open(p, framework="numpy") as f:
                    sl = f.get_slice(name)
                    dtype, shape = sl.get_dtype(), list(sl.get_shape())
                exp["tensors"][name] = {"dtype": dtype, "shape": shape, "file": fn,
                                        "head_hex": raw_of(p, name)[:16].hex()}
    write_json(os.path.join(HF, os.path.basename(d) + ".expected.json"), exp)


def tiny_llama3(rng):
    d = os.path.join(HF, "tiny-llama3")
    os.makedirs(d)
    cfg = transformers.LlamaConfig(
        architectures=["LlamaForCausalLM"], hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, intermediate_size=128, vocab_size=256, max_position_embeddings=256,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=250, eos_token_id=[251, 252],
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    cfg.dtype = "float32"
    conf = legacy_config(cfg)
    write_json(os.path.join(d, "config.json"), conf)
    back = transformers.AutoConfig.from_pretrained(d)
    assert dict(back.rope_parameters) == dict(cfg.rope_parameters), (back.rope_parameters, cfg.rope_parameters)
    transformers.GenerationConfig(bos_token_id=250, eos_token_id=[251, 253]).save_pretrained(d)
    write_safetensors(os.path.join(d, "model.safetensors"), weights(cfg, rng, "F32", False, True),
                      {"format": "pt"})
    expected(d, "llama", ["model.safetensors"])


def tiny_qwen2(rng):
    d = os.path.join(HF, "tiny-qwen2")
    cfg = transformers.Qwen2Config(
        architectures=["Qwen2ForCausalLM"], hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=128, vocab_size=288, max_position_embeddings=512,
        max_window_layers=2, rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=280, eos_token_id=281,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    cfg.dtype = "bfloat16"
    cfg.save_pretrained(d)  # transformers 5 style: rope_parameters, layer_types, dtype
    transformers.GenerationConfig(bos_token_id=280, eos_token_id=[282, 281]).save_pretrained(d)
    w = weights(cfg, rng, "BF16", True, False)
    # two shards the way transformers splits them: layers in order, index.json maps every name
    shard_of = {}
    for name in w:
        shard_of[name] = ("model-00002-of-00002.safetensors"
                          if name.startswith(("model.layers.1.", "model.norm", "lm_head"))
                          else "model-00001-of-00002.safetensors")
    for shard in sorted(set(shard_of.values())):
        write_safetensors(os.path.join(d, shard), {k: v for k, v in w.items() if shard_of[k] == shard},
                          {"format": "pt"})
    total = sum(len(t.raw) for t in w.values())
    write_json(os.path.join(d, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(shard_of.items()))})
    expected(d, "qwen2", sorted(set(shard_of.values())))


def tiny_mistral(rng):
    d = os.path.join(HF, "tiny-mistral")
    os.makedirs(d)
    cfg = transformers.MistralConfig(
        architectures=["MistralForCausalLM"], hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, intermediate_size=128, vocab_size=320, max_position_embeddings=1024,
        rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    cfg.dtype = "float16"
    conf = legacy_config(cfg, "4.42.0.dev0")  # Mistral-7B-v0.3 style: rope_theta top level, sliding_window null
    write_json(os.path.join(d, "config.json"), conf)
    back = transformers.AutoConfig.from_pretrained(d)
    assert back.head_dim == 32 and back.rope_parameters["rope_theta"] == 1000000.0
    write_safetensors(os.path.join(d, "model.safetensors"), weights(cfg, rng, "F16", False, False),
                      {"format": "pt"})
    expected(d, "llama", ["model.safetensors"])


def broken_hf(rng):
    """Small directories whose weights break the loader (configs are fine)."""
    cfg = transformers.LlamaConfig(
        architectures=["LlamaForCausalLM"], hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=16, vocab_size=32, max_position_embeddings=64,
        tie_word_embeddings=True)
    for name, change in (("bad-i64-weight", "i64"), ("bad-missing-tensor", "missing"), ("bad-f8-weight", "f8")):
        d = os.path.join(HF, name)
        cfg.save_pretrained(d)
        w = weights(cfg, rng, "F32", False, True)
        if change == "i64":
            w["model.norm.weight"] = Tensor("I64", (8,), np.ones(8, "<i8").tobytes())
        elif change == "f8":
            w["model.layers.0.self_attn.q_proj.weight"] = Tensor("F8_E4M3", (8, 8), bytes(64))
        else:
            del w["model.layers.0.mlp.up_proj.weight"]
        write_safetensors(os.path.join(d, "model.safetensors"), w, {"format": "pt"})


# ------------------------------------------------------------ safetensors files

def st_valid(rng):
    ts = {
        "f32": as_stored(rng.normal(size=(2, 3)).astype(np.float32), "F32"),
        "f16": as_stored(np.array([1.0, -2.5, 65504.0, 6.1e-5, 0.333], np.float32), "F16"),
        "bf16": as_stored(rng.normal(size=(3, 2)).astype(np.float32), "BF16"),
        "i64": Tensor("I64", (2, 2), np.array([[1, -2], [1 << 40, -(1 << 62)]], "<i8").tobytes()),
        "scalar": as_stored(np.array(3.25, np.float32), "F32"),
        "empty": as_stored(np.zeros((0, 4), np.float32), "F32"),
        "u8": Tensor("U8", (5,), bytes([0, 1, 127, 128, 255])),
        "f8": Tensor("F8_E4M3", (2,), bytes([0x38, 0xC0])),
        "f64": Tensor("F64", (1,), np.array([np.pi], "<f8").tobytes()),
        "four_dims": as_stored(rng.normal(size=(1, 2, 3, 2)).astype(np.float32), "F32"),
    }
    path = os.path.join(ST, "valid.safetensors")
    write_safetensors(path, ts, {"format": "pt"})  # one key: the serializer orders keys by hash
    exp = {}
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    for name, t in ts.items():
        raw = raw_of(path, name)
        assert raw == t.raw
        e = {"dtype": t.dtype, "shape": list(t.shape), "nbytes": len(raw), "hex": raw.hex()}
        if t.dtype == "F32":
            e["values"] = [float(x) for x in np.frombuffer(raw, "<f4")]
        exp[name] = e
    write_json(os.path.join(ST, "valid.expected.json"), {"metadata": meta, "tensors": exp})


def raw_file(name, header, data=b"", length=None):
    """A hand-assembled (corrupt) file: u64 length, header bytes, data."""
    h = header.encode() if isinstance(header, str) else header
    with open(os.path.join(ST, name), "wb") as f:
        f.write(struct.pack("<Q", len(h) if length is None else length) + h + data)


def st_bad():
    f32x4 = np.arange(4, dtype="<f4").tobytes()
    ok = '"dtype":"F32","shape":[4],"data_offsets":[0,16]'
    with open(os.path.join(ST, "bad_truncated_header.safetensors"), "wb") as f:
        f.write(b"\x10\x00\x00")
    raw_file("bad_header_past_end.safetensors", "{}", length=1000)
    raw_file("bad_header_huge.safetensors", "{}", length=1 << 63)
    raw_file("bad_header_not_json.safetensors", '{"a": {' + ok + '}', f32x4)
    raw_file("bad_header_not_object.safetensors", "[1, 2, 3]")
    raw_file("bad_header_empty.safetensors", "")
    raw_file("bad_entry_not_object.safetensors", '{"a": [1, 2]}')
    raw_file("bad_missing_dtype.safetensors", '{"a":{"shape":[4],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_missing_shape.safetensors", '{"a":{"dtype":"F32","data_offsets":[0,16]}}', f32x4)
    raw_file("bad_missing_offsets.safetensors", '{"a":{"dtype":"F32","shape":[4]}}', f32x4)
    raw_file("bad_unknown_dtype.safetensors", '{"a":{"dtype":"F12","shape":[4],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_dtype_not_string.safetensors", '{"a":{"dtype":4,"shape":[4],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_negative_shape.safetensors", '{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_float_shape.safetensors", '{"a":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_string_shape.safetensors", '{"a":{"dtype":"F32","shape":["4"],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_five_dims.safetensors", '{"a":{"dtype":"F32","shape":[1,1,1,1,4],"data_offsets":[0,16]}}',
             f32x4)
    raw_file("bad_huge_shape.safetensors",
             '{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}}', f32x4)
    raw_file("bad_offsets_reversed.safetensors", '{"a":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}', f32x4)
    raw_file("bad_offsets_not_pair.safetensors", '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}}', f32x4)
    raw_file("bad_offsets_negative.safetensors", '{"a":{"dtype":"F32","shape":[0],"data_offsets":[-4,-4]}}',
             f32x4)
    raw_file("bad_offsets_past_end.safetensors", '{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}',
             f32x4)
    raw_file("bad_size_mismatch.safetensors", '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}',
             f32x4)
    raw_file("bad_overlap.safetensors",
             '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},'
             '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', f32x4)
    raw_file("bad_duplicate_names.safetensors",
             '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
             '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', f32x4)
    raw_file("bad_metadata_not_object.safetensors", '{"__metadata__":[1],"a":{' + ok + '}}', f32x4)
    raw_file("bad_metadata_value.safetensors", '{"__metadata__":{"x":1},"a":{' + ok + '}}', f32x4)

    # directories: an index must only name files beside it, which must exist and
    # hold what the index says; a tensor name may live in one shard only
    def shard(d, name, tensors):
        write_safetensors(os.path.join(d, name),
                          {k: as_stored(np.full(2, v, np.float32), "F32") for k, v in tensors.items()})

    def index_dir(name, weight_map, shards):
        d = os.path.join(ST, name)
        os.makedirs(d)
        for fn, tensors in shards.items():
            shard(d, fn, tensors)
        write_json(os.path.join(d, "model.safetensors.index.json"), {"metadata": {}, "weight_map": weight_map})

    index_dir("index_ok", {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"},
              {"s1.safetensors": {"a": 1.0}, "s2.safetensors": {"b": 2.0, "c": 3.0}})
    index_dir("bad_index_missing_shard", {"a": "s1.safetensors", "b": "s2.safetensors"},
              {"s1.safetensors": {"a": 1.0}})
    index_dir("bad_index_dotdot", {"a": "../valid.safetensors"}, {})
    index_dir("bad_index_slash", {"a": "sub/s1.safetensors"}, {})
    index_dir("bad_index_missing_tensor", {"a": "s1.safetensors", "z": "s1.safetensors"},
              {"s1.safetensors": {"a": 1.0}})
    index_dir("bad_index_wrong_shard", {"a": "s2.safetensors", "b": "s2.safetensors"},
              {"s1.safetensors": {"a": 1.0}, "s2.safetensors": {"b": 2.0}})
    index_dir("bad_index_duplicate", {"a": "s1.safetensors", "b": "s2.safetensors"},
              {"s1.safetensors": {"a": 1.0, "b": 5.0}, "s2.safetensors": {"b": 2.0}})
    index_dir("bad_index_empty_weight_map", {}, {"s1.safetensors": {"a": 1.0}})
    d = os.path.join(ST, "bad_index_not_json")
    os.makedirs(d)
    shard(d, "s1.safetensors", {"a": 1.0})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write('{"weight_map": {"a": "s1.safetensors",}\n')
    d = os.path.join(ST, "single_dir")
    os.makedirs(d)
    shard(d, "model.safetensors", {"x": 7.0})


def main():
    for d in (HF, ST):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    rng = np.random.default_rng(20250511)
    tiny_llama3(rng)
    tiny_qwen2(rng)
    tiny_mistral(rng)
    broken_hf(rng)
    st_valid(rng)
    st_bad()
    print("wrote", HF, "and", ST)


if __name__ == "__main__":
    sys.exit(main())
