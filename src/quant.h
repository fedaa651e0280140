/* quant.h - tensor element types and their dequantisation to fp32, exactly as ggml
 * defines them (ggml-common.h block layouts, ggml-quants.c dequantize_row_*).
 *
 * Type numbers are ggml's, so a GGUF tensor's type field indexes this enum
 * directly; safetensors dtypes map onto F32/F16/BF16. Quantised types store
 * rows as consecutive blocks of qt_block_elems() values in qt_block_bytes() bytes;
 * a row's element count must be a multiple of the block size. */
#ifndef EV_QUANT_H
#define EV_QUANT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_BF16 = 30,
    QT_COUNT = 40 /* bound for tables; not a type */
} qt_type;

/* 1 when evalctl can dequantise the type. */
int qt_supported(int type);
/* "Q4_K", "F32", ...; "type#N" style for unknown numbers is the caller's job: returns NULL. */
const char *qt_name(int type);
/* Elements per block (1 for F32/F16/BF16, 32 for Q4_0.., 256 for K-quants); 0 if unsupported. */
int qt_block_elems(int type);
/* Bytes per block; 0 if unsupported. */
size_t qt_block_bytes(int type);
/* Bytes of a row of n elements, or 0 when n is not a multiple of the block size
 * or the type is unsupported. */
size_t qt_row_bytes(int type, int64_t n);

/* Dequantises n elements (a multiple of the block size) from src into dst. */
void qt_dequant(int type, const void *src, float *dst, int64_t n);

float qt_f16_to_f32(uint16_t h);
float qt_bf16_to_f32(uint16_t h);
uint16_t qt_f32_to_f16(float f);   /* round to nearest even */
uint16_t qt_f32_to_bf16(float f);  /* round to nearest even */

#endif
