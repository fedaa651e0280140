/* cuda_check.h - fail-fast checks for CUDA and cuBLAS calls inside the kernels/ .cu files:
 * a failed call prints one line (file, line, the call, the library's reason)
 * and makes the enclosing function return -1, as the C side's ev_error does. */
#ifndef EV_KERNELS_CUDA_CHECK_H
#define EV_KERNELS_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>

#define CU_TRY(call)                                                                                  \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) {                                                                      \
            fprintf(stderr, "evalctl: cuda: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,             \
                    cudaGetErrorString(e_));                                                          \
            return -1;                                                                                \
        }                                                                                             \
    } while (0)

#define CUBLAS_TRY(call)                                                                              \
    do {                                                                                              \
        cublasStatus_t s_ = (call);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                            \
            fprintf(stderr, "evalctl: cublas: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,           \
                    cublasGetStatusString(s_));                                                       \
            return -1;                                                                                \
        }                                                                                             \
    } while (0)

/* After a kernel launch: launch errors (bad configuration) surface here. */
#define CU_LAUNCHED() CU_TRY(cudaGetLastError())

#endif
