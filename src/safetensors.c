/* safetensors.c - memory-mapped reader for Hugging Face safetensors files and
 * model directories (see safetensors.h for the byte layout).
 *
 * Nothing in the file is trusted: the header length is capped and checked against
 * the file size, the header must parse as one JSON object without duplicate keys,
 * and every entry's dtype, shape and offsets are validated so that each tensor's
 * bytes lie inside the data section and no two tensors share a byte. Data
 * pointers handed out point into the mapping and are never dereferenced here. */
#include "safetensors.h"

#include "quant.h"
#include "util.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The reference implementation's own limit (safetensors MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000ull
/* A directory with more shards than this is not a model we can load. */
#define ST_MAX_SHARDS 4096

typedef struct {
    char *path;   /* named in errors and in st_tensor.file */
    ev_map map;   /* empty for st_open_buffer: the caller owns the bytes */
} st_file;

struct st_set {
    st_tensor *t;       /* [n] in file order, then data offset order */
    int n, cap;
    st_tensor **by_name; /* [n] sorted by name, for st_find */
    st_file *files;     /* [n_files] */
    int n_files;
};

/* ---------------------------------------------------------------------- dtypes */

typedef struct {
    const char *name;
    size_t size;
    int type;
} st_dtype;

static const st_dtype dtypes[] = {
    {"F64", 8, -1},     {"F32", 4, QT_F32}, {"F16", 2, QT_F16},    {"BF16", 2, QT_BF16},
    {"I64", 8, -1},     {"I32", 4, -1},     {"I16", 2, -1},        {"I8", 1, -1},
    {"U64", 8, -1},     {"U32", 4, -1},     {"U16", 2, -1},        {"U8", 1, -1},
    {"BOOL", 1, -1},    {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},    {"F8_E8M0", 1, -1},
    {"C64", 8, -1},
};

static const st_dtype *find_dtype(const char *s) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, s) == 0) return &dtypes[i];
    return NULL;
}

/* ---------------------------------------------------------------------- helpers */

