/* quant.c - ggml tensor element types: sizes, names, and dequantisation to fp32.
 *
 * The block layouts and the arithmetic follow ggml (ggml-common.h, the reference
 * dequantize_row_* in ggml-quants.c) so that our floats are bit-identical to
 * llama.cpp's and to the gguf Python package's (tests/test_quant.c checks this
 * against fixtures the Python package wrote). Bit-identical needs care with the
 * order of float operations: every value is computed as ggml does it, e.g.
 * Q4_K's y = (d*sc)*q - (dmin*m), never refactored into d*(sc*q) or an FMA.
 * GCC does not contract a*b+c into an FMA in ISO C mode (-std=c11 implies
 * -ffp-contract=off), which the Makefile uses.
 *
 * All multi-byte fields are little-endian; we read them with memcpy, so this file
 * assumes a little-endian host (x86-64, aarch64). */
#include "quant.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "quant.c reads little-endian block fields with memcpy"
#endif

#define QK 32    /* elements per block, legacy quants */
#define QK_K 256 /* elements per super-block, k-quants */

/* ------------------------------------------------------------------- type table */

typedef struct {
    const char *name;
    int block_elems; /* 0: evalctl cannot dequantise it */
    int block_bytes;
} type_info;

/* Indexed by ggml type number; numbers ggml retired (4, 5, 31-33, 36-38) stay empty. */
static const type_info types[QT_COUNT] = {
    [QT_F32] = {"F32", 1, 4},
    [QT_F16] = {"F16", 1, 2},
    [QT_Q4_0] = {"Q4_0", QK, 2 + QK / 2},
    [QT_Q4_1] = {"Q4_1", QK, 2 + 2 + QK / 2},
    [QT_Q5_0] = {"Q5_0", QK, 2 + 4 + QK / 2},
    [QT_Q5_1] = {"Q5_1", QK, 2 + 2 + 4 + QK / 2},
    [QT_Q8_0] = {"Q8_0", QK, 2 + QK},
    [QT_Q8_1] = {"Q8_1", 0, 0}, /* ggml's matmul intermediate, never stored */
    [QT_Q2_K] = {"Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2},
    [QT_Q3_K] = {"Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2},
    [QT_Q4_K] = {"Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2},
    [QT_Q5_K] = {"Q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2},
    [QT_Q6_K] = {"Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2},
    [QT_Q8_K] = {"Q8_K", 0, 0}, /* intermediate too */
    [16] = {"IQ2_XXS", 0, 0},
    [17] = {"IQ2_XS", 0, 0},
    [18] = {"IQ3_XXS", 0, 0},
    [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0},
    [21] = {"IQ3_S", 0, 0},
    [22] = {"IQ2_S", 0, 0},
    [23] = {"IQ4_XS", 0, 0},
    [24] = {"I8", 0, 0},
    [25] = {"I16", 0, 0},
    [26] = {"I32", 0, 0},
    [27] = {"I64", 0, 0},
    [28] = {"F64", 0, 0},
    [29] = {"IQ1_M", 0, 0},
    [QT_BF16] = {"BF16", 1, 2},
    [34] = {"TQ1_0", 0, 0},
    [35] = {"TQ2_0", 0, 0},
    [39] = {"MXFP4", 0, 0},
};

int qt_supported(int type) {
    return type >= 0 && type < QT_COUNT && types[type].block_elems > 0;
}

const char *qt_name(int type) {
    return type >= 0 && type < QT_COUNT ? types[type].name : NULL;
}

int qt_block_elems(int type) {
    return qt_supported(type) ? types[type].block_elems : 0;
}

size_t qt_block_bytes(int type) {
    return qt_supported(type) ? (size_t)types[type].block_bytes : 0;
}

size_t qt_row_bytes(int type, int64_t n) {
    if (!qt_supported(type) || n < 0) return 0;
    int64_t be = types[type].block_elems;
    if (n % be != 0) return 0;
    uint64_t blocks = (uint64_t)(n / be);
    if (blocks > SIZE_MAX / (size_t)types[type].block_bytes) return 0;
    return (size_t)blocks * (size_t)types[type].block_bytes;
}

/* ------------------------------------------------------------- scalar formats */

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t bits_from_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Exact: every fp16 value is representable in fp32. A signalling NaN comes back
 * quiet (bit 22 set), as the F16C instruction ggml uses on x86 returns it. */
float qt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp != 0) return f32_from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    /* zero or subnormal: mant * 2^-24, exact in fp32 */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

uint16_t qt_f32_to_f16(float f) {
    uint32_t x = bits_from_f32(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); /* quiet NaN */
    /* 65520 and up (the halfway point past 65504, the largest half) round to inf */
    if (ax >= 0x477ff000) return sign | 0x7c00;
    if (ax < 0x38800000) { /* below 2^-14: a half subnormal or zero */
        if (ax <= 0x33000000) return sign; /* at most 2^-25: rounds (to even) to zero */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* value / 2^-24 = m >> shift, shift in 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++; /* may become 0x400, the smallest normal */
        return (uint16_t)(sign | r);
    }
    uint32_t v = ax - ((127u - 15u) << 23);
    uint32_t r = v >> 13, rem = v & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* a carry into the exponent is right */
    return (uint16_t)(sign | r);
}

float qt_bf16_to_f32(uint16_t h) {
    return f32_from_bits((uint32_t)h << 16);
}

/* As ggml_compute_fp32_to_bf16: NaNs made quiet, everything else rounded to
 * nearest even (subnormals kept). */
uint16_t qt_f32_to_bf16(float f) {
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return qt_f16_to_f32(h);
}

/* ------------------------------------------------------------ legacy 32-quants */

/* Q4_0: { half d; u8 qs[16] }. Element j < 16 is the low nibble of qs[j],
 * element j + 16 the high nibble; value (q - 8) * d. */
static void deq_q4_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = half_at(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((qs[j] & 0x0f) - 8) * d;
            y[j + QK / 2] = (float)((qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: { half d; half m; u8 qs[16] }; value q * d + m. */
static void deq_q4_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        float d = half_at(b), m = half_at(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(qs[j] & 0x0f) * d + m;
            y[j + QK / 2] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0: { half d; u8 qh[4]; u8 qs[16] }. Bit j of the little-endian u32 qh is
 * the fifth bit of element j; value (q - 16) * d. */
static void deq_q5_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 22, y += QK) {
        float d = half_at(b);
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < QK / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[j] = (float)(((qs[j] & 0x0f) | (h0 << 4)) - 16) * d;
            y[j + QK / 2] = (float)(((qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

/* Q5_1: { half d; half m; u8 qh[4]; u8 qs[16] }; value q * d + m. */
static void deq_q5_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 24, y += QK) {
        float d = half_at(b), m = half_at(b + 2);
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < QK / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[j] = (float)((qs[j] & 0x0f) | (h0 << 4)) * d + m;
            y[j + QK / 2] = (float)((qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

/* Q8_0: { half d; i8 qs[32] }; value q * d. */
static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        float d = half_at(b);
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
    }
}

/* ------------------------------------------------------------------- k-quants */

/* Q2_K: { u8 scales[16]; u8 qs[64]; half d; half dmin }. Sixteen groups of 16;
 * scales[g] holds the group's 4-bit scale (low) and 4-bit min (high). Element
 * e = 128h + 32s + l (h < 2, s < 4, l < 32) is bits 2s..2s+1 of qs[32h + l];
 * value (d * sc) * q - (dmin * m). */
static void deq_q2_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 84, y += QK_K) {
        const uint8_t *sc = b, *qs = b + 16;
        float d = half_at(b + 80), dmin = half_at(b + 82);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++) {
                int e0 = 128 * h + 32 * s;
                for (int half = 0; half < 2; half++) {
                    int g = (e0 + 16 * half) / 16;
                    float dl = d * (float)(sc[g] & 0x0f), ml = dmin * (float)(sc[g] >> 4);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        y[e0 + l] = dl * (float)((qs[32 * h + l] >> (2 * s)) & 3) - ml;
                }
            }
    }
}

/* Q3_K: { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d }. Sixteen 6-bit signed
 * scales (offset 32): the low 4 bits of scale g are nibble g%8 of scales[0..7]
 * (low nibbles first), the high 2 bits are bits 2(g/4).. of scales[8 + g%4].
 * Element e = 128h + 32s + l takes its low 2 bits from qs as in Q2_K; bit
 * e/32 of hmask[l] set means +0, clear means -4. Value (d * (sc - 32)) * q. */
static void deq_q3_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 110, y += QK_K) {
        const uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
        float d = half_at(b + 108);
        float dl[16];
        for (int g = 0; g < 16; g++) {
            int lo = g < 8 ? (sc[g] & 0x0f) : (sc[g - 8] >> 4);
            int hi = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
            dl[g] = d * (float)((lo | (hi << 4)) - 32);
        }
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, s = (e / 32) % 4, l = e % 32;
            int q = (qs[32 * h + l] >> (2 * s)) & 3;
            q -= (hm[l] >> (e / 32)) & 1 ? 0 : 4;
            y[e] = dl[e / 16] * (float)q;
        }
    }
}

/* The 12 bytes of Q4_K/Q5_K scales hold eight 6-bit scales and eight 6-bit mins:
 * for j < 4 the low 6 bits of bytes j and j+4; for j >= 4 a nibble of byte j+4
 * plus the top 2 bits of byte j-4 (scale) or j (min). */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K: { half d; half dmin; u8 scales[12]; u8 qs[128] }. Eight groups of 32;
 * groups 2k and 2k+1 are the low and high nibbles of qs[32k..32k+31]. */
static void deq_q4_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144, y += QK_K) {
        float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *scales = b + 4, *qs = b + 16;
        for (int k = 0; k < 4; k++) {
            int sc0, m0, sc1, m1;
            scale_min_k4(2 * k, scales, &sc0, &m0);
            scale_min_k4(2 * k + 1, scales, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            const uint8_t *q = qs + 32 * k;
            float *o = y + 64 * k;
            for (int l = 0; l < 32; l++) o[l] = d0 * (float)(q[l] & 0x0f) - mm0;
            for (int l = 0; l < 32; l++) o[l + 32] = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

/* Q5_K: { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: Q4_K plus a
 * fifth bit for element 32g + l in bit g of qh[l]. */
static void deq_q5_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 176, y += QK_K) {
        float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
        for (int k = 0; k < 4; k++) {
            int sc0, m0, sc1, m1;
            scale_min_k4(2 * k, scales, &sc0, &m0);
            scale_min_k4(2 * k + 1, scales, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            const uint8_t *q = qs + 32 * k;
            float *o = y + 64 * k;
            for (int l = 0; l < 32; l++)
                o[l] = d0 * (float)((q[l] & 0x0f) | (((qh[l] >> (2 * k)) & 1) << 4)) - mm0;
            for (int l = 0; l < 32; l++)
                o[l + 32] = d1 * (float)((q[l] >> 4) | (((qh[l] >> (2 * k + 1)) & 1) << 4)) - mm1;
        }
    }
}

/* Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d }. Two halves of 128;
 * in half h, element 32s + l (s < 4) takes its low 4 bits from ql[64h + l + 32(s&1)]
 * (low nibble for s < 2, high for s >= 2) and its top 2 bits from bits 2s.. of
 * qh[32h + l]; value (d * scales[e/16]) * (q - 32). */
static void deq_q6_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210, y += QK_K) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = half_at(b + 208);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++) {
                int e0 = 128 * h + 32 * s;
                float ds0 = d * (float)sc[e0 / 16], ds1 = d * (float)sc[e0 / 16 + 1];
                for (int l = 0; l < 32; l++) {
                    int lo = ql[64 * h + l + 32 * (s & 1)];
                    lo = s < 2 ? (lo & 0x0f) : (lo >> 4);
                    int q = (lo | (((qh[32 * h + l] >> (2 * s)) & 3) << 4)) - 32;
                    y[e0 + l] = (l < 16 ? ds0 : ds1) * (float)q;
                }
            }
    }
}

/* ------------------------------------------------------------------ dispatch */

void qt_dequant(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    if (n <= 0 || !qt_supported(type)) return;
    int64_t nb = n / types[type].block_elems;
    switch (type) {
    case QT_F32: memcpy(dst, src, (size_t)n * 4); break;
    case QT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = half_at(b + 2 * i);
        break;
    case QT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = qt_bf16_to_f32(h);
        }
        break;
    case QT_Q4_0: deq_q4_0(b, dst, nb); break;
    case QT_Q4_1: deq_q4_1(b, dst, nb); break;
    case QT_Q5_0: deq_q5_0(b, dst, nb); break;
    case QT_Q5_1: deq_q5_1(b, dst, nb); break;
    case QT_Q8_0: deq_q8_0(b, dst, nb); break;
    case QT_Q2_K: deq_q2_k(b, dst, nb); break;
    case QT_Q3_K: deq_q3_k(b, dst, nb); break;
    case QT_Q4_K: deq_q4_k(b, dst, nb); break;
    case QT_Q5_K: deq_q5_k(b, dst, nb); break;
    case QT_Q6_K: deq_q6_k(b, dst, nb); break;
    default: break;
    }
}
