/* safetensors.h - reader for Hugging Face safetensors files, memory-mapped.
 *
 * Byte layout: u64 little-endian header length N | N bytes of JSON
 *   { "NAME": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]},
 *     ..., "__metadata__": {string: string} }
 * then the data section; offsets are relative to its start, end - begin must equal
 * the element count times the dtype size, and tensors may not overlap or leave
 * the file. A directory holds one model.safetensors, or several files listed in
 * model.safetensors.index.json ("weight_map": {tensor: file}).
 * Shapes are reported ggml-style (ne[0] innermost) so that the model layer sees
 * GGUF and safetensors tensors the same way. */
#ifndef EV_SAFETENSORS_H
#define EV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;    /* owned by the set */
    const char *dtype;   /* the file's dtype string, e.g. "BF16" */
    int type;            /* qt_type for F32/F16/BF16, -1 for other dtypes */
    int n_dims;
    int64_t ne[4];       /* reversed from the file's shape; unused dims are 1 */
    const void *data;    /* into the mapping, valid until st_close; only as aligned
                            as the file makes it (read through memcpy) */
    size_t nbytes;
    const char *file;    /* the shard it came from (owned by the set) */
} st_tensor;

typedef struct st_set st_set;

/* path: a .safetensors file or a directory (index.json or model.safetensors).
 * Returns NULL after one error line naming the file and the problem. */
st_set *st_open(const char *path);
/* Parses one safetensors file already in memory; `name` is used in error lines
 * and as each tensor's `file`. The buffer is borrowed: it must outlive the set.
 * (The fuzz target enters here.) */
st_set *st_open_buffer(const void *data, size_t size, const char *name);
void st_close(st_set *s);   /* NULL-safe */

int st_n_tensors(const st_set *s);
const st_tensor *st_tensor_at(const st_set *s, int i);
const st_tensor *st_find(const st_set *s, const char *name);  /* NULL if absent */

#endif
