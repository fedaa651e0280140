#!/usr/bin/env python3
"""gen_gguf_fixtures.py - writes tests/fixtures/gguf/, the oracle for tests/test_gguf.c.

Valid files come from two independent writers: gguf.GGUFWriter (the reference
package: v3, every metadata type, typed and nested arrays, custom alignment, a
split model in the llama.cpp shard convention) and a small byte-level writer in
this script (a v2 file and what GGUFWriter refuses to write: empty arrays,
arrays of arrays of any type, strings with NUL bytes, 0-d and 4-d tensors). The
byte-level files are read back with gguf.GGUFReader as a check on this script.
expect.json lists, for every valid file, each key with its type and value and
each tensor with its shape, type and the float32 values gguf.quants.dequantize
gives; for every bad file, a substring the one-line error must contain.

Bad files are one valid base file with one defect each (truncations, magic,
versions, absurd counts and lengths, dims, types, offsets, alignment, UTF-8,
duplicates, block multiples, split shards).

If models/smollm2-135m-instruct.gguf exists, model.json records its counts and
a few rows dequantised by the gguf package, for the real-model test.

Run from the repository root:  python3 tools/gen_gguf_fixtures.py
"""
import glob
import json
import math
import os
import shutil
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT, GGML_QUANT_SIZES
import gguf.quants as Q

OUT = "tests/fixtures/gguf"
CORPUS = "tests/fuzz/corpus_gguf"
MODEL = "models/smollm2-135m-instruct.gguf"
rng = np.random.default_rng(2505)

HALF_FIELDS = {
    QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2], QT.Q8_0: [0],
    QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208],
}

# ------------------------------------------------------------ value encoding

SCALAR_FMT = {VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I",
              VT.INT32: "<i", VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q",
              VT.FLOAT64: "<d"}


class Arr:
    """A typed array value: element type and items (nested Arr for arrays)."""

    def __init__(self, et, items):
        self.et, self.items = et, list(items)


def f32(x):
    return float(np.float32(x))


def enc_json(t, v):
    """The value as expect.json holds it (see tests/test_gguf.c)."""
    if t == VT.ARRAY:
        return {"elem": int(v.et), "items": [enc_json(v.et, x) for x in v.items]}
    if t == VT.STRING:
        b = v.encode() if isinstance(v, str) else v
        return b.decode("utf-8")  # test strings are UTF-8 (NULs allowed)
    if t == VT.BOOL:
        return bool(v)
    if t in (VT.FLOAT32, VT.FLOAT64):
        x = f32(v) if t == VT.FLOAT32 else float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if t == VT.UINT64 and v > 2**63 - 1:
        return "u64:%d" % v
    return int(v)


def pack_value(t, v):
    if t in SCALAR_FMT:
        return struct.pack(SCALAR_FMT[t], v)
    if t == VT.STRING:
        b = v.encode() if isinstance(v, str) else v
        return struct.pack("<Q", len(b)) + b
    assert t == VT.ARRAY
    return struct.pack("<IQ", v.et, len(v.items)) + b"".join(pack_value(v.et, x) for x in v.items)


def pstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def pad(n, a):
    return (n + a - 1) // a * a


# ------------------------------------------------------------ tensor data