/* Names come from the file: keep error lines one line and of sane length. */
static const char *printable(char *buf, size_t cap, const char *s) {
    size_t k = 0;
    for (; s[k] && k + 4 < cap; k++) {
        unsigned char c = (unsigned char)s[k];
        buf[k] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[k]) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Best effort: the byte offset in the file where the entry's key is written, so
 * that an error can point at it; -1 when the key is escaped or not found. */
static long long key_offset(const uint8_t *hdr, size_t n, const char *key) {
    size_t k = strlen(key);
    if (k + 2 > n || k > 4096) return -1;
    char *quoted = xmalloc(k + 3);
    quoted[0] = '"';
    memcpy(quoted + 1, key, k);
    quoted[k + 1] = '"';
    quoted[k + 2] = '\0';
    const uint8_t *p = memmem(hdr, n, quoted, k + 2);
    free(quoted);
    return p ? 8 + (long long)(p - hdr) : -1;
}

/* ------------------------------------------------------------------ one file */

typedef struct {
    st_tensor t;
    uint64_t begin, end;   /* data-section offsets */
    const char *key;       /* into the JSON, valid while it lives */
} st_entry;

static int cmp_begin(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Reads a JSON value that must be a non-negative integer. */
static int get_uint(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -1;
    *out = (uint64_t)x;
    return 0;
}

/* Validates one header entry into *e. Returns 0 or -1 after one error line. */
static int parse_entry(const char *path, const uint8_t *hdr, size_t hlen, size_t dsize, const char *key,
                       const json_t *val, st_entry *e) {
    char nb[160], db[64], at[48] = "";
    const char *name = printable(nb, sizeof nb, key);
    long long off = key_offset(hdr, hlen, key);
    if (off >= 0) snprintf(at, sizeof at, " (at byte %lld)", off);

    if (!json_is_object(val)) return ev_error("%s: tensor '%s': entry is not an object%s", path, name, at);
    const json_t *jd = json_object_get(val, "dtype");
    const json_t *js = json_object_get(val, "shape");
    const json_t *jo = json_object_get(val, "data_offsets");
    if (!jd) return ev_error("%s: tensor '%s': missing dtype%s", path, name, at);
    if (!js) return ev_error("%s: tensor '%s': missing shape%s", path, name, at);
    if (!jo) return ev_error("%s: tensor '%s': missing data_offsets%s", path, name, at);
    if (!json_is_string(jd)) return ev_error("%s: tensor '%s': dtype is not a string%s", path, name, at);
    const st_dtype *dt = find_dtype(json_string_value(jd));
    if (!dt)
        return ev_error("%s: tensor '%s': unknown dtype '%s'%s", path, name,
                        printable(db, sizeof db, json_string_value(jd)), at);

    if (!json_is_array(js)) return ev_error("%s: tensor '%s': shape is not an array%s", path, name, at);
    size_t nd = json_array_size(js);
    if (nd > 4) return ev_error("%s: tensor '%s': shape has %zu dimensions (at most 4)%s", path, name, nd, at);
    memset(e, 0, sizeof *e);
    e->t.ne[0] = e->t.ne[1] = e->t.ne[2] = e->t.ne[3] = 1;
    /* numel is the real element count; span multiplies the non-zero dims too, so
     * that later code computing ne0*ne1*... cannot overflow even when a zero dim
     * makes the tensor empty. */
    size_t numel = 1, span = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (get_uint(json_array_get(js, i), &d) != 0)
            return ev_error("%s: tensor '%s': shape[%zu] is not a non-negative integer%s", path, name, i, at);
        if (d > INT64_MAX || ev_mul_size(span, d ? (size_t)d : 1, &span) != 0 || span > INT64_MAX)
            return ev_error("%s: tensor '%s': shape is too large%s", path, name, at);
        numel *= (size_t)d; /* cannot overflow: |numel| <= span */
        e->t.ne[nd - 1 - i] = (int64_t)d;
    }
    size_t nbytes;
    if (ev_mul_size(numel, dt->size, &nbytes) != 0)
        return ev_error("%s: tensor '%s': shape is too large%s", path, name, at);

    if (!json_is_array(jo) || json_array_size(jo) != 2 || get_uint(json_array_get(jo, 0), &e->begin) != 0 ||
        get_uint(json_array_get(jo, 1), &e->end) != 0)
        return ev_error("%s: tensor '%s': data_offsets is not a pair of non-negative integers%s", path, name, at);
    if (e->begin > e->end)
        return ev_error("%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] are reversed%s", path, name,
                        e->begin, e->end, at);
    if (e->end > dsize)
        return ev_error("%s: tensor '%s': data_offsets end %" PRIu64 " is past the %zu-byte data section "
                        "(file byte %" PRIu64 " of %zu)%s", path, name, e->end, dsize, 8 + hlen + e->end,
                        8 + hlen + dsize, at);
    if (e->end - e->begin != nbytes)
        return ev_error("%s: tensor '%s': data_offsets span %" PRIu64 " bytes, but its %s shape needs %zu%s", path,
                        name, e->end - e->begin, dt->name, nbytes, at);

    e->t.dtype = dt->name;
    e->t.type = dt->type;
    e->t.n_dims = (int)nd;
    e->t.nbytes = nbytes;
    e->key = key;
    return 0;
}

static void append(st_set *s, const st_tensor *t) {
    if (s->n == s->cap) {
        if (s->cap > INT_MAX / 2) ev_fatal("safetensors: too many tensors");
        s->cap = s->cap ? 2 * s->cap : 64;
        s->t = xrealloc(s->t, (size_t)s->cap * sizeof *s->t);
    }
    s->t[s->n++] = *t;
}

/* Parses the safetensors bytes base[0..size) and appends their tensors to s,
 * tagged with the file path (owned by s). Returns 0 or -1 after one error line. */
static int parse_file(st_set *s, const char *path, const uint8_t *base, size_t size) {
    if (size < 8) return ev_error("%s: %zu bytes is too short for a safetensors header", path, size);
    uint64_t hlen = read_le64(base);
    if (hlen > ST_MAX_HEADER)
        return ev_error("%s: header length %" PRIu64 " exceeds the limit of %llu bytes (at byte 0)", path, hlen,
                        ST_MAX_HEADER);
    if (hlen > size - 8)
        return ev_error("%s: header length %" PRIu64 " runs past the end of the %zu-byte file (at byte 0)", path,
                        hlen, size);
    const uint8_t *hdr = base + 8;
    const uint8_t *data = hdr + hlen;
    size_t dsize = size - 8 - (size_t)hlen;

    json_error_t err;
    json_t *root = json_loadb((const char *)hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return ev_error("%s: header is not valid JSON: %s (at byte %lld)", path, err.text,
                        8 + (long long)(err.position > 0 ? err.position : 0));
    int rc = -1;
    st_entry *es = NULL;
    if (!json_is_object(root)) {
        ev_error("%s: header is not a JSON object (at byte 8)", path);
        goto done;
    }
    es = xcalloc(json_object_size(root) + 1, sizeof *es);
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) {
                ev_error("%s: __metadata__ is not an object", path);
                goto done;
            }
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    char kb[160];
                    ev_error("%s: __metadata__ value '%s' is not a string", path, printable(kb, sizeof kb, mk));
                    goto done;
                }
            }
            continue;
        }
        if (parse_entry(path, hdr, (size_t)hlen, dsize, key, val, &es[n]) != 0) goto done;
        n++;
    }

    /* Empty tensors own no bytes; every other one must start at or after the
     * furthest end seen so far in offset order. */
    qsort(es, n, sizeof *es, cmp_begin);
    const st_entry *far = NULL;
    for (size_t i = 0; i < n; i++) {
        if (es[i].begin == es[i].end) continue;
        if (far && es[i].begin < far->end) {
            char a[160], b[160];
            ev_error("%s: tensors '%s' and '%s' overlap (data bytes [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64
                     ", %" PRIu64 "), at byte %" PRIu64 ")", path, printable(a, sizeof a, far->key),
                     printable(b, sizeof b, es[i].key), far->begin, far->end, es[i].begin, es[i].end,
                     8 + hlen + es[i].begin);
            goto done;
        }
        if (!far || es[i].end > far->end) far = &es[i];
    }
    for (size_t i = 0; i < n; i++) {
        es[i].t.name = xstrdup(es[i].key);
        es[i].t.data = data + es[i].begin;
        es[i].t.file = path;
        append(s, &es[i].t);
    }
    rc = 0;
