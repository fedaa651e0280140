/* attn.cu - prefill and decode attention on tensor cores for every variant of
 * src/attention.h (the CUDA twin of src/attention.c; API in attn.h).
 *
 * TWO KERNELS: attn_wg<HD> (Hopper wgmma, 128-row tiles; its comment is
 * further down) serves large prefill launches unless EVALCTL_ATTN_KERNEL=mma
 * or cuda_attn_set_kernel(CUDA_ATTN_MMA) picks attn_fwd<HD, 2> for them; all
 * other launches (64-row tiles, split-KV, decode) use attn_fwd. Both walk
 * the same key tiles with the same mask, softmax and epilogue.
 *
 * attn_fwd<HD, MT>, FlashAttention-2 style:
 *   - a CTA of 4 warps owns a query tile of BM = 64*MT rows of one head (or of
 *     2^hp_shift heads sharing a kv head, see "rows" below); warp w owns rows
 *     w*16*MT .. +16*MT, i.e. MT m16 tiles. It walks key tiles of BN = 64 keys
 *     in increasing order, K and V double-buffered in shared memory by cp.async
 *     (tile t+1 loads while tile t computes), with an XOR swizzle of 16-byte
 *     chunks so that ldmatrix reads are free of bank conflicts.
 *   - S = Q K^T with mma.sync m16n8k16 (bf16 in, fp32 accumulate), fragments by
 *     ldmatrix (.trans for V); online softmax in fp32 with ex2.approx on scores
 *     prescaled by log2(e)/sqrt(HD); P goes back into the PV mma as bf16 straight
 *     from the accumulator registers; the softmax denominator sums the same
 *     bf16-rounded P the numerator uses, so the weights sum to one exactly.
 *   - MT = 2 (128-row tiles, FA2's choice for the H100): each K/V fragment read
 *     from shared memory feeds two m16 tiles, halving shared-memory traffic per
 *     mma, which otherwise caps mma.sync near 0.5 mma/clock/SM; Q fragments are
 *     re-read per k-step when they do not fit next to the 128-float accumulator
 *     (HD = 128). MT = 1 (64 rows, Q in registers) serves small launches
 *     (decode, few anchors), where rows are scarce. cuda_attn_set_tile_rows picks
 *     the prefill tile (bench --tile) so the two can be measured.
 *
 * THE MASK: every row i has a kind from its position (row_kind): sparse base
 * (sink+window or block) below dense_from, dense up to dec_from (= S, the
 * prompt), then the decode kind (dense, or sink+window with decode_sparse).
 * Row i sees key j iff j <= i && (j < a || j >= b) with (a, b) = (0, 0) dense,
 * (sink, i - window + 1) sink+window, (block, i / block * block) block. A query
 * tile visits the union of its rows' key ranges, at most two runs of key tiles
 * [0, A) and [B, pmax] (key_tiles), so sparse bases cost O(sink + window) or
 * O(2 block) per row; the element mask is applied only on tiles where some row
 * of the tile does not see every key (need_mask). A row that sees nothing in a
 * tile leaves its state bit-identical (correction exp2(0) = 1, P = 0), so a
 * row's result does not depend on which rows share its tile: chunked prefill
 * equals one chunk bit for bit, except where split-KV (below) sums in another
 * order.
 *
 * ROWS: a launch covers n_rows query rows idx = 0 .. n_rows-1 at positions
 * rpos0 + idx * pstride (pstride 1: a chunk; pstride gamma: the +delta anchors,
 * read in place from q, no gather copy), for every head. Tile row r is
 * (idx = tile_first + (r >> hp_shift), head = group * 2^hp_shift + (r & mask)):
 * small launches pack the heads of one GQA group into a tile, so a decode step
 * of one token fills 4 or 8 rows of one tile and reads each K/V tile once for
 * the whole group.
 *
 * SPLIT-KV (flash decoding): launches with n_rows <= SPLIT_ROWS that would not
 * fill the GPU cut each tile's key-tile list into n_splits slices (grid z); the
 * slices write unnormalised partial outputs and their (max, sum) to the
 * workspace, and attn_combine merges them. Used for decode rows, small chunks
 * without +delta anchors and the dense anchor pass of small chunks.
 *
 * +DELTA per chunk (cuda_attn_layer): anchors g*gamma in [pos0, min(end, P))
 * run twice through the same kernel in strided-rows mode: dense (fp32 into
 * the workspace) and then sparse, whose epilogue turns the workspace into
 * Delta = dense - sparse (fp32). The main pass over the chunk's rows then adds
 * Delta(i / gamma) in fp32 to each row i < P before its one rounding to bf16;
 * rows of a group anchored in an earlier chunk read the caller's `delta`
 * buffer, which gets the chunk's last Delta afterwards. (Keeping the sparse
 * output of the chunk in fp32 instead would need 4 * n_q * H * HD bytes, 16 GB
 * at 1M tokens; computing the anchors' sparse rows twice costs 1/gamma of the
 * sparse pass.) +RECOMPUTE: the main pass, then the dense anchor pass writing
 * bf16 over those rows of `out`.
 * An anchor row adds Delta to its own sparse row, sparse + (dense - sparse),
 * which cancels (leaving dense, as on the CPU) only if the anchor pass's
 * sparse row has the same bits as the main pass's (attn_fwd for both; with
 * attn_wg for the main pass, up to fp32 summation order): so neither pass
 * splits its keys when the chunk has anchors. (Split-KV rounds P to bf16 against
 * each slice's own max, not the running max: with 300-row chunks the
 * sparse anchor pass took 2 slices and anchor rows missed dense by up to
 * 1.2x the test's bound, their dense row being smaller than the sparse
 * rows that should have cancelled.)
 *
 * Everything runs on the caller's stream; no host synchronisation. */
extern "C" {
#include "attention.h"
#include "util.h"
}
#include "attn.h"
#include "cuda_check.h"

