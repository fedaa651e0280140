/* cuda_device.h - the C API of the CUDA backend (the kernels/ .cu files). Everything the C side
 * calls on the GPU is declared here; builds without nvcc don't compile these. */
#ifndef EV_KERNELS_CUDA_DEVICE_H
#define EV_KERNELS_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes `key: value` lines describing device 0 (name, compute capability, memory,
 * the build's target) into buf. Returns 0, or -1 with a one-line reason in buf
 * (no driver, no device). */
int cuda_describe(char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