done:
    free(es);
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------------- the set */

static int cmp_name(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_key(const void *k, const void *b) {
    const st_tensor *y = *(st_tensor *const *)b;
    return strcmp((const char *)k, y->name);
}

/* Sorts the name index and rejects a name held by two shards. */
static int index_names(st_set *s) {
    s->by_name = xmalloc((size_t)(s->n ? s->n : 1) * sizeof *s->by_name);
    for (int i = 0; i < s->n; i++) s->by_name[i] = &s->t[i];
    qsort(s->by_name, (size_t)s->n, sizeof *s->by_name, cmp_name);
    for (int i = 1; i < s->n; i++) {
        if (strcmp(s->by_name[i - 1]->name, s->by_name[i]->name) == 0) {
            char nb[160];
            return ev_error("%s: tensor '%s' also appears in %s", s->by_name[i]->file,
                            printable(nb, sizeof nb, s->by_name[i]->name), s->by_name[i - 1]->file);
        }
    }
    return 0;
}

static st_file *add_file(st_set *s, char *path) {
    s->files = xrealloc(s->files, (size_t)(s->n_files + 1) * sizeof *s->files);
    st_file *f = &s->files[s->n_files++];
    f->path = path;
    f->map.data = NULL;
    f->map.size = 0;
    return f;
}

/* Maps and parses one file; path becomes owned by s. */
static int open_one(st_set *s, char *path) {
    st_file *f = add_file(s, path);
    if (ev_map_file(path, &f->map) != 0) return -1;
    return parse_file(s, path, f->map.data, f->map.size);
}

void st_close(st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free((char *)s->t[i].name);
    for (int i = 0; i < s->n_files; i++) {
        ev_unmap(&s->files[i].map);
        free(s->files[i].path);
    }
    free(s->files);
    free(s->by_name);
    free(s->t);
    free(s);
}

st_set *st_open_buffer(const void *data, size_t size, const char *name) {
    st_set *s = xcalloc(1, sizeof *s);
    add_file(s, xstrdup(name));
    if (parse_file(s, s->files[0].path, data, size) != 0 || index_names(s) != 0) {
        st_close(s);
        return NULL;
    }
    return s;
}

/* A shard name from an index must name a file in the same directory. */
static int bad_shard_name(const char *f) {
    return f[0] == '\0' || strchr(f, '/') || strstr(f, "..");
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard}}.
 * Each shard is opened once; every tensor the index lists must be in its shard. */
