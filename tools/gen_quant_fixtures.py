#!/usr/bin/env python3
"""gen_quant_fixtures.py - writes tests/fixtures/quant/*.bin, the oracle for tests/test_quant.c.

For each ggml type evalctl dequantises, a few blocks of quantised bytes and the
float32 values the `gguf` Python package (gguf.quants.dequantize, numpy) gives for
them. The bytes are partly random (every bit pattern of the quantised fields, with
the fp16 scales replaced by random *finite* halves, subnormals included) and,
where the package can quantise the type, partly real quantisations of random
floats.

Also convert.bin: float32 inputs with their fp16 (numpy astype, round to nearest
even) and bf16 (gguf.quants BF16, as ggml_compute_fp32_to_bf16) encodings, edge
cases first.

File format (little-endian), one file per type, NAME.bin:
    "EVQF" | u32 type | u32 n_elems | u32 n_bytes | n_bytes raw | n_elems x f32
convert.bin:
    "EVQC" | u32 count | count x { u32 f32 bits | u16 f16 bits | u16 bf16 bits }

Run from the repository root:  python3 tools/gen_quant_fixtures.py
"""
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES
import gguf.quants as Q

OUT = "tests/fixtures/quant"
rng = np.random.default_rng(20250511)

# byte offsets of the fp16 fields inside one block, per ggml-common.h
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
QUANTISABLE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}


def finite_halves(n):
    """Random fp16 bit patterns with exponent != 31 (no inf/nan); about 1 in 32
    is subnormal or zero."""
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    bad = (h & 0x7C00) == 0x7C00
    h[bad] &= 0xBFFF  # clear the top exponent bit: now finite
    return h


def random_blocks(qt, n_blocks):
    _, bsz = GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, size=(n_blocks, bsz), dtype=np.uint16).astype(np.uint8)
    for off in HALF_FIELDS[qt]:
        raw[:, off:off + 2] = finite_halves(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def write_case(name, qt, raw, expect):
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    expect = np.ascontiguousarray(expect, dtype=np.float32).reshape(-1)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(b"EVQF" + struct.pack("<III", int(qt), expect.size, raw.size))
        f.write(raw.tobytes())
        f.write(expect.tobytes())


def quant_types():
    for qt in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        blk, _ = GGML_QUANT_SIZES[qt]
        n_rand = 8 if blk == 32 else 4
        parts = [random_blocks(qt, n_rand)]
        if qt in QUANTISABLE:
            x = rng.standard_normal((2, blk * 4)).astype(np.float32) * np.float32(3.0)
            x[1, :blk] = 0.0  # an all-zero block: d = 0
            parts.append(Q.quantize(x, qt).reshape(-1, GGML_QUANT_SIZES[qt][1]))
        raw = np.concatenate(parts, axis=0)
        expect = Q.dequantize(raw.reshape(1, -1), qt)
        assert expect.dtype == np.float32 and np.all(np.isfinite(expect))
        write_case(qt.name.lower(), qt, raw, expect)


def float_types():
    # F32: random bit patterns (memcpy semantics), no NaN so equality is plain
    f = rng.standard_normal(64).astype(np.float32) * np.float32(1e3)
    write_case("f32", T.F32, f.view(np.uint8), f)

    # F16: every class: zeros, subnormals, normals, max, inf, quiet NaNs with payload
    edge = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                     0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7E01, 0x7FFF, 0x3555, 0x0200], dtype=np.uint16)
    rnd = finite_halves(46)
    h = np.concatenate([edge, rnd])
    write_case("f16", T.F16, h.view(np.uint8), h.view(np.float16).astype(np.float32))

    # BF16: dequantisation is a 16-bit shift, so every pattern (NaNs too) is exact
    b = np.concatenate([np.array([0x0000, 0x8000, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x3F80],
                                 dtype=np.uint16),
                        rng.integers(0, 1 << 16, size=56, dtype=np.uint32).astype(np.uint16)])
    exp = Q.dequantize(b.view(np.uint8).reshape(1, -1), T.BF16)
    write_case("bf16", T.BF16, b.view(np.uint8), exp)


def conversions():
    def bits(x):
        return np.array(x, dtype=np.float32).view(np.uint32)

    f2 = lambda e: float(2.0 ** e)
    edge = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.996, 65520.0, -65520.0, 65536.0, 1e10, -1e10,
            float("inf"), float("-inf"),
            f2(-14), f2(-14) - f2(-25), f2(-14) - f2(-26), f2(-24), f2(-25), -f2(-25),
            1.5 * f2(-25), 1.0000001 * f2(-25), 0.9999999 * f2(-25), 3 * f2(-25), 5 * f2(-25),
            f2(-26), f2(-40), 1e-45, 1.0009765625, 1.00048828125, 1.00146484375, 0.1, 1.0 / 3.0,
            2049.0, 2051.0, 4097.0]
    e = bits(edge)
    # ties for fp16 rounding: mantissas whose low 13 bits are exactly 0x1000
    ties = ((rng.integers(103, 143, size=40, dtype=np.uint32) << 23)
            | (rng.integers(0, 1 << 10, size=40, dtype=np.uint32) << 13) | 0x1000)
    ties |= rng.integers(0, 2, size=40, dtype=np.uint32) << 31
    # random bit patterns over the exponents that matter for fp16 (subnormal .. overflow)
    rnd = ((rng.integers(95, 146, size=300, dtype=np.uint32) << 23)
           | rng.integers(0, 1 << 23, size=300, dtype=np.uint32))
    rnd |= rng.integers(0, 2, size=300, dtype=np.uint32) << 31
    # anything at all (bf16 rounding, its NaN handling)
    wild = rng.integers(0, 1 << 32, size=200, dtype=np.uint64).astype(np.uint32)
    u = np.concatenate([e, ties, rnd, wild]).astype(np.uint32)
    f = u.view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        h = f.astype(np.float16).view(np.uint16)
    bf = Q.quantize(f.reshape(1, -1), T.BF16).view(np.uint16).reshape(-1)
    with open(os.path.join(OUT, "convert.bin"), "wb") as out:
        out.write(b"EVQC" + struct.pack("<I", u.size))
        for a, b_, c in zip(u.tolist(), h.tolist(), bf.tolist()):
            out.write(struct.pack("<IHH", a, b_, c))


def main():
    os.makedirs(OUT, exist_ok=True)
    quant_types()
    float_types()
    conversions()


if __name__ == "__main__":
    main()
