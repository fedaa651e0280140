/* device.cu - CUDA device discovery for `evalctl info --backend cuda`. */
#include "cuda_device.h"

#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int cuda_describe(char *buf, size_t n) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(buf, n, "no usable CUDA device: %s", cudaGetErrorString(e));
        return -1;
    }
    if (count == 0) {
        snprintf(buf, n, "no CUDA device found");
        return -1;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess) {
        snprintf(buf, n, "cannot query CUDA device 0: %s", cudaGetErrorString(e));
        return -1;
    }
    size_t free_b = 0, total_b = 0;
    e = cudaMemGetInfo(&free_b, &total_b);
    if (e != cudaSuccess) {
        snprintf(buf, n, "cannot query memory of CUDA device 0: %s", cudaGetErrorString(e));
        return -1;
    }
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    snprintf(buf, n,
             "backend: cuda\ndevices: %d\ngpu: %s\ncompute_capability: %d.%d\nmemory_total_mib: %zu\n"
             "memory_free_mib: %zu\nsms: %d\ndriver: %d\nruntime: %d\nbuild_target: sm_90a\n",
             count, p.name, p.major, p.minor, total_b >> 20, free_b >> 20, p.multiProcessorCount, drv, rt);
    return 0;
}
