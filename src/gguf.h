/* gguf.h - reader for GGUF v2/v3 model files (and split files), memory-mapped.
 *
 * Byte layout (little-endian):
 *   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 value_type | value }
 *       string = u64 len + bytes (no NUL); array = u32 elem_type + u64 n + n values
 *       (arrays of arrays and arrays of strings allowed)
 *   n_tensors x { string name | u32 n_dims (<= 4) | n_dims x u64 ne | u32 type | u64 offset }
 *   padding to general.alignment (default 32), then the tensor data section;
 *   each tensor's offset is relative to the data section and aligned.
 * ne[0] is the innermost (contiguous) dimension: a weight matrix of shape
 * [rows][cols] in PyTorch has ne[0] = cols, ne[1] = rows.
 *
 * Every read is bounds-checked against the mapping; counts, lengths, dims, types,
 * offsets and alignment are validated; a bad file gives one error line naming the
 * file, the problem and the byte offset, and gguf_open returns NULL.
 * Split models (NAME-00001-of-0000N.gguf) are opened from their first shard: the
 * other shards are found beside it, metadata comes from the first, tensors from all. */
#ifndef EV_GGUF_H
#define EV_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_T_UINT8 = 0, GGUF_T_INT8 = 1, GGUF_T_UINT16 = 2, GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4, GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8, GGUF_T_ARRAY = 9, GGUF_T_UINT64 = 10, GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12,
};

typedef struct {
    const char *name;     /* NUL-terminated copy, owned by the context */
    int type;             /* qt_type number */
    int n_dims;
    int64_t ne[4];        /* unused dims are 1 */
    const void *data;     /* into the mapping, valid until gguf_close */
    size_t nbytes;
} gguf_tensor;

typedef struct gguf_ctx gguf_ctx;

gguf_ctx *gguf_open(const char *path);
void gguf_close(gguf_ctx *g);   /* NULL-safe */

const char *gguf_path(const gguf_ctx *g);
int gguf_version(const gguf_ctx *g);

/* ---- metadata */
int gguf_n_kv(const gguf_ctx *g);
const char *gguf_kv_key(const gguf_ctx *g, int i);     /* NUL-terminated, owned by g */
int gguf_kv_type(const gguf_ctx *g, int i);            /* enum gguf_vtype */
int gguf_find_key(const gguf_ctx *g, const char *key); /* index or -1 */

/* Scalar getters: return 0 and set *out, or -1 when the key is absent or its
 * value is not convertible (integers of any width convert to each other when the
 * value fits, so a uint64 above INT64_MAX is refused; bool reads as 0/1;
 * gguf_get_float takes float32/64 and, converted to double, any integer;
 * floats never read as integers). */
int gguf_get_int(const gguf_ctx *g, const char *key, int64_t *out);
int gguf_get_float(const gguf_ctx *g, const char *key, double *out);
/* String value: pointer into the mapping (not NUL-terminated) and its length. */
int gguf_get_str(const gguf_ctx *g, const char *key, const char **s, size_t *len);
/* Heap copy, NUL-terminated, owned by the caller; NULL when absent or not a string. */
char *gguf_get_strdup(const gguf_ctx *g, const char *key);

/* Arrays: element type and count; -1 when absent or not an array. */
int gguf_get_arr(const gguf_ctx *g, const char *key, int *elem_type, uint64_t *n);
/* i-th element of a string array (pointer into the mapping, length). */
int gguf_arr_str(const gguf_ctx *g, const char *key, uint64_t i, const char **s, size_t *len);
/* i-th element of a numeric array, converted as the scalar getters do. */
int gguf_arr_int(const gguf_ctx *g, const char *key, uint64_t i, int64_t *out);
int gguf_arr_float(const gguf_ctx *g, const char *key, uint64_t i, double *out);

/* ---- generic values (for walking any value, nested arrays included)
 * A borrowed view into the mapping, valid until gguf_close. */
typedef struct {
    int type;          /* enum gguf_vtype */
    int elem_type;     /* arrays: the elements' type */
    uint64_t n;        /* arrays: element count; strings: length in bytes */
    const uint8_t *p;  /* scalars: the value; strings: the bytes; arrays: the first element */
    size_t size;       /* bytes of the payload starting at p */
} gguf_value;

/* The value of the i-th key; 0, or -1 when i is out of range. */
int gguf_kv_value(const gguf_ctx *g, int i, gguf_value *out);
/* i-th element of an array value; -1 when not an array or i >= n. Constant time
 * for fixed-size elements, a walk from the start for strings and arrays. */
int gguf_value_elem(const gguf_value *arr, uint64_t i, gguf_value *out);
/* Scalar conversions, with the rules of gguf_get_int / gguf_get_float. */
int gguf_value_int(const gguf_value *v, int64_t *out);
int gguf_value_float(const gguf_value *v, double *out);
/* "uint32", "array", ...; "?" for numbers outside enum gguf_vtype. */
const char *gguf_type_name(int type);

/* Data alignment of the (first) file: general.alignment or 32. */
size_t gguf_alignment(const gguf_ctx *g);
/* Number of files the model was read from (1 unless split). */
int gguf_n_shards(const gguf_ctx *g);

/* Parses a GGUF image already in memory (no split handling). The buffer is
 * borrowed and must outlive the context; name is used in error messages.
 * gguf_open maps the file and goes through the same parser. */
gguf_ctx *gguf_open_mem(const void *data, size_t size, const char *name);

/* ---- tensors */
int gguf_n_tensors(const gguf_ctx *g);
const gguf_tensor *gguf_tensor_at(const gguf_ctx *g, int i);
const gguf_tensor *gguf_find_tensor(const gguf_ctx *g, const char *name); /* NULL if absent */

#endif