#include <cuda.h> /* CUtensorMap (the encoder comes through the runtime: nothing links libcuda) */
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace {

typedef __nv_bfloat16 bf16;

constexpr int BN = 64;          /* keys per tile */
constexpr int NTHREADS = 128;   /* 4 warps */
constexpr int SPLIT_ROWS = 64;  /* launches of at most this many rows may split the keys */
constexpr int MAX_SPLITS = 32;

enum { MK_DENSE = 0, MK_SINKWIN = 1, MK_BLOCK = 2 };
enum { OUT_BF16 = 0, OUT_F32 = 1, OUT_F32_SUB = 2 };

struct Params {
    const bf16 *q;           /* row idx, head h: q + idx * q_stride + h * HD */
    long long q_stride;
    const bf16 *k, *v;       /* key j, kv head g: k + j * kv_stride + g * HD */
    int kv_stride;
    int n_rows, rpos0, pstride; /* row idx is at position rpos0 + idx * pstride */
    int n_heads, rep, hp_shift, n_qtiles;
    /* the mask (see the top of the file) */
    int base_kind, dense_from, dec_from, dec_kind;
    int sink, window, block;
    float scale_log2;        /* log2(e) / sqrt(HD) */
    /* the epilogue */
    int out_mode;            /* OUT_*: bf16 out, fp32 out, fp32 out -= result */
    void *out;               /* row idx, head h: out + idx * out_stride + h * HD */
    long long out_stride;
    int delta_lim, gamma, g_first; /* rows at positions < delta_lim add Delta(pos / gamma) */
    const float *delta_ws;   /* Delta of groups g >= g_first: [g - g_first][n_heads][HD] */
    const float *delta_carry; /* Delta of group g_first - 1: [n_heads][HD] */
    /* split-KV */
    int n_splits;
    float *part_o;           /* [split][idx][head][HD], unnormalised */
    float *part_ml;          /* [split][idx][head][2]: max (log2 units), sum */
};

/* ------------------------------------------------------------------ masks */

__host__ __device__ inline int region_of(const Params &p, int pos) {
    return pos >= p.dec_from ? 2 : pos >= p.dense_from ? 1 : 0;
}

__host__ __device__ inline int kind_of_region(const Params &p, int r) {
    return r == 0 ? p.base_kind : r == 1 ? MK_DENSE : p.dec_kind;
}

/* Row `pos` of kind `kind` sees key j iff j <= pos && (j < a || j >= b). */
__host__ __device__ inline void row_ab(const Params &p, int kind, int pos, int &a, int &b) {
    if (kind == MK_SINKWIN) {
        a = p.sink;
        b = pos - p.window + 1;
    } else if (kind == MK_BLOCK) {
        a = p.block;
        b = pos / p.block * p.block;
    } else {
        a = 0;
        b = 0;
    }
}

/* The key tiles a query tile with rows at positions pmin .. pmax visits: tiles
 * [0, n0) and [s1, e1); iteration index it maps to it < n0 ? it : s1 + it - n0.
 * The union over the tile's rows of their visible keys is [0, A) U [B, pmax],
 * A the largest `a`, B the smallest `b` (b grows with the position, so the
 * smallest is at the first position of each region). */
__host__ __device__ inline void key_tiles(const Params &p, int pmin, int pmax, int &n0, int &s1, int &e1) {
    int A = 0, B = pmax + 1;
    int r0 = region_of(p, pmin), r1 = region_of(p, pmax);
    for (int r = r0; r <= r1; r++) {
        if (r == 1 && p.dense_from >= p.dec_from) continue; /* empty region */
        int start = r == 0 ? pmin : (r == 1 ? p.dense_from : p.dec_from);
        if (start < pmin) start = pmin;
        int a, b;
        row_ab(p, kind_of_region(p, r), start, a, b);
        if (a > A) A = a;
        if (b < B) B = b;
    }
    if (A > pmax + 1) A = pmax + 1;
    if (B < 0) B = 0;
    int lo_end = (A + BN - 1) / BN, hi_start = B / BN;
    e1 = pmax / BN + 1;
    if (lo_end >= hi_start) {
        n0 = 0;
        s1 = 0;
    } else {
        n0 = lo_end;
        s1 = hi_start;
    }
}

/* ------------------------------------------------------------ PTX helpers */

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; src_bytes 0 fills the destination with zeros */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* d += a b, m16n8k16, bf16 inputs, fp32 accumulators */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* two floats -> packed bf16x2 (lo in the low half), and the rounded values back */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi, float &rlo, float &rhi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    float2 f = __bfloat1622float2(h);
    rlo = f.x;
    rhi = f.y;
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

/* Byte offset of 16-byte chunk `ch` of row `row` in a [rows][HD] bf16 tile:
 * chunks are XOR-swizzled by row % 8, so the 8 rows an ldmatrix phase reads
 * (same logical chunk, consecutive rows) fall in 8 different bank groups. */
template <int HD> __device__ __forceinline__ uint32_t swz(int row, int ch) {
    return (uint32_t)(row * (HD * 2) + ((ch ^ (row & 7)) << 4));
}

/* ------------------------------------------------------------- epilogue */

/* Final value of columns col, col+1 of (row idx, head): adds Delta where the
 * row takes it, then stores as the launch's output mode says. */
template <int HD>
__device__ __forceinline__ void store_out(const Params &p, int idx, int head, int col, float v0, float v1) {
    int pos = p.rpos0 + idx * p.pstride;
    if (pos < p.delta_lim) {
        int g = pos / p.gamma;
        const float *d = g >= p.g_first ? p.delta_ws + (size_t)(g - p.g_first) * p.n_heads * HD : p.delta_carry;
        float2 dd = *reinterpret_cast<const float2 *>(d + (size_t)head * HD + col);
        v0 += dd.x;
        v1 += dd.y;
    }
    size_t off = (size_t)idx * (size_t)p.out_stride + (size_t)head * HD + col;
    if (p.out_mode == OUT_BF16) {
        *reinterpret_cast<__nv_bfloat162 *>(static_cast<bf16 *>(p.out) + off) = __floats2bfloat162_rn(v0, v1);
    } else {
        float2 *o = reinterpret_cast<float2 *>(static_cast<float *>(p.out) + off);
        if (p.out_mode == OUT_F32) {
            *o = make_float2(v0, v1);
        } else {
            float2 x = *o;
            *o = make_float2(x.x - v0, x.y - v1);
        }
    }
}

/* --------------------------------------------------------------- kernel */

template <int HD, int MT> constexpr int smem_bytes() { return (64 * MT + 4 * BN) * HD * 2; }

template <int HD, int MT>
__global__ void __launch_bounds__(NTHREADS, 2) attn_fwd(const Params p) {
    constexpr int BM = 64 * MT;
    constexpr int CH = HD / 8;      /* 16-byte chunks per row */
    constexpr int KS = HD / 16;     /* k-steps of Q K^T */
    constexpr int NT = BN / 8;      /* n8 score tiles per m16 tile */
    constexpr int OT = HD / 8;      /* n8 output tiles per m16 tile */
    constexpr bool QREG = MT * HD <= 128; /* Q fragments held in registers */

    extern __shared__ __align__(128) unsigned char smem[];
    const uint32_t sQ = smem_u32(smem);
    const uint32_t sK = sQ + BM * HD * 2;           /* two buffers of BN x HD */
    const uint32_t sV = sK + 2 * BN * HD * 2;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int hps = p.hp_shift;
    const int qt = p.n_qtiles - 1 - (int)blockIdx.x; /* late (costly) tiles first */
    const int hg = blockIdx.y, split = blockIdx.z;
    const int RP = BM >> hps;                        /* positions per tile */
    const int idx0 = qt * RP;
    const int idx_last = min(idx0 + RP, p.n_rows) - 1;
    const int pmin = p.rpos0 + idx0 * p.pstride, pmax = p.rpos0 + idx_last * p.pstride;
    const int head0 = hg << hps;
    const int kvh = head0 / p.rep;
    const bf16 *kg = p.k + (size_t)kvh * HD, *vg = p.v + (size_t)kvh * HD;

    /* the tile's key tiles, and this split's share of them */
    int n0, s1, e1;
    key_tiles(p, pmin, pmax, n0, s1, e1);
    const int n_it = n0 + (e1 - s1);
    const int it_begin = (int)((long long)split * n_it / p.n_splits);
    const int it_end = (int)((long long)(split + 1) * n_it / p.n_splits);

    /* Key tile kt needs no mask when every row sees all its keys: kt < kt_c
     * (causal for the first row) and, when all rows share a region, the
     * tile lies in [0, a) or in [b, ...) for the last row (b grows with the
     * position); rows of several regions always take the mask. */
    int kt_c = (pmin + 1) / BN, kt_a, kt_b;
    {
        const int reg = region_of(p, pmin);
        int a_u, b_u;
        row_ab(p, kind_of_region(p, reg), pmax, a_u, b_u);
        kt_a = a_u / BN;
        kt_b = b_u <= 0 ? 0 : (b_u + BN - 1) / BN;
        if (reg != region_of(p, pmax)) kt_c = 0;
    }

    /* each tile row's position and mask bounds (a, b), read by the mask */
    __shared__ int4 rowinfo[BM];
    for (int r = tid; r < BM; r += NTHREADS) {
        int pos = p.rpos0 + (idx0 + (r >> hps)) * p.pstride;
        int a, b;
        row_ab(p, kind_of_region(p, region_of(p, pos)), pos, a, b);
        rowinfo[r] = make_int4(pos, a, b, 0);
    }
    /* ---- Q tile (zero rows past n_rows) */
    for (int c = tid; c < BM * CH; c += NTHREADS) {
        int r = c / CH, ch = c % CH;
        int idx = idx0 + (r >> hps), head = head0 + (r & ((1 << hps) - 1));
        bool ok = idx < p.n_rows;
        const bf16 *src = ok ? p.q + (size_t)idx * (size_t)p.q_stride + (size_t)head * HD + ch * 8 : p.q;
        cp_async16(sQ + swz<HD>(r, ch), src, ok ? 16 : 0);
    }
    auto load_kv = [&](int kt, int buf) {
        const int k0 = kt * BN;
        for (int c = tid; c < BN * CH; c += NTHREADS) {
            int r = c / CH, ch = c % CH;
            int key = k0 + r;
            bool ok = key <= pmax; /* keys past the tile's last row: zeros, never NaN */
            size_t off = ok ? (size_t)key * (size_t)p.kv_stride + ch * 8 : 0;
            uint32_t so = (uint32_t)(buf * BN * HD * 2) + swz<HD>(r, ch);
            cp_async16(sK + so, kg + off, ok ? 16 : 0);
            cp_async16(sV + so, vg + off, ok ? 16 : 0);
        }
    };
    if (it_begin < it_end) load_kv(it_begin < n0 ? it_begin : s1 + it_begin - n0, 0);
    cp_async_commit();

    /* does this warp own any real row? (decode tiles are mostly padding) */
    const int wrow0 = warp * 16 * MT;
    const bool active = idx0 + (wrow0 >> hps) < p.n_rows;

    float o[MT][OT][4];
    float m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int nt = 0; nt < OT; nt++) o[mt][nt][0] = o[mt][nt][1] = o[mt][nt][2] = o[mt][nt][3] = 0.f;
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.f;
    }
    uint32_t qf[QREG ? MT : 1][QREG ? KS : 1][4];

    /* per-lane ldmatrix coordinates */
    const int a_row = (lane & 7) + (((lane >> 3) & 1) << 3), a_ch = lane >> 4;  /* Q (A) and V (B, trans) */
    const int b_row = (lane & 7) + ((lane >> 4) << 3), b_ch = (lane >> 3) & 1;  /* K (B) */
    const float sl = p.scale_log2;

    for (int it = it_begin; it < it_end; it++) {
        const int buf = (it - it_begin) & 1;
        const int kt = it < n0 ? it : s1 + it - n0;
        if (it + 1 < it_end) load_kv(it + 1 < n0 ? it + 1 : s1 + it + 1 - n0, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>(); /* everything but the prefetch just issued: Q and tile it */
        __syncthreads();

        if (active) {
            const uint32_t kb = sK + buf * BN * HD * 2, vb = sV + buf * BN * HD * 2;
            if (QREG && it == it_begin) {
#pragma unroll
                for (int mt = 0; mt < (QREG ? MT : 1); mt++)
#pragma unroll
                    for (int ks = 0; ks < (QREG ? KS : 1); ks++)
                        ldsm_x4(qf[mt][ks], sQ + swz<HD>(wrow0 + mt * 16 + a_row, ks * 2 + a_ch));
            }
            /* ---- S = Q K^T */
            float s[MT][NT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < KS; ks++) {
                uint32_t a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if constexpr (QREG) {
                        a[mt][0] = qf[mt][ks][0];
                        a[mt][1] = qf[mt][ks][1];
                        a[mt][2] = qf[mt][ks][2];
                        a[mt][3] = qf[mt][ks][3];
                    } else {
                        ldsm_x4(a[mt], sQ + swz<HD>(wrow0 + mt * 16 + a_row, ks * 2 + a_ch));
                    }
                }
#pragma unroll
                for (int np = 0; np < NT / 2; np++) {
                    uint32_t b[4];
                    ldsm_x4(b, kb + swz<HD>(np * 16 + b_row, ks * 2 + b_ch));
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16(s[mt][2 * np], a[mt], b[0], b[1]);
                        mma_bf16(s[mt][2 * np + 1], a[mt], b[2], b[3]);
                    }
                }
            }

            /* ---- mask, only where some row of the tile misses some key */
            const int k0 = kt * BN;
            if (!(kt < kt_c && (kt < kt_a || kt >= kt_b))) {
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        int r = wrow0 + mt * 16 + (lane >> 2) + h * 8;
                        const int4 ri = rowinfo[r];
                        const int pos = ri.x, a = ri.y, b = ri.z;
#pragma unroll
                        for (int nt = 0; nt < NT; nt++)
#pragma unroll
                            for (int e = 0; e < 2; e++) {
                                int j = k0 + nt * 8 + (lane & 3) * 2 + e;
                                if (!(j <= pos && (j < a || j >= b))) s[mt][nt][2 * h + e] = -INFINITY;
                            }
                    }
            }

            /* ---- online softmax; P (bf16) into the PV mma */
            uint32_t pa[MT][NT / 2][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    float mx = m[mt][h];
#pragma unroll
                    for (int nt = 0; nt < NT; nt++) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                    const float ms = mx == -INFINITY ? 0.f : mx * sl;
                    const float corr = fast_exp2(m[mt][h] * sl - ms); /* 0 when nothing was seen yet */
                    m[mt][h] = mx;
#pragma unroll
                    for (int nt = 0; nt < OT; nt++) {
                        o[mt][nt][2 * h] *= corr;
                        o[mt][nt][2 * h + 1] *= corr;
                    }
                    float sum = 0.f;
#pragma unroll
                    for (int np = 0; np < NT / 2; np++)
#pragma unroll
                        for (int x = 0; x < 2; x++) {
                            float r0, r1;
                            float p0 = fast_exp2(fmaf(s[mt][2 * np + x][2 * h], sl, -ms));
                            float p1 = fast_exp2(fmaf(s[mt][2 * np + x][2 * h + 1], sl, -ms));
                            /* A fragment: regs 0/1 rows g/g+8 of keys 0-7, regs 2/3 of keys 8-15 */
                            pa[mt][np][2 * x + h] = pack_bf16(p0, p1, r0, r1);
                            sum += r0 + r1;
                        }
                    l[mt][h] = l[mt][h] * corr + sum;
                }

            /* ---- O += P V */