def tensor_bytes(qt, ne):
    """Random data for a tensor of ggml type qt and shape ne (ggml order):
    quantised floats where gguf can quantise, else random blocks with finite
    fp16 scales. Returns (raw uint8 array shaped rows x row_bytes, floats)."""
    rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
    cols = ne[0] if ne else 1
    if qt == QT.F32:
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        return x.view(np.uint8), x.reshape(-1)
    if qt == QT.F16:
        x = (rng.standard_normal((rows, cols)) * 4).astype(np.float16)
        return x.view(np.uint8), x.astype(np.float32).reshape(-1)
    if qt == QT.BF16:
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        raw = Q.quantize(x, QT.BF16)
        return raw, Q.dequantize(raw, QT.BF16).reshape(-1)
    blk, bsz = GGML_QUANT_SIZES[qt]
    if qt in (QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0):
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        raw = Q.quantize(x, qt)
    else:
        nb = rows * cols // blk
        raw = rng.integers(0, 256, size=(nb, bsz), dtype=np.uint16).astype(np.uint8)
        for off in HALF_FIELDS[qt]:
            h = (rng.standard_normal(nb) * 0.01).astype(np.float16)
            raw[:, off:off + 2] = h.view(np.uint8).reshape(nb, 2)
        raw = raw.reshape(rows, cols // blk * bsz)
    return raw, Q.dequantize(raw, qt).reshape(-1)


def tensor_json(name, qt, ne, floats):
    return {"name": name, "type": int(qt), "n_dims": len(ne), "ne": [int(x) for x in ne],
            "values": [float(x) for x in floats]}


# ------------------------------------------------------------ byte-level writer

def build(kvs, tensors, version=3, alignment=32, n_kv=None, n_tensors=None, magic=b"GGUF",
          tail_pad=False):
    """kvs: [(key, vtype, value)] (key may be bytes); tensors: [(name, ne, type,
    data, offset or None[, place])]. Offsets default to consecutive aligned
    placement; place=False writes the info but not the data (for offsets past
    the end). The file ends right after the last tensor's data unless tail_pad."""
    tensors = [t if len(t) == 6 else tuple(t) + (True,) for t in tensors]
    out = bytearray(magic + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                        len(kvs) if n_kv is None else n_kv))
    for key, t, v in kvs:
        out += pstr(key) + struct.pack("<I", t) + pack_value(t, v)
    offsets, off = [], 0
    for name, ne, qt, data, o, _ in tensors:
        offsets.append(off if o is None else o)
        off = pad(off + len(data), alignment) if o is None else pad(o + len(data), alignment)
    for (name, ne, qt, data, o, _), to in zip(tensors, offsets):
        out += pstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        out += struct.pack("<IQ", qt, to)
    if not tensors:  # nothing to align: the file ends after the metadata
        return bytes(out)
    data_start = pad(len(out), alignment)
    out += bytes(data_start - len(out))
    end = data_start
    image = bytearray(out)
    for (name, ne, qt, data, o, place), to in zip(tensors, offsets):
        if not place:
            continue
        need = data_start + to + len(data)
        if len(image) < need:
            image += bytes(need - len(image))
        image[data_start + to:data_start + to + len(data)] = data
        end = max(end, need)
    if tail_pad:
        image += bytes(pad(len(image), alignment) - len(image))
    return bytes(image)


# ------------------------------------------------------------ valid files

expect = {"valid": [], "bad": []}


def kv_entry(k, t, v):
    return {"key": k, "type": int(t), "value": enc_json(t, v)}


def write_writer_file(path, kvs, tensors, alignment=None, version=3):
    """Writes with gguf.GGUFWriter; returns the expected record."""
    w = gguf.GGUFWriter(path, arch="llama")
    exp_kvs = [kv_entry("general.architecture", VT.STRING, "llama")]
    if alignment:
        w.add_custom_alignment(alignment)
        exp_kvs.append(kv_entry("general.alignment", VT.UINT32, alignment))
    for k, t, v in kvs:
        if t == VT.ARRAY:
            w.add_key_value(k, writer_items(v), VT.ARRAY, sub_type=v.et)
        else:
            w.add_key_value(k, v, t)
        exp_kvs.append(kv_entry(k, t, v))
    exp_t = []
    for name, qt, ne in tensors:
        raw, floats = tensor_bytes(qt, ne)
        if qt in (QT.F32, QT.F16):
            w.add_tensor(name, raw.view(np.float32 if qt == QT.F32 else np.float16).reshape(list(reversed(ne))))
        else:
            w.add_tensor(name, raw.reshape(-1) if len(ne) == 1 else raw, raw_dtype=qt)
        exp_t.append(tensor_json(name, qt, ne, floats))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"file": os.path.basename(path), "version": version, "alignment": alignment or 32, "n_shards": 1,
            "kvs": exp_kvs, "tensors": exp_t}


