/* test_quant.c - dequantisation and fp16/bf16 conversion against the gguf Python
 * package (fixtures by tools/gen_quant_fixtures.py).
 *
 * Every comparison is bit-exact (0 ulp, sign of zero included): ggml's reference
 * dequantisation is a fixed sequence of fp32 multiplies and adds, which numpy
 * and our C (no FMA contraction under -std=c11) both follow. The one deliberate
 * difference from numpy: a *signalling* fp16 NaN comes back quiet from
 * qt_f16_to_f32 (as from ggml's F16C path); numpy keeps it signalling. The
 * fixtures hold only quiet NaNs, and the sNaN case is checked by hand below. */
#include "quant.h"
#include "test.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t rd32(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Checks one NAME.bin fixture: returns the number of elements compared. */
static int check_case(const char *name, int want_type) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/quant/%s.bin", name);
    size_t len;
    char *buf = ev_read_file(path, &len);
    CHECK(buf != NULL, "%s unreadable", path);
    if (!buf) return 0;
    int ok = len >= 16 && memcmp(buf, "EVQF", 4) == 0;
    CHECK(ok, "%s: bad fixture header", path);
    if (!ok) {
        free(buf);
        return 0;
    }
    int type = (int)rd32(buf + 4);
    uint32_t n = rd32(buf + 8), nbytes = rd32(buf + 12);
    CHECK_EQ_INT(type, want_type);
    CHECK(len == 16 + (size_t)nbytes + 4 * (size_t)n, "%s: size %zu", path, len);
    CHECK(qt_supported(type), "%s: type %d unsupported", name, type);
    CHECK_EQ_INT(qt_row_bytes(type, n), nbytes);
    char upper[16] = {0}; /* fixture names are the ggml names in lower case */
    for (size_t i = 0; name[i] && i < sizeof upper - 1; i++) upper[i] = (char)toupper((unsigned char)name[i]);
    CHECK(qt_name(type) && strcmp(qt_name(type), upper) == 0, "name of type %d", type);
    if (len != 16 + (size_t)nbytes + 4 * (size_t)n || qt_row_bytes(type, n) != nbytes) {
        free(buf);
        return 0;
    }
    float *got = malloc((size_t)n * sizeof *got);
    const char *raw = buf + 16, *want = raw + nbytes;
    for (uint32_t i = 0; i < n; i++) got[i] = -12345.0f; /* every element must be written */
    qt_dequant(type, raw, got, n);
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = rd32(want + 4 * i);
        if (fbits(got[i]) != w) {
            if (bad < 5)
                fprintf(stderr, "  %s[%u]: got %.9g (0x%08x) want %.9g (0x%08x)\n", name, i, got[i],
                        fbits(got[i]), bitsf(w), w);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d of %u elements differ", name, bad, n);
    /* row by row, as model code calls it: a block at a time must agree too */
    int be = qt_block_elems(type);
    size_t bb = qt_block_bytes(type);
    int bad_rows = 0;
    for (uint32_t b = 0; b < n / (uint32_t)be; b++) {
        float one[256];
        qt_dequant(type, raw + b * bb, one, be);
        if (memcmp(one, got + (size_t)b * be, (size_t)be * 4) != 0) bad_rows++;
    }
    CHECK(bad_rows == 0, "%s: %d blocks differ when dequantised alone", name, bad_rows);
    free(got);
    free(buf);
    return (int)n;
}

static void test_fixtures(void) {
    static const struct {
        const char *name;
        int type;
    } cases[] = {
        {"f32", QT_F32}, {"f16", QT_F16}, {"bf16", QT_BF16}, {"q4_0", QT_Q4_0}, {"q4_1", QT_Q4_1},
        {"q5_0", QT_Q5_0}, {"q5_1", QT_Q5_1}, {"q8_0", QT_Q8_0}, {"q2_k", QT_Q2_K}, {"q3_k", QT_Q3_K},
        {"q4_k", QT_Q4_K}, {"q5_k", QT_Q5_K}, {"q6_k", QT_Q6_K},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = check_case(cases[i].name, cases[i].type);
        CHECK(n >= 64, "%s: only %d elements", cases[i].name, n);
    }
}

static void test_conversions(void) {
    size_t len;
    char *buf = ev_read_file("tests/fixtures/quant/convert.bin", &len);
    CHECK(buf != NULL, "convert.bin unreadable");
    if (!buf) return;
    uint32_t n = rd32(buf + 4);
    CHECK(memcmp(buf, "EVQC", 4) == 0 && len == 8 + 8 * (size_t)n, "convert.bin: bad header");
    if (len != 8 + 8 * (size_t)n) {
        free(buf);
        return;
    }
    int bad16 = 0, badbf = 0, badback = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *r = buf + 8 + 8 * i;
        uint32_t u = rd32(r);
        uint16_t h, bf;
        memcpy(&h, r + 4, 2);
        memcpy(&bf, r + 6, 2);
        float f = bitsf(u);
        uint16_t got = qt_f32_to_f16(f);
        /* NaN payloads differ between numpy and F16C; only NaN-ness is defined */
        int ok16 = isnan(f) ? ((got & 0x7c00) == 0x7c00 && (got & 0x3ff) != 0) : got == h;
        if (!ok16 && bad16++ < 5) fprintf(stderr, "  f16(0x%08x): got 0x%04x want 0x%04x\n", u, got, h);
        uint16_t gb = qt_f32_to_bf16(f);
        if (gb != bf && badbf++ < 5) fprintf(stderr, "  bf16(0x%08x): got 0x%04x want 0x%04x\n", u, gb, bf);
        /* half -> float -> half is the identity on non-NaN halves */
        if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0)
            if (qt_f32_to_f16(qt_f16_to_f32(h)) != h) badback++;
    }
    CHECK(bad16 == 0, "%d of %u fp32->fp16 conversions differ from numpy", bad16, n);
    CHECK(badbf == 0, "%d of %u fp32->bf16 conversions differ from gguf.quants", badbf, n);
    CHECK(badback == 0, "%d fp16 round trips changed the value", badback);
    free(buf);
}

