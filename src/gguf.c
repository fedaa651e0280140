/* gguf.c - GGUF v2/v3 reader over a memory-mapped file (layout in gguf.h).
 *
 * The file is untrusted: every read goes through a cursor {base, size, off} that
 * checks the bytes remaining first, and every count, length, type, dimension,
 * offset and the alignment is validated before it is used, so that whatever the
 * header claims we never read outside the mapping nor allocate more than the file
 * could describe (an array of n elements needs at least n * its smallest element
 * size in bytes). Values stay in the mapping; we copy only keys and tensor names
 * (to NUL-terminate them) and an offset table for top-level string arrays (the
 * tokenizer vocabulary), for constant-time lookup.
 *
 * On bad input: one ev_error line "evalctl: FILE: problem (at byte N)", then
 * everything built so far is freed and the open call returns NULL. */
#include "gguf.h"

#include "quant.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy"
#endif

/* File offsets and sizes are held in size_t. */
_Static_assert(sizeof(size_t) >= sizeof(uint64_t), "gguf.c needs a 64-bit size_t");

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_STRING ((uint64_t)1 << 30) /* 1 GiB: far beyond any real key, name or template */
#define GGUF_MAX_DEPTH 16                   /* arrays of arrays of ... */
#define GGUF_MAX_DIMS 4
/* The smallest possible encodings, to reject absurd counts before allocating:
 * a kv is a key length, a type and at least a 1-byte value; a tensor info is a
 * name length, n_dims, type and offset (n_dims may be 0). */
#define KV_MIN_BYTES (8 + 4 + 1)
#define TENSOR_MIN_BYTES (8 + 4 + 4 + 8)

/* ----------------------------------------------------------------- the context */

typedef struct {
    char *key;       /* NUL-terminated copy */
    size_t at;       /* byte offset of the key in the file, for messages */
    gguf_value v;
    size_t *str_off; /* arrays of strings: offset of element i from v.p */
} kv_t;

typedef struct {
    gguf_tensor t; /* first member: gguf_tensor_at returns &t */
    size_t at;     /* byte offset of the tensor info in its file */
    uint64_t offset; /* relative to the data section */
    int shard;     /* index into gguf_ctx.files */
} tensor_t;

struct gguf_ctx {
    char *path;
    int version;
    size_t alignment;
    int n_kv;
    kv_t *kv;
    const kv_t **kv_sorted; /* by key, for lookup */
    int n_tensors;
    tensor_t *tensors;
    const tensor_t **t_sorted; /* by name, for lookup */
    int n_files;
    char **files;  /* file names, shard order */
    ev_map *maps;  /* one per file when gguf_open mapped them; NULL for gguf_open_mem */
};

static void free_parsed(gguf_ctx *g) {
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    free(g->kv);
    free(g->kv_sorted);
    for (int i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].t.name);
    free(g->tensors);
    free(g->t_sorted);
    g->kv = NULL;
    g->kv_sorted = NULL;
    g->tensors = NULL;
    g->t_sorted = NULL;
    g->n_kv = g->n_tensors = 0;
}

void gguf_close(gguf_ctx *g) {
    if (!g) return;
    free_parsed(g);
    for (int i = 0; i < g->n_files; i++) {
        if (g->maps) ev_unmap(&g->maps[i]);
        free(g->files[i]);
    }
    free(g->maps);
    free(g->files);
    free(g->path);
    free(g);
}

/* -------------------------------------------------------------------- cursor */

typedef struct {
    const uint8_t *base;
    size_t size, off;
    const char *name; /* file name for messages */
} cursor;

/* Prints "evalctl: NAME: message (at byte AT)" and returns -1. */
static int fail_at(const char *name, size_t at, const char *fmt, ...) EV_PRINTF(3, 4);
static int fail_at(const char *name, size_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ev_error("%s: %s (at byte %zu)", name, msg, at);
}

static size_t left(const cursor *c) {
    return c->size - c->off;
}