#pragma unroll
            for (int kk = 0; kk < NT / 2; kk++)
#pragma unroll
                for (int dp = 0; dp < HD / 16; dp++) {
                    uint32_t b[4];
                    ldsm_x4_t(b, vb + swz<HD>(kk * 16 + a_row, dp * 2 + a_ch));
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16(o[mt][2 * dp], pa[mt][kk], b[0], b[1]);
                        mma_bf16(o[mt][2 * dp + 1], pa[mt][kk], b[2], b[3]);
                    }
                }
        }
        __syncthreads(); /* the next iteration's prefetch overwrites this buffer */
    }
    cp_async_wait<0>();
    if (!active) return;

    /* ---- epilogue */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float L = l[mt][h];
            L += __shfl_xor_sync(0xffffffffu, L, 1);
            L += __shfl_xor_sync(0xffffffffu, L, 2);
            const int r = wrow0 + mt * 16 + (lane >> 2) + h * 8;
            const int idx = idx0 + (r >> hps), head = head0 + (r & ((1 << hps) - 1));
            if (idx >= p.n_rows) continue;
            const int col0 = (lane & 3) * 2;
            if (p.n_splits > 1) {
                size_t row = ((size_t)split * p.n_rows + idx) * p.n_heads + head;
                float *po = p.part_o + row * HD;
#pragma unroll
                for (int nt = 0; nt < OT; nt++)
                    *reinterpret_cast<float2 *>(po + nt * 8 + col0) = make_float2(o[mt][nt][2 * h], o[mt][nt][2 * h + 1]);
                if ((lane & 3) == 0)
                    *reinterpret_cast<float2 *>(p.part_ml + row * 2) =
                        make_float2(m[mt][h] == -INFINITY ? -INFINITY : m[mt][h] * sl, L);
            } else {
                const float inv = L > 0.f ? 1.f / L : 0.f;
#pragma unroll
                for (int nt = 0; nt < OT; nt++)
                    store_out<HD>(p, idx, head, nt * 8 + col0, o[mt][nt][2 * h] * inv, o[mt][nt][2 * h + 1] * inv);
            }
        }
}

/* Merges the split-KV partials of every (row, head) and runs the epilogue. One
 * thread per pair of columns. */
template <int HD> __global__ void attn_combine(const Params p) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long total = (long long)p.n_rows * p.n_heads * (HD / 2);
    if (t >= total) return;
    const int col = (int)(t % (HD / 2)) * 2;
    const long long rh = t / (HD / 2);
    const int head = (int)(rh % p.n_heads), idx = (int)(rh / p.n_heads);
    const size_t split_rows = (size_t)p.n_rows * p.n_heads;
    float M = -INFINITY;
    for (int s = 0; s < p.n_splits; s++) M = fmaxf(M, p.part_ml[(s * split_rows + rh) * 2]);
    float L = 0.f, a0 = 0.f, a1 = 0.f;
    if (M != -INFINITY) {
        for (int s = 0; s < p.n_splits; s++) {
            size_t row = s * split_rows + rh;
            float w = fast_exp2(p.part_ml[row * 2] - M);
            L += w * p.part_ml[row * 2 + 1];
            float2 x = *reinterpret_cast<const float2 *>(p.part_o + row * HD + col);
            a0 += w * x.x;
            a1 += w * x.y;
        }
    }
    const float inv = L > 0.f ? 1.f / L : 0.f;
    store_out<HD>(p, idx, head, col, a0 * inv, a1 * inv);
}