/* Every one of the 65536 halves, through fp32 and back. */
static void test_f16_exhaustive(void) {
    int bad = 0, badbf = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qt_f16_to_f32((uint16_t)h);
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
        if (nan) {
            /* quiet NaN of the same sign, payload kept, quiet bit set */
            uint32_t want = ((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13) | 0x400000u;
            if (fbits(f) != want) bad++;
        } else if (qt_f32_to_f16(f) != h) {
            bad++;
        }
        /* bf16 -> fp32 -> bf16 is the identity except that NaNs become quiet */
        float g = qt_bf16_to_f32((uint16_t)h);
        uint16_t back = qt_f32_to_bf16(g);
        int bnan = (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
        if (bnan ? back != (h | 0x40) : back != h) badbf++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(badbf == 0, "%d bf16 values do not round-trip", badbf);
    /* values worth naming */
    CHECK(fbits(qt_f16_to_f32(0x0001)) == fbits(0x1p-24f), "smallest subnormal");
    CHECK(fbits(qt_f16_to_f32(0x03ff)) == fbits(1023 * 0x1p-24f), "largest subnormal");
    CHECK(qt_f16_to_f32(0x7bff) == 65504.0f, "max half");
    CHECK(isinf(qt_f16_to_f32(0xfc00)) && qt_f16_to_f32(0xfc00) < 0, "-inf");
    CHECK(fbits(qt_f16_to_f32(0x8000)) == 0x80000000u, "-0");
    CHECK(fbits(qt_f16_to_f32(0x7c01)) == 0x7fc02000u, "sNaN comes back quiet");
    CHECK_EQ_INT(qt_f32_to_f16(65519.996f), 0x7bff);
    CHECK_EQ_INT(qt_f32_to_f16(65520.0f), 0x7c00);
    CHECK_EQ_INT(qt_f32_to_f16(0x1p-25f), 0x0000);   /* tie to even: 0 */
    CHECK_EQ_INT(qt_f32_to_f16(0x1.8p-24f), 0x0002); /* tie to even: 2 */
    CHECK_EQ_INT(qt_f32_to_f16(-0x1p-24f), 0x8001);
    CHECK_EQ_INT(qt_f32_to_bf16(bitsf(0x7f800001u)), 0x7fc0);
}

static void test_sizes(void) {
    /* block sizes from ggml-common.h */
    static const struct {
        int type, elems, bytes;
    } s[] = {
        {QT_F32, 1, 4}, {QT_F16, 1, 2}, {QT_BF16, 1, 2}, {QT_Q4_0, 32, 18}, {QT_Q4_1, 32, 20},
        {QT_Q5_0, 32, 22}, {QT_Q5_1, 32, 24}, {QT_Q8_0, 32, 34}, {QT_Q2_K, 256, 84}, {QT_Q3_K, 256, 110},
        {QT_Q4_K, 256, 144}, {QT_Q5_K, 256, 176}, {QT_Q6_K, 256, 210},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        CHECK_EQ_INT(qt_block_elems(s[i].type), s[i].elems);
        CHECK_EQ_INT(qt_block_bytes(s[i].type), s[i].bytes);
        CHECK_EQ_INT(qt_row_bytes(s[i].type, 4096), 4096 / s[i].elems * s[i].bytes);
    }
    CHECK_EQ_INT(qt_row_bytes(QT_Q4_K, 255), 0);
    CHECK_EQ_INT(qt_row_bytes(QT_Q8_0, -32), 0);
    CHECK_EQ_INT(qt_row_bytes(QT_F32, INT64_MAX), 0); /* overflow */
    CHECK(!qt_supported(QT_Q8_K) && !qt_supported(16) && !qt_supported(4) && !qt_supported(-1) &&
              !qt_supported(QT_COUNT) && !qt_supported(1000),
          "unsupported types");
    CHECK_EQ_STR(qt_name(16), "IQ2_XXS");
    CHECK(qt_name(4) == NULL && qt_name(-3) == NULL && qt_name(QT_COUNT) == NULL, "no names for unknown numbers");
    CHECK_EQ_INT(qt_block_elems(QT_Q8_K), 0);
}

int main(void) {
    test_sizes();
    test_fixtures();
    test_conversions();
    test_f16_exhaustive();
    return test_done("quant");
}