static int need(cursor *c, size_t n, const char *what) {
    if (left(c) < n)
        return fail_at(c->name, c->off, "truncated: %s needs %zu bytes, only %zu left in the file", what, n, left(c));
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(v, c->base + c->off, 4);
    c->off += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(v, c->base + c->off, 8);
    c->off += 8;
    return 0;
}

static int rd_str(cursor *c, const uint8_t **s, size_t *len, const char *what) {
    uint64_t n;
    size_t at = c->off;
    if (rd_u64(c, &n, what)) return -1;
    if (n > GGUF_MAX_STRING)
        return fail_at(c->name, at, "%s: string length %llu exceeds the 1 GiB limit", what, (unsigned long long)n);
    if (n > left(c))
        return fail_at(c->name, at, "%s: string length %llu runs past the end of the file (%zu bytes left)", what,
                       (unsigned long long)n, left(c));
    *s = c->base + c->off;
    *len = (size_t)n;
    c->off += (size_t)n;
    return 0;
}

/* Keys and tensor names become C strings: they must be UTF-8 without NULs. */
static char *checked_name(cursor *c, size_t at, const uint8_t *s, size_t n, const char *what) {
    if (memchr(s, 0, n)) {
        fail_at(c->name, at, "%s contains a NUL byte", what);
        return NULL;
    }
    if (!ev_utf8_valid((const char *)s, n)) {
        fail_at(c->name, at, "%s is not valid UTF-8", what);
        return NULL;
    }
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------------- values */

static const char *const vtype_names[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

const char *gguf_type_name(int type) {
    return type >= 0 && type <= GGUF_T_FLOAT64 ? vtype_names[type] : "?";
}

/* Bytes of a fixed-size value; 0 for strings and arrays. */
static size_t scalar_size(int type) {
    switch (type) {
    case GGUF_T_UINT8: case GGUF_T_INT8: case GGUF_T_BOOL: return 1;
    case GGUF_T_UINT16: case GGUF_T_INT16: return 2;
    case GGUF_T_UINT32: case GGUF_T_INT32: case GGUF_T_FLOAT32: return 4;
    case GGUF_T_UINT64: case GGUF_T_INT64: case GGUF_T_FLOAT64: return 8;
    default: return 0;
    }
}

static size_t min_size(int type) {
    if (type == GGUF_T_STRING) return 8;
    if (type == GGUF_T_ARRAY) return 4 + 8;
    return scalar_size(type);
}

static int valid_vtype(uint32_t t) {
    return t <= GGUF_T_FLOAT64;
}

/* Parses one value of the given type at the cursor into *out. `what` names the
 * key for messages. */
static int parse_value(cursor *c, int type, int depth, gguf_value *out, const char *what) {
    memset(out, 0, sizeof *out);
    out->type = type;
    size_t sz = scalar_size(type);
    if (sz) {
        if (need(c, sz, what)) return -1;
        out->p = c->base + c->off;
        out->size = sz;
        c->off += sz;
        return 0;
    }
    if (type == GGUF_T_STRING) {
        const uint8_t *s;
        size_t n;
        if (rd_str(c, &s, &n, what)) return -1;
        out->p = s;
        out->n = n;
        out->size = n;
        return 0;
    }
    /* array */
    size_t at = c->off;
    if (depth >= GGUF_MAX_DEPTH) return fail_at(c->name, at, "%s: arrays nested deeper than %d", what, GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, what)) return -1;
    if (!valid_vtype(et)) return fail_at(c->name, at, "%s: unknown array element type %u", what, et);
    if (rd_u64(c, &n, what)) return -1;
    size_t ms = min_size((int)et);
    if (n > left(c) / ms)
        return fail_at(c->name, at + 4, "%s: array of %llu %s values needs at least %llu bytes, only %zu left in the file",
                       what, (unsigned long long)n, gguf_type_name((int)et),
                       n > UINT64_MAX / ms ? UINT64_MAX : (unsigned long long)(n * ms), left(c));
    out->elem_type = (int)et;
    out->n = n;
    out->p = c->base + c->off;
    size_t start = c->off;
    if (scalar_size((int)et)) {
        c->off += (size_t)n * ms; /* fits: checked against left() above */
    } else {
        gguf_value sub;
        for (uint64_t i = 0; i < n; i++)
            if (parse_value(c, (int)et, depth + 1, &sub, what)) return -1;
    }
    out->size = c->off - start;
    return 0;
}

static int int_of(int type, const uint8_t *p, int64_t *out) {
    switch (type) {
    case GGUF_T_UINT8: *out = p[0]; return 0;
    case GGUF_T_BOOL: *out = p[0] != 0; return 0;
    case GGUF_T_INT8: *out = (int8_t)p[0]; return 0;
    case GGUF_T_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_T_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_T_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case GGUF_T_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case GGUF_T_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return 0; }
    case GGUF_T_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)v;
        return 0;
    }
    default: return -1;
    }
}