def writer_items(v):
    """GGUFWriter takes nested arrays as Python lists (it infers inner types)."""
    return [writer_items(x) if isinstance(x, Arr) else x for x in v.items]


def every_type_kvs():
    s = "ünïcødé ✓ 日本"
    return [
        ("t.u8", VT.UINT8, 255), ("t.i8", VT.INT8, -128), ("t.u16", VT.UINT16, 65535),
        ("t.i16", VT.INT16, -32768), ("t.u32", VT.UINT32, 4294967295), ("t.i32", VT.INT32, -2147483648),
        ("t.f32", VT.FLOAT32, f32(3.14159)), ("t.f32_tiny", VT.FLOAT32, f32(1e-45)),
        ("t.f32_neg0", VT.FLOAT32, -0.0), ("t.f32_inf", VT.FLOAT32, float("-inf")),
        ("t.bool_t", VT.BOOL, True), ("t.bool_f", VT.BOOL, False),
        ("t.str", VT.STRING, s), ("t.str_empty", VT.STRING, ""),
        ("t.u64", VT.UINT64, 2**64 - 1), ("t.u64_small", VT.UINT64, 42), ("t.i64", VT.INT64, -2**63),
        ("t.f64", VT.FLOAT64, 2.718281828459045), ("t.f64_nan", VT.FLOAT64, float("nan")),
        ("a.u8", VT.ARRAY, Arr(VT.UINT8, [0, 1, 255])), ("a.i8", VT.ARRAY, Arr(VT.INT8, [-128, 0, 127])),
        ("a.u16", VT.ARRAY, Arr(VT.UINT16, [0, 65535])), ("a.i16", VT.ARRAY, Arr(VT.INT16, [-32768, 32767])),
        ("a.u32", VT.ARRAY, Arr(VT.UINT32, [7, 4294967295])), ("a.i32", VT.ARRAY, Arr(VT.INT32, [-1, 2, -3])),
        ("a.f32", VT.ARRAY, Arr(VT.FLOAT32, [f32(0.1), f32(-2.5), f32(1e30)])),
        ("a.bool", VT.ARRAY, Arr(VT.BOOL, [True, False, True])),
        ("a.str", VT.ARRAY, Arr(VT.STRING, ["a", "", s, "tok▁en", "x" * 300])),
        ("a.u64", VT.ARRAY, Arr(VT.UINT64, [0, 2**64 - 1, 2**63])),
        ("a.i64", VT.ARRAY, Arr(VT.INT64, [-2**63, 2**63 - 1])),
        ("a.f64", VT.ARRAY, Arr(VT.FLOAT64, [1e-300, -1e300, 0.5])),
        ("n.i32", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.INT32, [1, 2, 3]), Arr(VT.INT32, [4]), Arr(VT.INT32, [5, 6])])),
        ("n.str", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.STRING, ["x", "yy"]), Arr(VT.STRING, [s])])),
        ("n.deep", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.ARRAY, [Arr(VT.FLOAT32, [f32(1.5), f32(-0.25)])]),
                                            Arr(VT.ARRAY, [Arr(VT.FLOAT32, [f32(3.0)]),
                                                           Arr(VT.FLOAT32, [f32(4.0), f32(5.0)])])])),
    ]