static int open_index(st_set *s, const char *dir, const char *ipath) {
    size_t len;
    char *text = ev_read_file(ipath, &len);
    if (!text) return -1;
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root)
        return ev_error("%s: not valid JSON: %s (at byte %d)", ipath, err.text, err.position > 0 ? err.position : 0);
    int rc = -1;
    const char **shards = NULL;
    int n_shards = 0;
    char nb[160], fb[160];
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm)) {
        ev_error("%s: no \"weight_map\" object", ipath);
        goto done;
    }
    if (json_object_size(wm) == 0) {
        ev_error("%s: \"weight_map\" is empty", ipath);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            ev_error("%s: weight_map entry '%s' is not a file name", ipath, printable(nb, sizeof nb, key));
            goto done;
        }
        const char *f = json_string_value(val);
        if (bad_shard_name(f)) {
            ev_error("%s: weight_map entry '%s' names '%s', which is not a file in this directory", ipath,
                     printable(nb, sizeof nb, key), printable(fb, sizeof fb, f));
            goto done;
        }
        int k = 0;
        while (k < n_shards && strcmp(shards[k], f) != 0) k++;
        if (k == n_shards) {
            if (n_shards == ST_MAX_SHARDS) {
                ev_error("%s: more than %d shards", ipath, ST_MAX_SHARDS);
                goto done;
            }
            shards = xrealloc(shards, (size_t)(n_shards + 1) * sizeof *shards);
            shards[n_shards++] = f;
        }
    }
    for (int k = 0; k < n_shards; k++)
        if (open_one(s, ev_path_join(dir, shards[k])) != 0) goto done;
    if (index_names(s) != 0) goto done;
    json_object_foreach(wm, key, val) {
        const st_tensor *t = st_find(s, key);
        const char *f = json_string_value(val);
        char *want = ev_path_join(dir, f);
        int ok = t && strcmp(t->file, want) == 0;
        free(want);
        if (!ok) {
            ev_error("%s: tensor '%s' listed in the index is not in %s", ipath, printable(nb, sizeof nb, key),
                     printable(fb, sizeof fb, f));
            goto done;
        }
    }
    rc = 0;
done:
    free(shards);
    json_decref(root);
    return rc;
}

st_set *st_open(const char *path) {
    st_set *s = xcalloc(1, sizeof *s);
    int rc;
    if (ev_is_dir(path)) {
        char *ipath = ev_path_join(path, "model.safetensors.index.json");
        char *one = ev_path_join(path, "model.safetensors");
        if (ev_is_file(ipath)) {
            rc = open_index(s, path, ipath);
            free(one);
        } else if (ev_is_file(one)) {
            rc = open_one(s, one);
            if (rc == 0) rc = index_names(s);
        } else {
            rc = ev_error("%s: no model.safetensors or model.safetensors.index.json in this directory", path);
            free(one);
        }
        free(ipath);
    } else {
        rc = open_one(s, xstrdup(path));
        if (rc == 0) rc = index_names(s);
    }
    if (rc != 0) {
        st_close(s);
        return NULL;
    }
    return s;
}

int st_n_tensors(const st_set *s) {
    return s ? s->n : 0;
}

const st_tensor *st_tensor_at(const st_set *s, int i) {
    return s && i >= 0 && i < s->n ? &s->t[i] : NULL;
}

const st_tensor *st_find(const st_set *s, const char *name) {
    if (!s || !s->by_name || s->n == 0) return NULL;
    st_tensor **p = bsearch(name, s->by_name, (size_t)s->n, sizeof *s->by_name, cmp_key);
    return p ? *p : NULL;
}