static int float_of(int type, const uint8_t *p, double *out) {
    if (type == GGUF_T_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        *out = f;
        return 0;
    }
    if (type == GGUF_T_FLOAT64) {
        memcpy(out, p, 8);
        return 0;
    }
    if (type == GGUF_T_UINT64) {
        uint64_t v;
        memcpy(&v, p, 8);
        *out = (double)v;
        return 0;
    }
    int64_t v;
    if (int_of(type, p, &v)) return -1;
    *out = (double)v;
    return 0;
}

int gguf_value_int(const gguf_value *v, int64_t *out) {
    if (!v || !scalar_size(v->type)) return -1;
    return int_of(v->type, v->p, out);
}

int gguf_value_float(const gguf_value *v, double *out) {
    if (!v || !scalar_size(v->type)) return -1;
    return float_of(v->type, v->p, out);
}

int gguf_value_elem(const gguf_value *arr, uint64_t i, gguf_value *out) {
    if (!arr || arr->type != GGUF_T_ARRAY || i >= arr->n) return -1;
    size_t sz = scalar_size(arr->elem_type);
    if (sz) {
        memset(out, 0, sizeof *out);
        out->type = arr->elem_type;
        out->p = arr->p + (size_t)i * sz;
        out->size = sz;
        return 0;
    }
    /* The array was validated when the file was opened, so this walk cannot
     * fail; it still goes through the bounds-checked cursor. */
    cursor c = {arr->p, arr->size, 0, "array"};
    for (uint64_t k = 0; k <= i; k++)
        if (parse_value(&c, arr->elem_type, 1, out, "array element")) return -1;
    return 0;
}