/* ------------------------------------------------- sm_90a wgmma kernel */

/* attn_wg<HD>: the same tile semantics as attn_fwd<HD, 2> (128 query rows,
 * 64-key tiles, the same key-tile walk, mask, softmax and epilogue, so both
 * give the same rows up to fp32 summation order), on Hopper's warpgroup MMA,
 * warp-specialised as in FlashAttention-3:
 *   - 3 warpgroups (384 threads). Warpgroup 0 is the producer: one thread
 *     issues every K and V tile load through the bulk tensor copy engine
 *     (TMA, a tensor map per cache passed as a __grid_constant__ parameter)
 *     into WG_NS stages, each with a `full` mbarrier (the copy's bytes land
 *     on it) and an `empty` one (each consumer warp arrives once the products
 *     that read the stage are done); it gives its registers up (setmaxnreg)
 *     to the consumers. Warpgroups 1 and 2 compute: consumer warpgroup g owns
 *     tile rows 64g .. 64g+63, warp w rows 16w .. 16w+15. Nothing but the
 *     mbarriers ties the two consumers together, so one's softmax runs beside
 *     the other's products (the cp.async version that loaded with every
 *     thread and a CTA barrier per tile ran 400 TFLOP/s dense at 131K on the
 *     H100; this one 558). Forcing the two to take turns on the tensor
 *     cores with named barriers (FA3's ping-pong) measured 6% slower, and
 *     persistent CTAs (one per SM, tiles dealt round-robin, the producer
 *     loading the next tile during this one's epilogue) 15-18% slower.
 *   - The accumulators of wgmma.m64nNk16 lay out per n8 slice exactly like
 *     mma.m16n8k16's, and its register A operand like mma's A fragment, so Q
 *     (held in registers) and P (straight from the softmax) feed it as they
 *     fed mma.sync.
 *   - K and V tiles sit in shared memory in the 128-byte-swizzle canonical
 *     layout: [HD / 64][64 keys][64 dims], 128-byte rows whose 16-byte chunks
 *     are XORed with row % 8, which is what the copy engine writes with
 *     CU_TENSOR_MAP_SWIZZLE_128B (one box of 64 keys x 64 dims per HD / 64).
 *     S = Q K^T reads K as a K-major B operand; O += P V reads V as an
 *     MN-major (transposed) one. Keys past the launch's last row are outside
 *     the tensor map and read as zeros; keys up to it were written, so
 *     masked entries multiply finite values.
 *   - tile t's S = Q K_t^T and tile t-1's O += P_{t-1} V_{t-1} are issued
 *     as one batch, then the softmax of S_t, then O is rescaled by tile t's
 *     correction (O lags one tile: the last PV product follows the loop). So
 *     step t reads K_t and V_{t-1}, and stage t-1 is free after it.
 * Only launches that would use 128-row tiles without split-KV take it (all
 * warps take part in every wgmma, so decode-sized tiles keep attn_fwd). */

constexpr int WG_THREADS = 384; /* a producer warpgroup and two consumers */
constexpr int WG_BM = 128;
constexpr int WG_NS = 4; /* K/V stages (5 measured the same) */

template <int HD> __host__ __device__ constexpr int wg_tile_bytes() { return BN * HD * 2; } /* one K or V tile */
template <int HD> constexpr int wg_smem_bytes() {
    return 1024 /* alignment slack */ + WG_BM * HD * 2 /* Q */ + WG_NS * 2 * wg_tile_bytes<HD>() + WG_BM * 16 /* rowinfo */
           + WG_NS * 2 * 8 /* full and empty mbarriers */;
}

/* Byte offset of 16-byte chunk ch (of HD / 8) of row `row` in a [rows][HD]
 * tile stored as 128-byte-swizzled [HD / 64][rows][64]. */
__device__ __forceinline__ uint32_t sw128(int row, int ch, int rows) {
    return (uint32_t)((ch >> 3) * rows * 128 + row * 128 + (((ch & 7) ^ (row & 7)) << 4));
}

/* wgmma shared-memory descriptor: 128-byte swizzle, offsets in bytes. */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) |
           (1ull << 62);
}

/* The wgmma instructions exist only for sm_90a; nvcc also builds portable
 * compute_90 PTX, where they become a trap (run_pass never launches attn_wg
 * on a GPU other than compute capability 9.0, which runs the sm_90a code). */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_ASM(...) asm volatile(__VA_ARGS__)
#else
#define WG_ASM(...) __trap()
#endif