def make_valid():
    types = [QT.F32, QT.F16, QT.BF16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0, QT.Q2_K, QT.Q3_K, QT.Q4_K,
             QT.Q5_K, QT.Q6_K]
    tensors = []
    for qt in types:
        blk = GGML_QUANT_SIZES[qt][0]
        ne = [3, 2] if blk == 1 else ([blk * 2, 2] if blk == 32 else [blk])
        tensors.append(("w.%s" % qt.name.lower(), qt, ne))
    tensors.append(("blk.0.attn_q.weight", QT.F32, [4, 3, 2]))
    tensors.append(("x4d", QT.F16, [2, 2, 2, 2]))
    expect["valid"].append(write_writer_file(os.path.join(OUT, "valid_v3.gguf"), every_type_kvs(), tensors))

    # custom alignment, tensors whose sizes are not multiples of it
    expect["valid"].append(write_writer_file(
        os.path.join(OUT, "valid_align64.gguf"), [("a.note", VT.STRING, "aligned to 64")],
        [("odd.f32", QT.F32, [5]), ("odd2.f32", QT.F32, [7, 3]), ("q", QT.Q8_0, [32])], alignment=64))

    # split model: 5 tensors, 2 per shard -> 3 shards
    w = gguf.GGUFWriter(os.path.join(OUT, "split.gguf"), arch="llama", split_max_tensors=2)
    w.add_uint32("llama.block_count", 2)
    exp_t = []
    for i, (qt, ne) in enumerate([(QT.F32, [4]), (QT.Q8_0, [32, 2]), (QT.F16, [6]), (QT.Q4_K, [256]),
                                  (QT.F32, [3, 3])]):
        raw, floats = tensor_bytes(qt, ne)
        name = "s.%d" % i
        if qt in (QT.F32, QT.F16):
            w.add_tensor(name, raw.view(np.float32 if qt == QT.F32 else np.float16).reshape(list(reversed(ne))))
        else:
            w.add_tensor(name, raw.reshape(-1) if len(ne) == 1 else raw, raw_dtype=qt)
        exp_t.append(tensor_json(name, qt, ne, floats))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert os.path.exists(os.path.join(OUT, "split-00003-of-00003.gguf"))
    expect["valid"].append({
        "file": "split-00001-of-00003.gguf", "version": 3, "alignment": 32, "n_shards": 3,
        "kvs": [kv_entry("general.architecture", VT.STRING, "llama"), kv_entry("llama.block_count", VT.UINT32, 2),
                kv_entry("split.no", VT.UINT16, 0), kv_entry("split.count", VT.UINT16, 3),
                kv_entry("split.tensors.count", VT.INT32, 5)],
        "tensors": exp_t})

    # byte-level writer: v2, and what GGUFWriter cannot write
    kvs = [
        ("general.architecture", VT.STRING, "llama"),
        ("general.alignment", VT.UINT32, 8),
        ("e.empty_u8", VT.ARRAY, Arr(VT.UINT8, [])),
        ("e.empty_str", VT.ARRAY, Arr(VT.STRING, [])),
        ("e.empty_arr", VT.ARRAY, Arr(VT.ARRAY, [])),
        ("n.u8", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.UINT8, [1, 2]), Arr(VT.UINT8, []), Arr(VT.UINT8, [255])])),
        ("n.u64", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.UINT64, [2**64 - 1]), Arr(VT.UINT64, [0, 1])])),
        ("n.bool", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.BOOL, [True]), Arr(VT.BOOL, [False, True])])),
        ("n.f64", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.FLOAT64, [0.1, -0.0])])),
        ("n.mixed", VT.ARRAY, Arr(VT.ARRAY, [Arr(VT.ARRAY, [Arr(VT.STRING, ["deep", ""])]),
                                             Arr(VT.ARRAY, [])])),
        ("s.nul", VT.STRING, "nul\x00inside"),
        ("s.nul_arr", VT.ARRAY, Arr(VT.STRING, ["a\x00b", "\x00"])),
        ("k.\u00e9\u4e2d\U0001F600", VT.INT16, -5),
    ]
    tensors, exp_t = [], []
    for name, qt, ne in [("scalar", QT.F32, []), ("v", QT.F16, [3]), ("m", QT.Q8_0, [32, 1, 1, 2]),
                         ("bf", QT.BF16, [5]), ("k6", QT.Q6_K, [256])]:
        raw, floats = tensor_bytes(qt, ne)
        tensors.append((name, ne, int(qt), raw.tobytes(), None))
        exp_t.append(tensor_json(name, qt, ne, floats))
    for version, fname in [(2, "valid_v2.gguf"), (3, "valid_hand.gguf")]:
        data = build(kvs, tensors, version=version, alignment=8)
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(data)
        expect["valid"].append({"file": fname, "version": version, "alignment": 8, "n_shards": 1,
                                "kvs": [kv_entry(k, t, v) for k, t, v in kvs], "tensors": exp_t})
        if version == 3:  # GGUFReader only reads v3 layout checks; both layouts are the same
            r = gguf.GGUFReader(os.path.join(OUT, fname))
            keys = [k for k in r.fields if not k.startswith("GGUF.")]
            assert keys == [k for k, _, _ in kvs], keys
            assert [t.name for t in r.tensors] == [t[0] for t in tensors]
            for t, (name, ne, qt, data, _) in zip(r.tensors, tensors):
                assert list(t.shape) == (ne or [1]) or (not ne and list(t.shape) == []), (t.shape, ne)
                assert int(t.tensor_type) == qt and bytes(t.data.tobytes()) == data