/* ---------------------------------------------------------------- the parser */

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(const kv_t *const *)a)->key, (*(const kv_t *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const tensor_t *const *)a)->t.name, (*(const tensor_t *const *)b)->t.name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(const tensor_t *const *)a)->offset, y = (*(const tensor_t *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static const kv_t *find_kv(const gguf_ctx *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return NULL;
    kv_t probe = {.key = (char *)key};
    const kv_t *pp = &probe;
    const kv_t **r = bsearch(&pp, g->kv_sorted, (size_t)g->n_kv, sizeof *r, cmp_kv);
    return r ? *r : NULL;
}

static int parse_kvs(cursor *c, gguf_ctx *g, uint64_t n_kv) {
    g->kv = xcalloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        kv_t *kv = &g->kv[i];
        kv->at = c->off;
        const uint8_t *s;
        size_t len;
        char what[96];
        snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
        if (rd_str(c, &s, &len, what)) return -1;
        kv->key = checked_name(c, kv->at, s, len, what);
        if (!kv->key) return -1;
        g->n_kv = (int)i + 1;
        /* messages name the key from here on (truncated if long) */
        snprintf(what, sizeof what, "key '%.64s%s'", kv->key, len > 64 ? "..." : "");
        uint32_t type;
        size_t tat = c->off;
        if (rd_u32(c, &type, what)) return -1;
        if (!valid_vtype(type)) return fail_at(c->name, tat, "%s: unknown value type %u", what, type);
        if (parse_value(c, (int)type, 0, &kv->v, what)) return -1;
        if (kv->v.type == GGUF_T_ARRAY && kv->v.elem_type == GGUF_T_STRING) {
            kv->str_off = xmalloc((kv->v.n ? (size_t)kv->v.n : 1) * sizeof *kv->str_off);
            size_t o = 0;
            for (uint64_t k = 0; k < kv->v.n; k++) {
                uint64_t sl;
                kv->str_off[k] = o;
                memcpy(&sl, kv->v.p + o, 8);
                o += 8 + (size_t)sl; /* validated by parse_value */
            }
        }
    }
    /* duplicates, and the sorted index used by lookups */
    g->kv_sorted = xmalloc((g->n_kv ? (size_t)g->n_kv : 1) * sizeof *g->kv_sorted);
    for (int i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kv[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (int i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0) {
            const kv_t *a = g->kv_sorted[i - 1], *b = g->kv_sorted[i];
            return fail_at(c->name, a->at > b->at ? a->at : b->at, "duplicate key '%.64s'", a->key);
        }
    return 0;
}

static int set_alignment(cursor *c, gguf_ctx *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const kv_t *kv = find_kv(g, "general.alignment");
    if (!kv) return 0;
    int64_t a;
    if (gguf_value_int(&kv->v, &a) != 0)
        return fail_at(c->name, kv->at, "general.alignment is a %s, not an integer", gguf_type_name(kv->v.type));
    if (a <= 0 || a > (int64_t)1 << 30 || (a & (a - 1)) != 0)
        return fail_at(c->name, kv->at, "general.alignment %lld must be a power of two between 1 and 2^30", (long long)a);
    g->alignment = (size_t)a;
    return 0;
}

static int parse_tensor_info(cursor *c, gguf_ctx *g, uint64_t i) {
    tensor_t *t = &g->tensors[i];
    t->at = c->off;
    char what[128];
    snprintf(what, sizeof what, "tensor %llu", (unsigned long long)i);
    const uint8_t *s;
    size_t len;
    if (rd_str(c, &s, &len, what)) return -1;
    t->t.name = checked_name(c, t->at, s, len, "tensor name");
    if (!t->t.name) return -1;
    g->n_tensors = (int)i + 1;
    snprintf(what, sizeof what, "tensor '%.64s%s'", t->t.name, len > 64 ? "..." : "");
    uint32_t nd;
    size_t at = c->off;
    if (rd_u32(c, &nd, what)) return -1;
    if (nd > GGUF_MAX_DIMS) return fail_at(c->name, at, "%s has %u dimensions (at most %d)", what, nd, GGUF_MAX_DIMS);
    t->t.n_dims = (int)nd;
    int64_t count = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->t.ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        at = c->off;
        if (rd_u64(c, &ne, what)) return -1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return fail_at(c->name, at, "%s: dimension %u is %llu (must be between 1 and 2^63-1)", what, d,
                           (unsigned long long)ne);
        if ((int64_t)ne > INT64_MAX / count)
            return fail_at(c->name, at, "%s: element count overflows 64 bits", what);
        count *= (int64_t)ne;
        t->t.ne[d] = (int64_t)ne;
    }
    uint32_t type;
    at = c->off;
    if (rd_u32(c, &type, what)) return -1;
    t->t.type = (int)type;
    if (!qt_supported((int)type)) {
        const char *tn = qt_name((int)type);
        if (tn) return fail_at(c->name, at, "%s has type %u (%s), which evalctl cannot read", what, type, tn);
        return fail_at(c->name, at, "%s has unknown type %u", what, type);
    }
    int be = qt_block_elems((int)type);
    if (t->t.ne[0] % be != 0)
        return fail_at(c->name, at, "%s: row length %lld is not a multiple of the %s block size %d", what,
                       (long long)t->t.ne[0], qt_name((int)type), be);
    size_t row = qt_row_bytes((int)type, t->t.ne[0]);
    uint64_t rows = (uint64_t)(count / t->t.ne[0]);
    if (row == 0 || rows > SIZE_MAX / row) return fail_at(c->name, at, "%s: byte size overflows", what);
    t->t.nbytes = row * (size_t)rows;
    at = c->off;
    if (rd_u64(c, &t->offset, what)) return -1;
    if (t->offset % g->alignment != 0)
        return fail_at(c->name, at, "%s: data offset %llu is not a multiple of the alignment %zu", what,
                       (unsigned long long)t->offset, g->alignment);
    return 0;
}

/* Parses one whole file image into a new context (no files/maps attached).
 * Returns NULL after one error line. */
static gguf_ctx *parse(const uint8_t *base, size_t size, const char *name) {
    cursor c = {base, size, 0, name};
    gguf_ctx *g = xcalloc(1, sizeof *g);
    g->path = xstrdup(name);
    if (need(&c, 4, "magic")) goto fail;
    if (memcmp(base, GGUF_MAGIC, 4) != 0) {
        fail_at(name, 0, "bad magic %02x %02x %02x %02x, not a GGUF file", base[0], base[1], base[2], base[3]);
        goto fail;
    }
    c.off = 4;
    uint32_t version;
    if (rd_u32(&c, &version, "version")) goto fail;
    if (version != 2 && version != 3) {
        if (version == 1) fail_at(name, 4, "GGUF version 1 is not supported (only versions 2 and 3)");
        else if ((version & 0xffff) == 0 && version != 0)
            fail_at(name, 4, "GGUF version %u looks byte-swapped: big-endian files are not supported", version);
        else fail_at(name, 4, "unsupported GGUF version %u (only versions 2 and 3)", version);
        goto fail;
    }
    g->version = (int)version;
    uint64_t n_tensors, n_kv;
    if (rd_u64(&c, &n_tensors, "tensor count")) goto fail;
    if (rd_u64(&c, &n_kv, "kv count")) goto fail;
    /* each count alone, then both together, against what the rest of the file can hold */
    if (n_tensors > left(&c) / TENSOR_MIN_BYTES || n_tensors > INT_MAX) {
        fail_at(name, 8, "tensor count %llu is impossible: %zu bytes left in the file hold at most %zu tensor infos",
                (unsigned long long)n_tensors, left(&c), left(&c) / TENSOR_MIN_BYTES);
        goto fail;
    }
    if (n_kv > left(&c) / KV_MIN_BYTES || n_kv > INT_MAX) {
        fail_at(name, 16, "kv count %llu is impossible: %zu bytes left in the file hold at most %zu key-value pairs",
                (unsigned long long)n_kv, left(&c), left(&c) / KV_MIN_BYTES);
        goto fail;
    }
    if (n_tensors * TENSOR_MIN_BYTES + n_kv * KV_MIN_BYTES > left(&c)) {
        fail_at(name, 8, "%llu tensors and %llu key-value pairs cannot fit in the %zu bytes left in the file",
                (unsigned long long)n_tensors, (unsigned long long)n_kv, left(&c));
        goto fail;
    }
    if (parse_kvs(&c, g, n_kv)) goto fail;
    if (set_alignment(&c, g)) goto fail;

    g->tensors = xcalloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < n_tensors; i++)
        if (parse_tensor_info(&c, g, i)) goto fail;

    /* the data section starts at the next multiple of the alignment */
    size_t data_start;
    if (ev_add_size(c.off, g->alignment - 1, &data_start)) {
        fail_at(name, c.off, "data section offset overflows");
        goto fail;
    }
    data_start &= ~(g->alignment - 1);
    for (int i = 0; i < g->n_tensors; i++) {
        tensor_t *t = &g->tensors[i];
        size_t start, end;
        if (ev_add_size(data_start, (size_t)t->offset, &start) || ev_add_size(start, t->t.nbytes, &end)) {
            fail_at(name, t->at, "tensor '%.64s' data at offset %llu (%zu bytes) lies past the end of the file (size %zu)",
                    t->t.name, (unsigned long long)t->offset, t->t.nbytes, size);
            goto fail;
        }
        if (end > size) {
            fail_at(name, t->at, "tensor '%.64s' data [%zu, %zu) lies past the end of the file (size %zu)", t->t.name,
                    start, end, size);
            goto fail;
        }
        t->t.data = base + start;
    }
    /* no two tensors may share bytes */
    if (g->n_tensors > 1) {
        const tensor_t **by_off = xmalloc((size_t)g->n_tensors * sizeof *by_off);
        for (int i = 0; i < g->n_tensors; i++) by_off[i] = &g->tensors[i];
        qsort(by_off, (size_t)g->n_tensors, sizeof *by_off, cmp_tensor_offset);
        for (int i = 1; i < g->n_tensors; i++) {
            const tensor_t *a = by_off[i - 1], *b = by_off[i];
            if (a->offset + a->t.nbytes > b->offset) { /* no overflow: both lie inside the file */
                fail_at(name, b->at, "tensors '%.64s' [%llu, %llu) and '%.64s' [%llu, %llu) overlap", a->t.name,
                        (unsigned long long)a->offset, (unsigned long long)(a->offset + a->t.nbytes), b->t.name,
                        (unsigned long long)b->offset, (unsigned long long)(b->offset + b->t.nbytes));
                free(by_off);
                goto fail;
            }
        }
        free(by_off);
    }
    return g;
fail:
    gguf_close(g);
    return NULL;
}

/* Builds the by-name index over all tensors (of every shard) and rejects
 * duplicate names. */
static int index_tensors(gguf_ctx *g) {
    free(g->t_sorted);
    g->t_sorted = xmalloc((g->n_tensors ? (size_t)g->n_tensors : 1) * sizeof *g->t_sorted);
    for (int i = 0; i < g->n_tensors; i++) g->t_sorted[i] = &g->tensors[i];
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_tensor_name);
    for (int i = 1; i < g->n_tensors; i++) {
        const tensor_t *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
        if (strcmp(a->t.name, b->t.name) == 0) {
            const tensor_t *later = a->shard > b->shard || (a->shard == b->shard && a->at > b->at) ? a : b;
            const char *file = g->files ? g->files[later->shard] : g->path;
            return fail_at(file, later->at, "duplicate tensor name '%.64s'", a->t.name);
        }
    }
    return 0;
}