__device__ __forceinline__ void wg_fence() { WG_ASM("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { WG_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
    WG_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Pins accumulator registers in place across the asynchronous MMA: no read
 * of them is moved above the wait that precedes this. */
template <int N> __device__ __forceinline__ void wg_fence_regs(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
/* A register copy that stays below the wgmma wait before it: P of the next
 * tile must not be written into the registers that the running PV product
 * still reads (ptxas would otherwise serialise every wgmma to stay safe). */
__device__ __forceinline__ uint32_t mov_after_wait(uint32_t x) {
    uint32_t y;
    asm volatile("mov.b32 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}
__device__ __forceinline__ uint64_t pin64(uint64_t x) {
    uint64_t y;
    asm volatile("mov.b64 %0, %1;\n" : "=l"(y) : "l"(x));
    return y;
}
__device__ __forceinline__ float movf_pinned(float x) {
    float y;
    asm volatile("mov.b32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
/* mbarriers, the bulk tensor copy (TMA) and register reallocation */
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    WG_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void fence_mbar_init() { WG_ASM("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    WG_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    WG_ASM("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done = 0;
    do {
        WG_ASM("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
               : "=r"(done)
               : "r"(bar), "r"(parity)
               : "memory");
    } while (!done);
}
/* box (64 elements of dim 0) x (64 rows of dim 1) at (c0, c1) -> dst, completing on bar */
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar) {
    WG_ASM("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
               dst),
           "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
           : "memory");
}
template <int N> __device__ __forceinline__ void setmaxnreg_dec() {
    WG_ASM("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void setmaxnreg_inc() {
    WG_ASM("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
__device__ __forceinline__ void named_bar_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

/* d[0..32) (+)= a b, m64n64k16: A (bf16) in registers, B by descriptor; tnsp_b: B is MN-major */
template <int TB> __device__ __forceinline__ void wgmma_m64n64k16(float (&d)[32], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
                 "}, {%32,%33,%34,%35}, %36, p, 1, 1, %38;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(TB));
}

/* d[0..64) (+)= a b, m64n128k16: A (bf16) in registers, B by descriptor; tnsp_b: B is MN-major */
template <int TB> __device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
                 "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
                 "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
                 "}, {%64,%65,%66,%67}, %68, p, 1, 1, %70;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                 "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                 "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                 "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                 "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d), "n"(TB));
}

/* O += P V for one 16-key step: n = HD */
template <int HD> __device__ __forceinline__ void wg_pv(float (&o)[HD / 2], const uint32_t (&a)[4], uint64_t desc);
template <> __device__ __forceinline__ void wg_pv<128>(float (&o)[64], const uint32_t (&a)[4], uint64_t desc) {
    wgmma_m64n128k16<1>(o, a, desc, 1);
}
template <> __device__ __forceinline__ void wg_pv<64>(float (&o)[32], const uint32_t (&a)[4], uint64_t desc) {
    wgmma_m64n64k16<1>(o, a, desc, 1);
}

template <int HD>
__global__ void __launch_bounds__(WG_THREADS, 1)
    attn_wg(const __grid_constant__ Params p, const __grid_constant__ CUtensorMap tk,
            const __grid_constant__ CUtensorMap tv) {
    constexpr int BM = WG_BM;
    constexpr int CH = HD / 8;  /* 16-byte chunks per row */
    constexpr int KS = HD / 16; /* k-steps of Q K^T */
    constexpr int NT = BN / 8;  /* n8 score slices */
    constexpr int OT = HD / 8;  /* n8 output slices */
    constexpr int TB = wg_tile_bytes<HD>();

    extern __shared__ unsigned char smem_raw[];
    const uint32_t raw = smem_u32(smem_raw);
    const uint32_t sQ = (raw + 1023) & ~1023u;  /* swizzle atoms need 1024-byte alignment */
    const uint32_t sKV = sQ + BM * HD * 2;      /* stage s: K at sKV + 2 s TB, V after it */
    int4 *rowinfo = reinterpret_cast<int4 *>(smem_raw + (sKV + WG_NS * 2 * TB - raw));
    const uint32_t bar_full = sKV + WG_NS * 2 * TB + BM * 16, bar_empty = bar_full + WG_NS * 8;

    /* tid, warp: the consumer's own numbering (warpgroup 0, the producer, negative) */
    const int tid = (int)threadIdx.x - 128, warp = tid >> 5, lane = threadIdx.x & 31;
    const int hps = p.hp_shift;
    /* late (costly) tiles first, head group the slow index: ordering the
     * blocks with the head group fastest instead measured 9% slower dense at
     * 131K (less reuse of K/V in L2), though 9% faster for +delta there */
    const int qt = p.n_qtiles - 1 - (int)blockIdx.x;
    const int hg = blockIdx.y;
    const int RP = BM >> hps;
    const int idx0 = qt * RP;
    const int idx_last = min(idx0 + RP, p.n_rows) - 1;
    const int pmin = p.rpos0 + idx0 * p.pstride, pmax = p.rpos0 + idx_last * p.pstride;
    const int head0 = hg << hps;
    const int kvh = head0 / p.rep;

    int n0, s1, e1;
    key_tiles(p, pmin, pmax, n0, s1, e1);
    const int n_it = n0 + (e1 - s1);

    int kt_c = (pmin + 1) / BN, kt_a, kt_b;
    {
        const int reg = region_of(p, pmin);
        int a_u, b_u;
        row_ab(p, kind_of_region(p, reg), pmax, a_u, b_u);
        kt_a = a_u / BN;
        kt_b = b_u <= 0 ? 0 : (b_u + BN - 1) / BN;
        if (reg != region_of(p, pmax)) kt_c = 0;
    }

    if (threadIdx.x == 0) {
        for (int s = 0; s < WG_NS; s++) {
            mbar_init(bar_full + 8 * s, 1);
            mbar_init(bar_empty + 8 * s, 8); /* one arrival per consumer warp */
        }
        fence_mbar_init();
    }
    __syncthreads();
    if (threadIdx.x < 128) { /* the producer: one thread issues every copy */
        setmaxnreg_dec<40>();
        if (threadIdx.x == 0)
            for (int it = 0; it < n_it; it++) {
                const int s = it % WG_NS;
                if (it >= WG_NS) mbar_wait(bar_empty + 8 * s, ((it / WG_NS) - 1) & 1);
                const uint32_t kb = sKV + (uint32_t)(s * 2 * TB), full = bar_full + 8 * s;
                mbar_expect_tx(full, 2 * TB);
                const int k0 = (it < n0 ? it : s1 + it - n0) * BN;
#pragma unroll
                for (int c = 0; c < HD / 64; c++) {
                    tma_load_2d(kb + c * BN * 128, &tk, kvh * HD + c * 64, k0, full);
                    tma_load_2d(kb + TB + c * BN * 128, &tv, kvh * HD + c * 64, k0, full);
                }
            }
        return;
    }
    setmaxnreg_inc<232>();

    /* the row info and Q of this warpgroup's 64 rows */
    const int r_lo = (warp >> 2) * 64, wtid = tid & 127;
    for (int r = r_lo + wtid; r < r_lo + 64; r += 128) {
        int pos = p.rpos0 + (idx0 + (r >> hps)) * p.pstride;
        int a, b;
        row_ab(p, kind_of_region(p, region_of(p, pos)), pos, a, b);
        rowinfo[r] = make_int4(pos, a, b, 0);
    }
    for (int c = wtid; c < 64 * CH; c += 128) {
        int r = r_lo + c / CH, ch = c % CH;
        int idx = idx0 + (r >> hps), head = head0 + (r & ((1 << hps) - 1));
        bool ok = idx < p.n_rows;
        const bf16 *src = ok ? p.q + (size_t)idx * (size_t)p.q_stride + (size_t)head * HD + ch * 8 : p.q;
        cp_async16(sQ + sw128(r, ch, BM), src, ok ? 16 : 0);
    }
    cp_async_commit();
    cp_async_wait<0>();
    named_bar_sync(1 + (warp >> 2), 128);

    const int wrow0 = warp * 16;
    const int a_row = (lane & 7) + (((lane >> 3) & 1) << 3), a_ch = lane >> 4;
    const float sl = p.scale_log2;

    float o[HD / 2];
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[i] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    uint32_t qf[KS][4];
    uint32_t pa[NT / 2][4]; /* P of the previous tile, the A operand of its PV product */

    /* one tile; FIRST (tile 0, no PV product yet) is a separate copy of the
     * code so that no branch sits between a wgmma fence and its products */
    auto step = [&](int it, auto first_tag) {
        constexpr bool FIRST = decltype(first_tag)::value;
        mbar_wait(bar_full + 8 * (it % WG_NS), (it / WG_NS) & 1); /* tile it landed */

        if (FIRST) {
#pragma unroll
            for (int ks = 0; ks < KS; ks++) ldsm_x4(qf[ks], sQ + sw128(wrow0 + a_row, ks * 2 + a_ch, BM));
        }
        const uint32_t kb = sKV + (uint32_t)((it % WG_NS) * 2 * TB);
        const uint32_t vprev = sKV + (uint32_t)(((it + WG_NS - 1) % WG_NS) * 2 * TB) + TB;

        /* ---- S = Q K_t^T, and O += P_{t-1} V_{t-1} behind it. (S is fresh
         * each tile, not carried round the loop, and the mask writes a copy:
         * no register a wgmma reads is written between wgmmas.) */
        float s[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; i++) s[i] = 0.f;
        /* descriptors computed before the fence: ptxas serialises wgmmas whose
         * input registers are written while earlier ones are in flight */
        uint64_t dks[KS], dvs[NT / 2];
        {
            const uint64_t dk = wg_desc(kb, 16, 1024), dv = wg_desc(vprev, BN * 128, 1024);
#pragma unroll
            for (int ks = 0; ks < KS; ks++)
                dks[ks] = pin64(dk + (uint64_t)((((ks >> 2) * BN * 128) + (ks & 3) * 32) >> 4));
#pragma unroll
            for (int kk = 0; kk < NT / 2; kk++) dvs[kk] = pin64(dv + (uint64_t)((kk * 16 * 128) >> 4));
        }
        wg_fence();
#pragma unroll
        for (int ks = 0; ks < KS; ks++) wgmma_m64n64k16<0>(s, qf[ks], dks[ks], ks > 0);
        wg_commit();
        if (FIRST) {
            wg_wait<0>();
        } else {
#pragma unroll
            for (int kk = 0; kk < NT / 2; kk++) wg_pv<HD>(o, pa[kk], dvs[kk]);
            wg_commit();
            /* Both products land before the softmax. (Waiting for S alone,
             * wait_group 1, would let the softmax run beside the PV product as
             * in FA3, but ptxas 13.0 then serialises every wgmma of the kernel,
             * C7513: the registers the softmax writes are wgmma inputs to it.) */
            wg_wait<0>();
            wg_fence_regs(o);
            /* K_{t-1} and V_{t-1} are read: the producer may refill that stage */
            if (lane == 0) mbar_arrive(bar_empty + 8 * ((it + WG_NS - 1) % WG_NS));
        }
        wg_fence_regs(s);
        float sc[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; i++) sc[i] = movf_pinned(s[i]);

        /* ---- mask, only where some row of the tile misses some key */
        const int kt = it < n0 ? it : s1 + it - n0, k0 = kt * BN;
        if (!(kt < kt_c && (kt < kt_a || kt >= kt_b))) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = wrow0 + (lane >> 2) + h * 8;
                const int4 ri = rowinfo[r];
                const int pos = ri.x, a = ri.y, b = ri.z;
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        int j = k0 + nt * 8 + (lane & 3) * 2 + e;
                        if (!(j <= pos && (j < a || j >= b))) sc[nt * 4 + 2 * h + e] = -INFINITY;
                    }
            }
        }

        /* ---- online softmax of tile t into pn (bf16) */
        uint32_t pn[NT / 2][4];
        float corr[2];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float mx = m[h];
#pragma unroll
            for (int nt = 0; nt < NT; nt++) mx = fmaxf(mx, fmaxf(sc[nt * 4 + 2 * h], sc[nt * 4 + 2 * h + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float ms = mx == -INFINITY ? 0.f : mx * sl;
            corr[h] = fast_exp2(m[h] * sl - ms); /* 0 when nothing was seen yet */
            m[h] = mx;
            float sum = 0.f;
#pragma unroll
            for (int np = 0; np < NT / 2; np++)
#pragma unroll
                for (int x = 0; x < 2; x++) {
                    float r0, r1;
                    float p0 = fast_exp2(fmaf(sc[(2 * np + x) * 4 + 2 * h], sl, -ms));
                    float p1 = fast_exp2(fmaf(sc[(2 * np + x) * 4 + 2 * h + 1], sl, -ms));
                    pn[np][2 * x + h] = pack_bf16(p0, p1, r0, r1);
                    sum += r0 + r1;
                }
            l[h] = l[h] * corr[h] + sum;
        }

        /* ---- rescale O (tiles .. t-1) to tile t's max */
#pragma unroll
        for (int nt = 0; nt < OT; nt++) {
            o[nt * 4 + 0] *= corr[0];
            o[nt * 4 + 1] *= corr[0];
            o[nt * 4 + 2] *= corr[1];
            o[nt * 4 + 3] *= corr[1];
        }
#pragma unroll
        for (int np = 0; np < NT / 2; np++)
#pragma unroll
            for (int x = 0; x < 4; x++) pa[np][x] = mov_after_wait(pn[np][x]);
    };
    if (n_it > 0) step(0, std::true_type());
    for (int it = 1; it < n_it; it++) step(it, std::false_type());
    if (n_it > 0) { /* the last tile's PV product */
        const uint32_t vlast = sKV + (uint32_t)(((n_it - 1) % WG_NS) * 2 * TB) + TB;
        const uint64_t dv = wg_desc(vlast, BN * 128, 1024);
        uint64_t dvs[NT / 2];
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) dvs[kk] = pin64(dv + (uint64_t)((kk * 16 * 128) >> 4));
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) wg_pv<HD>(o, pa[kk], dvs[kk]);
        wg_commit();
        wg_wait<0>();
        wg_fence_regs(o);
    }
    cp_async_wait<0>();

    /* ---- epilogue */
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float L = l[h];
        L += __shfl_xor_sync(0xffffffffu, L, 1);
        L += __shfl_xor_sync(0xffffffffu, L, 2);
        const int r = wrow0 + (lane >> 2) + h * 8;
        const int idx = idx0 + (r >> hps), head = head0 + (r & ((1 << hps) - 1));
        if (idx >= p.n_rows) continue;
        const int col0 = (lane & 3) * 2;
        const float inv = L > 0.f ? 1.f / L : 0.f;
#pragma unroll
        for (int nt = 0; nt < OT; nt++)
            store_out<HD>(p, idx, head, nt * 8 + col0, o[nt * 4 + 2 * h] * inv, o[nt * 4 + 2 * h + 1] * inv);
    }
}

/* Uniform bf16 in [-1, 1) from a hash of the index (benchmark inputs). */
__global__ void fill_random(bf16 *x, size_t n, uint64_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        x[i] = __float2bfloat16((float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
}

/* ------------------------------------------------------------- launching */

int g_tile_rows = 128; /* prefill query tile: 128 (MT = 2) or 64 (MT = 1) */
/* The kernel of 128-row tiles: CUDA_ATTN_WGMMA (attn_wg, the default) or
 * CUDA_ATTN_MMA (attn_fwd<HD, 2>, the first kernel, kept as the fallback);
 * -1 until the first launch reads EVALCTL_ATTN_KERNEL (mma or wgmma). */
int g_kernel = -1;

int kernel_from_env() {
    if (g_kernel < 0) {
        const char *e = getenv("EVALCTL_ATTN_KERNEL");
        g_kernel = e && !strcmp(e, "mma") ? CUDA_ATTN_MMA : CUDA_ATTN_WGMMA;
    }
    return g_kernel;
}

/* A tensor map of a K or V cache, [n_keys][row_elems] bf16, read in boxes of
 * 64 keys x 64 elements with the 128-byte swizzle the wgmma descriptors
 * expect; keys from n_keys on read as zeros. The encoder is the driver's,
 * reached through the runtime so that nothing links libcuda. */
int encode_kv_map(CUtensorMap *m, const bf16 *base, int row_elems, int n_keys) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
    if (!encode) {
        void *fn = NULL;
        cudaDriverEntryPointQueryResult q;
        CU_TRY(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q));
        if (q != cudaDriverEntryPointSuccess || !fn) return ev_error("cuda attention: the driver has no cuTensorMapEncodeTiled");
        encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
    }
    const cuuint64_t dims[2] = {(cuuint64_t)row_elems, (cuuint64_t)n_keys};
    const cuuint64_t strides[1] = {(cuuint64_t)row_elems * sizeof(bf16)};
    const cuuint32_t box[2] = {64, BN}, elem_strides[2] = {1, 1};
    CUresult r = encode(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<bf16 *>(base), dims, strides, box,
                        elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) return ev_error("cuda attention: cannot describe the KV cache to the copy engine (CUresult %d)", (int)r);
    return 0;
}

template <int HD> int launch_wg(const Params &p, dim3 grid, cudaStream_t st) {
    static bool attr_set = false;
    constexpr int smem = wg_smem_bytes<HD>();
    if (!attr_set) {
        CU_TRY(cudaFuncSetAttribute(attn_wg<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        attr_set = true;
    }
    CUtensorMap tk, tv;
    const int n_keys = p.rpos0 + (p.n_rows - 1) * p.pstride + 1; /* keys past the last row: never read */
    if (encode_kv_map(&tk, p.k, p.kv_stride, n_keys) || encode_kv_map(&tv, p.v, p.kv_stride, n_keys)) return -1;
    attn_wg<HD><<<grid, WG_THREADS, smem, st>>>(p, tk, tv);
    CU_LAUNCHED();
    return 0;
}

template <int HD, int MT> int launch_fwd(const Params &p, dim3 grid, cudaStream_t st) {
    static bool attr_set = false; /* per instantiation; the attribute is per device, set it once */
    constexpr int smem = smem_bytes<HD, MT>();
    if (!attr_set) {
        CU_TRY(cudaFuncSetAttribute(attn_fwd<HD, MT>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        attr_set = true;
    }
    attn_fwd<HD, MT><<<grid, NTHREADS, smem, st>>>(p);
    CU_LAUNCHED();
    return 0;
}

/* Runs one pass (p.n_rows rows) with the tile shape, head packing and split
 * count that fit its size. part: the workspace's split-KV area, room for
 * MAX_SPLITS * min(n_rows, SPLIT_ROWS) rows of (HD + 2) floats per head. */
int run_pass(Params p, int head_dim, float *part, cudaStream_t st) {
    if (p.n_rows <= 0) return 0;
    /* Pack the heads of a GQA group into one tile for strided rows (the
     * +delta/+recompute anchors; up to 8 heads): there a tile's positions
     * span 4x fewer keys with 4 heads packed, so the sparse anchor pass visits
     * fewer key tiles and the dense one fewer masked ones, and each K/V tile
     * is read once for the group (the 64 anchors of a 4096-row chunk: 128-row
     * tiles of 32 anchors x 4 heads instead of 64-row ones of one head, 12%
     * off the attention of a 131K prefill of the Llama-3.1-8B shape); and
     * when rows are few (decode, small chunks), up to 64 rows a tile. */
    int hp = 1;
    if (p.pstride > 1)
        while (p.rep % (hp * 2) == 0 && hp * 2 <= 8) hp *= 2;
    else if (p.n_rows <= SPLIT_ROWS)
        while (p.rep % (hp * 2) == 0 && p.n_rows * hp * 2 <= 64) hp *= 2;
    p.hp_shift = hp == 1 ? 0 : hp == 2 ? 1 : hp == 4 ? 2 : hp == 8 ? 3 : hp == 16 ? 4 : hp == 32 ? 5 : 6;
    const int MT = (long long)p.n_rows * hp <= 64 ? 1 : (g_tile_rows == 64 ? 1 : 2);
    const int BM = 64 * MT, RP = BM >> p.hp_shift;
    p.n_qtiles = (p.n_rows + RP - 1) / RP;
    const int groups = p.n_heads >> p.hp_shift;
    const long long ctas = (long long)p.n_qtiles * groups;

    int dev = 0, sms = 132;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    p.n_splits = 1;
    if (p.n_rows <= SPLIT_ROWS && part && ctas < 2LL * sms) {
        /* the costliest tile's key tiles bound how finely keys can be cut */
        int n0, s1, e1, last = p.n_qtiles - 1;
        int pmin = p.rpos0 + last * RP * p.pstride, pmax = p.rpos0 + (p.n_rows - 1) * p.pstride;
        key_tiles(p, pmin, pmax, n0, s1, e1);
        long long n_it = n0 + (e1 - s1);
        long long want = (2LL * sms + ctas - 1) / ctas;
        long long by_keys = n_it / 4; /* at least 4 key tiles per slice */
        long long n = std::min(std::min(want, by_keys), (long long)MAX_SPLITS);
        if (n > 1) p.n_splits = (int)n;
    }
    if (p.n_splits > 1) {
        p.part_o = part;
        p.part_ml = part + (size_t)p.n_splits * p.n_rows * p.n_heads * head_dim;
    }
    if (p.n_qtiles > 0x7fffffff || groups > 65535) return ev_error("cuda attention: grid too large");
    dim3 grid((unsigned)p.n_qtiles, (unsigned)groups, (unsigned)p.n_splits);
    int rc;
    int cc_major = 0, cc_minor = 0;
    CU_TRY(cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, dev));
    CU_TRY(cudaDeviceGetAttribute(&cc_minor, cudaDevAttrComputeCapabilityMinor, dev));
    if (MT == 2 && p.n_splits == 1 && kernel_from_env() == CUDA_ATTN_WGMMA && cc_major == 9 && cc_minor == 0)
        rc = head_dim == 128 ? launch_wg<128>(p, grid, st) : launch_wg<64>(p, grid, st);
    else if (head_dim == 128) rc = MT == 2 ? launch_fwd<128, 2>(p, grid, st) : launch_fwd<128, 1>(p, grid, st);
    else rc = MT == 2 ? launch_fwd<64, 2>(p, grid, st) : launch_fwd<64, 1>(p, grid, st);
    if (rc) return rc;
    if (p.n_splits > 1) {
        long long total = (long long)p.n_rows * p.n_heads * (head_dim / 2);
        unsigned blocks = (unsigned)((total + 255) / 256);
        if (head_dim == 128) attn_combine<128><<<blocks, 256, 0, st>>>(p);
        else attn_combine<64><<<blocks, 256, 0, st>>>(p);
        CU_LAUNCHED();
    }
    return 0;
}

/* Workspace layout for n_q rows: [Delta of the chunk's anchors][split-KV partials]. */
struct Layout {
    size_t delta_off, delta_bytes, part_off, part_bytes, total;
};

Layout layout(const attn_variant *v, const cuda_attn_shape *s, int n_q) {
    Layout L = {};
    size_t row = (size_t)s->n_heads * (size_t)s->head_dim;
    if (v->fix == ATTN_FIX_DELTA && v->gamma > 0) {
        size_t anchors = ((size_t)n_q + (size_t)v->gamma - 1) / (size_t)v->gamma;
        L.delta_bytes = anchors * row * sizeof(float);
    }
    size_t rows = (size_t)std::min(n_q, SPLIT_ROWS);
    L.part_bytes = (size_t)MAX_SPLITS * rows * (size_t)s->n_heads * ((size_t)s->head_dim + 2) * sizeof(float);
    L.delta_off = 0;
    L.part_off = (L.delta_bytes + 255) & ~(size_t)255;
    L.total = L.part_off + L.part_bytes;
    return L;
}

int check_shape(const cuda_attn_shape *s) {
    if (!s || s->n_heads < 1 || s->n_kv_heads < 1 || s->n_heads % s->n_kv_heads != 0 || s->prompt_len < 0)
        return ev_error("cuda attention: bad shape (heads %d, kv heads %d, prompt %d)", s ? s->n_heads : 0,
                        s ? s->n_kv_heads : 0, s ? s->prompt_len : 0);
    if (s->head_dim != 64 && s->head_dim != 128)
        return ev_error("cuda attention: head dim %d is not supported (64 or 128)", s->head_dim);
    return 0;
}

} /* namespace */

/* ------------------------------------------------------------------ API */

extern "C" size_t cuda_attn_workspace(const attn_variant *v, const cuda_attn_shape *s, int max_n_q) {
    if (!v || !s || max_n_q < 0) return 0;
    return layout(v, s, max_n_q).total;
}

extern "C" int cuda_attn_set_tile_rows(int rows) {
    if (rows != 64 && rows != 128) return ev_error("cuda attention: tile rows must be 64 or 128 (got %d)", rows);
    g_tile_rows = rows;
    return 0;
}

extern "C" int cuda_attn_set_kernel(int kernel) {
    if (kernel != CUDA_ATTN_MMA && kernel != CUDA_ATTN_WGMMA)
        return ev_error("cuda attention: unknown kernel %d", kernel);
    g_kernel = kernel;
    return 0;
}

extern "C" int cuda_attn_kernel(void) { return kernel_from_env(); }

extern "C" int cuda_attn_layer(const attn_variant *v, const cuda_attn_shape *s, const void *q, int pos0, int n_q,
                               const void *k, const void *v_cache, void *out, float *delta, void *ws, size_t ws_bytes,
                               void *stream) {
    if (!v || attn_variant_check(v) < 0 || check_shape(s) < 0) return -1;
    if (pos0 < 0 || n_q < 0 || (long long)pos0 + n_q > 0x7fffffffLL - 2LL * BN)
        return ev_error("cuda attention: bad rows (pos0 %d, n_q %d)", pos0, n_q);
    if (n_q == 0) return 0;
    if (!q || !k || !v_cache || !out) return ev_error("cuda attention: NULL q, k, v or out");
    if (v->fix == ATTN_FIX_DELTA && !s->dense_layer && !delta)
        return ev_error("cuda attention: +delta needs the layer's delta buffer");
    const Layout L = layout(v, s, n_q);
    if (!ws || ws_bytes < L.total)
        return ev_error("cuda attention: workspace of %zu bytes, %zu needed for %d rows", ws ? ws_bytes : (size_t)0,
                        L.total, n_q);
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    const int H = s->n_heads, HD = s->head_dim, S = s->prompt_len;
    const long long row = (long long)H * HD;
    const bool layer_dense = s->dense_layer || v->base == ATTN_DENSE;
    const long P = v->fix != ATTN_FIX_NONE ? attn_fix_start(v, S) : S;
    float *part = reinterpret_cast<float *>(static_cast<char *>(ws) + L.part_off);
    float *wsd = reinterpret_cast<float *>(static_cast<char *>(ws) + L.delta_off);

    Params base = {};
    base.k = static_cast<const bf16 *>(k);
    base.v = static_cast<const bf16 *>(v_cache);
    base.kv_stride = s->n_kv_heads * HD;
    base.n_heads = H;
    base.rep = H / s->n_kv_heads;
    base.sink = v->sink;
    base.window = v->window;
    base.block = v->block;
    base.scale_log2 = (float)(1.4426950408889634 / sqrt((double)HD));
    base.delta_lim = INT32_MIN; /* no Delta */
    base.gamma = 1;
    const int sparse_kind = v->base == ATTN_BLOCK ? MK_BLOCK : MK_SINKWIN;

    /* the chunk's rows */
    Params m = base;
    m.q = static_cast<const bf16 *>(q);
    m.q_stride = row;
    m.n_rows = n_q;
    m.rpos0 = pos0;
    m.pstride = 1;
    m.out_mode = OUT_BF16;
    m.out = out;
    m.out_stride = row;
    if (layer_dense) {
        m.base_kind = MK_DENSE;
        m.dense_from = 0;
        m.dec_from = INT32_MAX;
        m.dec_kind = MK_DENSE;
    } else {
        long df = P;
        if (v->base == ATTN_BLOCK && (long)S - v->tail < df) df = (long)S - v->tail;
        m.base_kind = sparse_kind;
        m.dense_from = (int)std::max(df, -1L);
        m.dec_from = S;
        m.dec_kind = v->decode_sparse ? MK_SINKWIN : MK_DENSE;
    }

    const long end = (long)pos0 + n_q, lim = std::min(end, P);
    if (layer_dense || v->fix == ATTN_FIX_NONE || pos0 >= lim) return run_pass(m, HD, part, st);

    /* +delta / +recompute: the anchors g * gamma in [pos0, lim), read in place */
    const int g = v->gamma;
    const long g_first = ((long)pos0 + g - 1) / g, g_end = (lim + g - 1) / g;
    const int n_anchor = (int)std::max(0L, g_end - g_first);
    Params a = base;
    a.q = static_cast<const bf16 *>(q) + (size_t)(g_first * g - pos0) * (size_t)row;
    a.q_stride = (long long)g * row;
    a.n_rows = n_anchor;
    a.rpos0 = (int)(g_first * g);
    a.pstride = g;
    a.base_kind = MK_DENSE;
    a.dense_from = 0;
    a.dec_from = INT32_MAX;
    a.dec_kind = MK_DENSE;

    if (v->fix == ATTN_FIX_RECOMPUTE) {
        if (run_pass(m, HD, part, st)) return -1;
        a.out_mode = OUT_BF16;
        a.out = static_cast<bf16 *>(out) + (size_t)(g_first * g - pos0) * (size_t)row;
        a.out_stride = (long long)g * row;
        return run_pass(a, HD, part, st);
    }

    if (n_anchor > 0) {
        a.out_mode = OUT_F32;
        a.out = wsd;
        a.out_stride = row;
        if (run_pass(a, HD, part, st)) return -1;
        /* the anchors' sparse rows, as attention.c's sparse pass sees them */
        a.base_kind = sparse_kind;
        a.dense_from = v->base == ATTN_BLOCK ? S - v->tail : INT32_MAX;
        a.out_mode = OUT_F32_SUB; /* wsd = dense - sparse = Delta */
        if (run_pass(a, HD, NULL, st)) return -1; /* no split-KV: see the top of the file */
    }
    m.delta_lim = (int)lim;
    m.gamma = g;
    m.g_first = (int)g_first;
    m.delta_ws = wsd;
    m.delta_carry = delta;
    if (run_pass(m, HD, n_anchor > 0 ? NULL : part, st)) return -1; /* as the sparse anchor pass */
    if (n_anchor > 0)
        CU_TRY(cudaMemcpyAsync(delta, wsd + (size_t)(n_anchor - 1) * (size_t)row, (size_t)row * sizeof(float),
                               cudaMemcpyDeviceToDevice, st));
    return 0;
}

/* --------------------------------------------------------------- bench */

namespace {

/* Frees what cuda_attn_bench allocated, whatever the exit path. */
struct DevBufs {
    std::vector<void *> ptrs;
    std::vector<cudaEvent_t> events;
    ~DevBufs() {
        for (void *p : ptrs) cudaFree(p);
        for (cudaEvent_t e : events) cudaEventDestroy(e);
    }
};

int dev_alloc(DevBufs &b, void **p, size_t bytes) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess)
        return ev_error("cuda attention bench: cannot allocate %.2f GiB on the GPU: %s", (double)bytes / (1 << 30),
                        cudaGetErrorString(e));
    b.ptrs.push_back(*p);
    return 0;
}

int new_event(DevBufs &b, cudaEvent_t *e) {
    CU_TRY(cudaEventCreate(e));
    b.events.push_back(*e);
    return 0;
}

double median(std::vector<float> x) {
    std::sort(x.begin(), x.end());
    size_t n = x.size();
    return n == 0 ? 0 : n % 2 ? x[n / 2] : 0.5 * ((double)x[n / 2 - 1] + x[n / 2]);
}

} /* namespace */

extern "C" int cuda_attn_bench(const attn_variant *v, const cuda_attn_shape *s, int pos0, int n_q, int warmup,
                               int runs, cuda_attn_timing *t) {
    if (!v || attn_variant_check(v) < 0 || check_shape(s) < 0) return -1;
    if (n_q < 1 || pos0 < 0 || runs < 1 || warmup < 0 || !t)
        return ev_error("cuda attention bench: bad arguments (pos0 %d, n_q %d, runs %d)", pos0, n_q, runs);
    memset(t, 0, sizeof *t);
    DevBufs b;
    const size_t n_ctx = (size_t)pos0 + (size_t)n_q;
    const size_t nq = (size_t)n_q * s->n_heads * s->head_dim, nk = n_ctx * s->n_kv_heads * s->head_dim;
    const size_t ws_bytes = cuda_attn_workspace(v, s, n_q);
    void *q, *k, *vc, *out, *ws, *delta;
    if (dev_alloc(b, &q, nq * 2) || dev_alloc(b, &k, nk * 2) || dev_alloc(b, &vc, nk * 2) ||
        dev_alloc(b, &out, nq * 2) || dev_alloc(b, &ws, ws_bytes) ||
        dev_alloc(b, &delta, (size_t)s->n_heads * s->head_dim * sizeof(float)))
        return -1;
    fill_random<<<1024, 256>>>(static_cast<bf16 *>(q), nq, 1);
    CU_LAUNCHED();
    fill_random<<<1024, 256>>>(static_cast<bf16 *>(k), nk, 2);
    CU_LAUNCHED();
    fill_random<<<1024, 256>>>(static_cast<bf16 *>(vc), nk, 3);
    CU_LAUNCHED();
    CU_TRY(cudaMemset(delta, 0, (size_t)s->n_heads * s->head_dim * sizeof(float)));
    CU_TRY(cudaDeviceSynchronize());

    std::vector<cudaEvent_t> ev(2 * (size_t)runs);
    for (auto &e : ev)
        if (new_event(b, &e)) return -1;
    for (int i = 0; i < warmup; i++)
        if (cuda_attn_layer(v, s, q, pos0, n_q, k, vc, out, static_cast<float *>(delta), ws, ws_bytes, NULL)) return -1;
    for (int i = 0; i < runs; i++) {
        CU_TRY(cudaEventRecord(ev[2 * i]));
        if (cuda_attn_layer(v, s, q, pos0, n_q, k, vc, out, static_cast<float *>(delta), ws, ws_bytes, NULL)) return -1;
        CU_TRY(cudaEventRecord(ev[2 * i + 1]));
    }
    CU_TRY(cudaDeviceSynchronize());
    std::vector<float> ms((size_t)runs);
    for (int i = 0; i < runs; i++) CU_TRY(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]));
    t->runs = runs;
    t->ms_median = median(ms);
    t->ms_min = *std::min_element(ms.begin(), ms.end());
    t->kv_bytes = 2.0 * (double)nk * 2;

    /* HBM reference: a device-to-device copy of the K cache (read + write) */
    if (nk * 2 >= ((size_t)64 << 20)) {
        void *dst;
        if (dev_alloc(b, &dst, nk * 2)) return -1;
        std::vector<float> cm(5);
        for (int i = 0; i < 6; i++) {
            CU_TRY(cudaEventRecord(ev[0]));
            CU_TRY(cudaMemcpyAsync(dst, k, nk * 2, cudaMemcpyDeviceToDevice));
            CU_TRY(cudaEventRecord(ev[1]));
            CU_TRY(cudaEventSynchronize(ev[1]));
            if (i > 0) CU_TRY(cudaEventElapsedTime(&cm[i - 1], ev[0], ev[1]));
        }
        t->copy_gbps = 2.0 * (double)nk * 2 / (median(cm) * 1e-3) * 1e-9;
    }
    cudaDeviceProp prop;
    int dev = 0;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaGetDeviceProperties(&prop, dev));
    snprintf(t->gpu, sizeof t->gpu, "%s", prop.name);
    return 0;
}