# ------------------------------------------------------------ bad files

def base_parts():
    """The valid base every bad file starts from (also written as valid_base.gguf)."""
    kvs = [("general.architecture", VT.STRING, "llama"), ("b.u32", VT.UINT32, 7),
           ("b.arr", VT.ARRAY, Arr(VT.INT32, [1, 2, 3])), ("b.str", VT.STRING, "hi")]
    t0 = np.arange(8, dtype=np.float32)
    t1, _ = tensor_bytes(QT.Q8_0, [32])
    tensors = [("t0", [4, 2], int(QT.F32), t0.tobytes(), None), ("t1", [32], int(QT.Q8_0), t1.tobytes(), None)]
    return kvs, tensors


def bad(name, data, error):
    with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
        f.write(data)
    expect["bad"].append({"file": name + ".gguf", "error": error})


def make_bad():
    kvs, tensors = base_parts()
    base = build(kvs, tensors)
    with open(os.path.join(OUT, "valid_base.gguf"), "wb") as f:
        f.write(base)
    t0 = np.arange(8, dtype=np.float32)
    expect["valid"].append({
        "file": "valid_base.gguf", "version": 3, "alignment": 32, "n_shards": 1,
        "kvs": [kv_entry(k, t, v) for k, t, v in kvs],
        "tensors": [tensor_json("t0", QT.F32, [4, 2], t0),
                    tensor_json("t1", QT.Q8_0, [32], Q.dequantize(np.frombuffer(tensors[1][3], np.uint8),
                                                                   QT.Q8_0))]})
    # where things are in the base file
    hdr = 24
    kv_bytes = [len(pstr(k) + struct.pack("<I", t) + pack_value(t, v)) for k, t, v in kvs]
    kv_end = hdr + sum(kv_bytes)
    ti_len = len(pstr("t0")) + 4 + 16 + 12
    data_start = pad(kv_end + ti_len + len(pstr("t1")) + 4 + 8 + 12, 32)
    assert data_start + 32 + 34 == len(base)

    bad("empty", b"", "truncated")
    # below `counted` bytes the kv and tensor counts alone are already impossible
    counted = hdr + 2 * 24 + 4 * 13
    assert hdr + kv_bytes[0] + 10 < counted < kv_end - 1
    for cut, what in [(3, "truncated"), (4, "truncated"), (10, "truncated"), (20, "truncated"),
                      (hdr + 5, "impossible|cannot fit"), (hdr + kv_bytes[0] + 10, "impossible|cannot fit"),
                      (kv_end - 1, "truncated|runs past the end"), (kv_end + 12, "truncated|runs past the end"),
                      (kv_end + ti_len + 3, "truncated|runs past the end"),
                      (data_start - 1, "lies past the end"), (data_start + 20, "lies past the end"),
                      (len(base) - 1, "lies past the end")]:
        bad("trunc_%d" % cut, base[:cut], what)
    bad("bad_magic", b"GGUG" + base[4:], "bad magic")
    bad("bad_magic_ggml", b"lmgg" + base[4:], "bad magic")
    bad("version1", build(kvs, tensors, version=1), "version 1 is not supported")
    bad("version99", build(kvs, tensors, version=99), "unsupported GGUF version 99")
    bad("version0", build(kvs, tensors, version=0), "unsupported GGUF version 0")
    bad("version_bigendian", build(kvs, tensors, version=3 << 24), "byte-swapped")
    bad("tensor_count_huge", build(kvs, tensors, n_tensors=2**60), "tensor count")
    bad("tensor_count_max", build(kvs, tensors, n_tensors=2**64 - 1), "tensor count")
    bad("kv_count_huge", build(kvs, tensors, n_kv=2**62), "kv count")
    left = len(base) - hdr  # each count fits alone, the two together do not
    bad("counts_together", build(kvs, tensors, n_tensors=left // 24, n_kv=left // 13), "cannot fit")
    # the header claims one more kv / tensor than the file holds: the parser
    # reads the next section as if it were one and must fail cleanly
    bad("kv_count_plus1", build(kvs, tensors, n_kv=5), "")
    bad("tensor_count_plus1", build(kvs, tensors, n_tensors=3), "")
    # lengths
    huge_key = struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + struct.pack("<Q", 2**62) + b"abc" + bytes(16)
    bad("key_len_huge", huge_key, "exceeds the 1 GiB limit")
    bad("key_len_past_end", struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + struct.pack("<Q", 1000) + b"k" * 40,
        "runs past the end")
    bad("str_len_huge", build([("s", VT.STRING, "x")], []).replace(struct.pack("<Q", 1) + b"x",
                                                                   struct.pack("<Q", 2**40) + b"x"),
        "exceeds the 1 GiB limit")
    bad("str_len_past_end", build([("s", VT.STRING, "x" * 10)], []).replace(struct.pack("<Q", 10) + b"x" * 10,
                                                                           struct.pack("<Q", 11) + b"x" * 10),
        "runs past the end")

    def arr_raw(et, n, body):
        return struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + pstr("a") + struct.pack("<IIQ", VT.ARRAY, et, n) + body
    bad("array_len_huge", arr_raw(VT.UINT32, 2**61, b"\0" * 64), "array of")
    bad("array_len_max", arr_raw(VT.UINT8, 2**64 - 1, b"\0" * 64), "array of")
    bad("array_str_len_huge", arr_raw(VT.STRING, 2**40, b"\0" * 64), "array of")
    bad("array_arr_len_huge", arr_raw(VT.ARRAY, 2**40, b"\0" * 64), "array of")
    bad("array_len_plus1", arr_raw(VT.UINT32, 5, b"\1\0\0\0" * 4), "array of 5 uint32 values needs at least 20")
    bad("array_bad_elem_type", arr_raw(99, 1, b"\0" * 16), "unknown array element type 99")
    deep = Arr(VT.UINT8, [1])
    for _ in range(20):
        deep = Arr(VT.ARRAY, [deep])
    bad("array_too_deep", build([("d", VT.ARRAY, deep)], []), "nested deeper")
    bad("value_type_13", struct.pack("<4sIQQ", b"GGUF", 3, 0, 1) + pstr("x") + struct.pack("<I", 13) + bytes(16),
        "unknown value type 13")
    # keys
    bad("key_bad_utf8", build([(b"bad\xffkey", VT.UINT8, 1)] + kvs, tensors), "not valid UTF-8")
    bad("key_overlong_utf8", build([(b"\xc0\xaf", VT.UINT8, 1)] + kvs, tensors), "not valid UTF-8")
    bad("key_surrogate", build([(b"\xed\xa0\x80", VT.UINT8, 1)] + kvs, tensors), "not valid UTF-8")
    bad("key_nul", build([(b"a\x00b", VT.UINT8, 1)] + kvs, tensors), "NUL byte")
    bad("dup_key", build(kvs + [("b.u32", VT.UINT32, 8)], tensors), "duplicate key 'b.u32'")
    # alignment
    for nm, t, v, err in [("align0", VT.UINT32, 0, "general.alignment 0 must be a power of two"),
                          ("align48", VT.UINT32, 48, "general.alignment 48 must be a power of two"),
                          ("align_neg", VT.INT32, -32, "general.alignment -32"),
                          ("align_huge", VT.UINT64, 2**40, "must be a power of two between 1 and 2^30"),
                          ("align_str", VT.STRING, "32", "not an integer")]:
        bad(nm, build(kvs + [("general.alignment", t, v)], tensors), err)

    # tensor infos
    def with_tensor(name, ne, qt, nbytes=None, offset=None, place=True):
        data = bytes(nbytes if nbytes is not None else 32)
        return build(kvs, [tensors[0], (name, ne, qt, data, offset, place)])
    bad("ndims5", with_tensor("t5", [1, 1, 1, 1, 1], int(QT.F32), 4), "has 5 dimensions")
    bad("ndims_huge", with_tensor("tn", [], int(QT.F32), 4).replace(pstr("tn") + struct.pack("<I", 0),
                                                                    pstr("tn") + struct.pack("<I", 2**31)),
        "dimensions")
    bad("zero_dim", with_tensor("tz", [4, 0], int(QT.F32), 4), "dimension 1 is 0")
    bad("dim_2p63", with_tensor("tb", [2**63], int(QT.F32), 4), "must be between")
    bad("count_overflow", with_tensor("to", [2**32, 2**32], int(QT.F32), 4), "element count overflows")
    bad("bytes_overflow", with_tensor("tb", [2**31, 2**31], int(QT.F32), 4), "byte size overflows")
    bad("type_unknown", with_tensor("tu", [4], 77, 16), "unknown type 77")
    bad("type_retired", with_tensor("tr", [4], 4, 16), "unknown type 4")
    bad("type_unsupported", with_tensor("ti", [256], 16, 66), "type 16 (IQ2_XXS)")
    bad("type_q8_k", with_tensor("tk", [256], int(QT.Q8_K), 292), "type 15 (Q8_K)")
    bad("ne0_not_block_multiple", with_tensor("tq", [33], int(QT.Q8_0), 34), "not a multiple of the Q8_0 block size 32")
    bad("ne0_q4k_not_multiple", with_tensor("tq", [128, 2], int(QT.Q4_K), 144), "Q4_K block size 256")
    bad("data_past_end", with_tensor("tp", [8], int(QT.F32), 32, offset=1024, place=False),
        "lies past the end of the file")
    bad("data_short", with_tensor("tp", [64], int(QT.F32), 32), "lies past the end of the file")
    bad("data_offset_huge", with_tensor("tp", [8], int(QT.F32), 32, offset=2**64 - 32, place=False),
        "lies past the end")
    bad("data_huge", with_tensor("th", [2**40], int(QT.F32), 32), "lies past the end")
    bad("overlap", build(kvs, [("t0", [16], int(QT.F32), bytes(64), 0), ("t1", [8], int(QT.F32), bytes(32), 32)]),
        "overlap")
    bad("overlap_same", build(kvs, [("t0", [8], int(QT.F32), bytes(32), 0), ("t1", [8], int(QT.F32), bytes(32), 0)]),
        "overlap")
    bad("overlap_reversed", build(kvs, [("t1", [8], int(QT.F32), bytes(32), 32),
                                        ("t0", [16], int(QT.F32), bytes(64), 0)]), "overlap")
    bad("misaligned", with_tensor("tm", [8], int(QT.F32), 32, offset=36), "not a multiple of the alignment 32")
    bad("misaligned_custom", build(kvs + [("general.alignment", VT.UINT32, 64)],
                                   [("t0", [8], int(QT.F32), bytes(32), 0), ("t1", [8], int(QT.F32), bytes(32), 32)]),
        "not a multiple of the alignment 64")
    bad("tensor_name_bad_utf8", with_tensor(b"t\xfe", [8], int(QT.F32), 32), "tensor name is not valid UTF-8")
    bad("tensor_name_nul", with_tensor(b"t\x00x", [8], int(QT.F32), 32), "NUL byte")
    bad("dup_tensor", with_tensor("t0", [8], int(QT.F32), 32), "duplicate tensor name 't0'")

    # split models
    split = sorted(glob.glob(os.path.join(OUT, "split-0000?-of-00003.gguf")))
    for i, p in enumerate(split):  # shard 2 missing
        if i != 1:
            shutil.copy(p, os.path.join(OUT, "splitmiss-%05d-of-00003.gguf" % (i + 1)))
    expect["bad"].append({"file": "splitmiss-00001-of-00003.gguf", "error": "shard 2 of 3 is missing"})
    for i, j in enumerate([0, 2, 1]):  # shards 2 and 3 swapped: split.no disagrees
        shutil.copy(split[j], os.path.join(OUT, "splitswap-%05d-of-00003.gguf" % (i + 1)))
    expect["bad"].append({"file": "splitswap-00001-of-00003.gguf", "error": "do not match shard 2 of 3"})
    expect["bad"].append({"file": "split-00002-of-00003.gguf", "error": "is shard 2 of 3"})
    split_kvs = lambda c, n, t: kvs + [("split.no", VT.UINT16, n), ("split.count", VT.UINT16, c),
                                       ("split.tensors.count", VT.INT32, t)]
    with open(os.path.join(OUT, "splitcount-00001-of-00002.gguf"), "wb") as f:
        f.write(build(split_kvs(3, 0, 2), tensors))
    expect["bad"].append({"file": "splitcount-00001-of-00002.gguf", "error": "split.count is 3 but the name says 2"})
    bad("unsplit_name", build(split_kvs(2, 0, 2), tensors), "other shards cannot be found")
    bad("split_tensor_count", build(kvs + [("split.tensors.count", VT.INT32, 3)], tensors),
        "split.tensors.count is 3")
    with open(os.path.join(OUT, "splitnokey-00001-of-00002.gguf"), "wb") as f:
        f.write(base)
    expect["bad"].append({"file": "splitnokey-00001-of-00002.gguf", "error": "has no split.count key"})


# ------------------------------------------------------------ the real model

def make_model():
    if not os.path.exists(MODEL):
        print("no %s: model.json not written" % MODEL)
        return
    r = gguf.GGUFReader(MODEL)
    kv_keys = [k for k in r.fields if not k.startswith("GGUF.")]
    counts = {}
    for t in r.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    rows = []
    byname = {t.name: t for t in r.tensors}
    for name, row in [("token_embd.weight", 0), ("token_embd.weight", 49151), ("blk.0.attn_q.weight", 0),
                      ("blk.29.ffn_down.weight", 5), ("output_norm.weight", 0)]:
        t = byname[name]
        ne0 = int(t.shape[0])
        raw = np.asarray(t.data).reshape(-1, np.asarray(t.data).shape[-1])[row]
        vals = Q.dequantize(raw.reshape(1, -1), t.tensor_type).reshape(-1) if t.tensor_type != QT.F32 else raw
        assert vals.size == ne0
        rows.append({"tensor": name, "type": int(t.tensor_type), "ne": [int(x) for x in t.shape], "row": row,
                     "values": [float(x) for x in vals]})
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]).decode("utf-8") for i in f.data[:5]]
    model = {
        "path": MODEL, "n_tensors": len(r.tensors), "n_kv": len(kv_keys), "keys": kv_keys,
        "block_count": int(r.fields["llama.block_count"].parts[-1][0]),
        "rope_freq_base": float(r.fields["llama.rope.freq_base"].parts[-1][0]),
        "n_tokens": len(f.data), "first_tokens": tokens,
        "n_merges": len(r.fields["tokenizer.ggml.merges"].data),
        "type_counts": counts, "rows": rows,
    }
    with open(os.path.join(OUT, "model.json"), "w") as fo:
        json.dump(model, fo)


def main():
    os.makedirs(OUT, exist_ok=True)
    for p in glob.glob(os.path.join(OUT, "*")):
        os.remove(p)
    make_valid()
    make_bad()
    make_model()
    with open(os.path.join(OUT, "expect.json"), "w") as f:
        json.dump(expect, f, indent=0, ensure_ascii=True)
    # fuzz seeds: every small file
    os.makedirs(CORPUS, exist_ok=True)
    for p in glob.glob(os.path.join(CORPUS, "*")):
        os.remove(p)
    for p in sorted(glob.glob(os.path.join(OUT, "*.gguf"))):
        if os.path.getsize(p) <= 16384:
            shutil.copy(p, CORPUS)


if __name__ == "__main__":
    main()