gguf_ctx *gguf_open_mem(const void *data, size_t size, const char *name) {
    gguf_ctx *g = parse(data, size, name ? name : "(memory)");
    if (!g) return NULL;
    if (index_tensors(g)) {
        gguf_close(g);
        return NULL;
    }
    return g;
}

/* ------------------------------------------------------------- split models */

/* llama.cpp names shard k of n PREFIX-%05d-of-%05d.gguf (k from 1). Returns the
 * length of PREFIX and sets k and n, or -1 when path is not so named. */
static long split_name(const char *path, int *k, int *n) {
    static const char tail[] = "-00000-of-00000.gguf";
    size_t len = strlen(path), tl = sizeof tail - 1;
    if (len < tl) return -1;
    const char *p = path + len - tl;
    int a = 0, b = 0;
    for (size_t i = 0; i < tl; i++) {
        if (tail[i] == '0') {
            if (p[i] < '0' || p[i] > '9') return -1;
            if (i < 6) a = a * 10 + (p[i] - '0');
            else b = b * 10 + (p[i] - '0');
        } else if (p[i] != tail[i]) {
            return -1;
        }
    }
    if (a < 1 || b < 1) return -1;
    *k = a;
    *n = b;
    return (long)(len - tl);
}

/* An integer split key, or `dflt` when absent. -2 (after an error line) when
 * present but not a non-negative integer. */
static int64_t split_key(const gguf_ctx *g, const char *key, int64_t dflt) {
    const kv_t *kv = find_kv(g, key);
    if (!kv) return dflt;
    int64_t v;
    if (gguf_value_int(&kv->v, &v) != 0 || v < 0) {
        fail_at(g->path, kv->at, "%s must be a non-negative integer", key);
        return -2;
    }
    return v;
}

static gguf_ctx *open_one(const char *path, ev_map *m) {
    if (ev_map_file(path, m) != 0) return NULL;
    gguf_ctx *g = parse(m->data, m->size, path);
    if (!g) ev_unmap(m);
    return g;
}

gguf_ctx *gguf_open(const char *path) {
    int k = 0, n = 1;
    long plen = split_name(path, &k, &n);
    if (plen >= 0 && k != 1) {
        ev_error("%s: is shard %d of %d of a split model: open the first one, %.*s-00001-of-%05d.gguf", path, k, n,
                 (int)plen, path, n);
        return NULL;
    }
    if (plen < 0) n = 1;

    ev_map m0;
    gguf_ctx *g = open_one(path, &m0);
    if (!g) return NULL;
    g->n_files = 1;
    g->files = xmalloc(sizeof *g->files);
    g->files[0] = xstrdup(path);
    g->maps = xmalloc(sizeof *g->maps);
    g->maps[0] = m0;

    int64_t count = split_key(g, "split.count", plen >= 0 ? -1 : 1);
    int64_t no = split_key(g, "split.no", 0);
    int64_t total = split_key(g, "split.tensors.count", -1);
    if (count == -2 || no == -2 || total == -2) goto fail;
    if (plen < 0 && count > 1) {
        ev_error("%s: split.count is %lld but the name is not of the form NAME-00001-of-%05lld.gguf, so the other "
                 "shards cannot be found", path, (long long)count, (long long)count);
        goto fail;
    }
    if (plen >= 0) {
        if (count == -1 && n > 1) {
            ev_error("%s: the name says %d shards but the file has no split.count key", path, n);
            goto fail;
        }
        if (count != -1 && count != n) {
            ev_error("%s: split.count is %lld but the name says %d shards", path, (long long)count, n);
            goto fail;
        }
        if (no != 0) {
            ev_error("%s: split.no is %lld in the first shard (expected 0)", path, (long long)no);
            goto fail;
        }
    }
    if (n > 1) {
        g->files = xrealloc(g->files, (size_t)n * sizeof *g->files);
        g->maps = xrealloc(g->maps, (size_t)n * sizeof *g->maps);
        for (int i = 2; i <= n; i++) {
            size_t need_len = (size_t)plen + 32;
            char *sp = xmalloc(need_len);
            snprintf(sp, need_len, "%.*s-%05d-of-%05d.gguf", (int)plen, path, i, n);
            if (!ev_is_file(sp)) {
                ev_error("%s: shard %d of %d is missing: %s", path, i, n, sp);
                free(sp);
                goto fail;
            }
            ev_map mi;
            gguf_ctx *s = open_one(sp, &mi);
            if (!s) {
                free(sp);
                goto fail;
            }
            /* owned by g from here on, so a failure below frees it */
            g->files[g->n_files] = sp;
            g->maps[g->n_files] = mi;
            g->n_files++;
            int64_t sc = split_key(s, "split.count", -1), sn = split_key(s, "split.no", -1);
            if (sc == -2 || sn == -2) {
                gguf_close(s);
                goto fail;
            }
            if (sc != n || sn != i - 1) {
                ev_error("%s: split.count %lld / split.no %lld do not match shard %d of %d", sp, (long long)sc,
                         (long long)sn, i, n);
                gguf_close(s);
                goto fail;
            }
            if (s->n_tensors > INT_MAX - g->n_tensors) {
                ev_error("%s: too many tensors", sp);
                gguf_close(s);
                goto fail;
            }
            g->tensors = xrealloc(g->tensors, (size_t)(g->n_tensors + s->n_tensors + 1) * sizeof *g->tensors);
            for (int j = 0; j < s->n_tensors; j++) {
                g->tensors[g->n_tensors] = s->tensors[j];
                g->tensors[g->n_tensors].shard = g->n_files - 1;
                g->n_tensors++;
            }
            s->n_tensors = 0; /* the names now belong to g */
            gguf_close(s);
        }
    }
    if (total != -1 && total != g->n_tensors) {
        ev_error("%s: split.tensors.count is %lld but the %d shard(s) hold %d tensors", path, (long long)total, n,
                 g->n_tensors);
        goto fail;
    }
    if (index_tensors(g)) goto fail;
    return g;
fail:
    gguf_close(g);
    return NULL;
}

/* ------------------------------------------------------------------ accessors */

const char *gguf_path(const gguf_ctx *g) {
    return g->path;
}

int gguf_version(const gguf_ctx *g) {
    return g->version;
}

size_t gguf_alignment(const gguf_ctx *g) {
    return g->alignment;
}

int gguf_n_shards(const gguf_ctx *g) {
    return g->n_files ? g->n_files : 1;
}

int gguf_n_kv(const gguf_ctx *g) {
    return g->n_kv;
}

const char *gguf_kv_key(const gguf_ctx *g, int i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

int gguf_kv_type(const gguf_ctx *g, int i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].v.type : -1;
}

int gguf_kv_value(const gguf_ctx *g, int i, gguf_value *out) {
    if (i < 0 || i >= g->n_kv) return -1;
    *out = g->kv[i].v;
    return 0;
}

int gguf_find_key(const gguf_ctx *g, const char *key) {
    const kv_t *kv = find_kv(g, key);
    return kv ? (int)(kv - g->kv) : -1;
}

int gguf_get_int(const gguf_ctx *g, const char *key, int64_t *out) {
    const kv_t *kv = find_kv(g, key);
    return kv ? gguf_value_int(&kv->v, out) : -1;
}

int gguf_get_float(const gguf_ctx *g, const char *key, double *out) {
    const kv_t *kv = find_kv(g, key);
    return kv ? gguf_value_float(&kv->v, out) : -1;
}

int gguf_get_str(const gguf_ctx *g, const char *key, const char **s, size_t *len) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->v.type != GGUF_T_STRING) return -1;
    *s = (const char *)kv->v.p;
    *len = (size_t)kv->v.n;
    return 0;
}

char *gguf_get_strdup(const gguf_ctx *g, const char *key) {
    const char *s;
    size_t n;
    if (gguf_get_str(g, key, &s, &n) != 0) return NULL;
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int gguf_get_arr(const gguf_ctx *g, const char *key, int *elem_type, uint64_t *n) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->v.type != GGUF_T_ARRAY) return -1;
    if (elem_type) *elem_type = kv->v.elem_type;
    if (n) *n = kv->v.n;
    return 0;
}

int gguf_arr_str(const gguf_ctx *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const kv_t *kv = find_kv(g, key);
    if (!kv || kv->v.type != GGUF_T_ARRAY || kv->v.elem_type != GGUF_T_STRING || i >= kv->v.n) return -1;
    const uint8_t *p = kv->v.p + kv->str_off[i];
    uint64_t n;
    memcpy(&n, p, 8);
    *s = (const char *)p + 8;
    *len = (size_t)n;
    return 0;
}

int gguf_arr_int(const gguf_ctx *g, const char *key, uint64_t i, int64_t *out) {
    const kv_t *kv = find_kv(g, key);
    gguf_value e;
    if (!kv || gguf_value_elem(&kv->v, i, &e) != 0) return -1;
    return gguf_value_int(&e, out);
}

int gguf_arr_float(const gguf_ctx *g, const char *key, uint64_t i, double *out) {
    const kv_t *kv = find_kv(g, key);
    gguf_value e;
    if (!kv || gguf_value_elem(&kv->v, i, &e) != 0) return -1;
    return gguf_value_float(&e, out);
}

int gguf_n_tensors(const gguf_ctx *g) {
    return g->n_tensors;
}

const gguf_tensor *gguf_tensor_at(const gguf_ctx *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i].t : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_ctx *g, const char *name) {
    if (!g || !name || !g->t_sorted) return NULL;
    tensor_t probe = {.t = {.name = name}};
    const tensor_t *pp = &probe;
    const tensor_t **r = bsearch(&pp, g->t_sorted, (size_t)g->n_tensors, sizeof *r, cmp_tensor_name);
    return r ? &(*r)->t : NULL;
}
