// Lets a kernels/*.cu file compile as plain C++ on the host, so CI without a GPU can run the
// grid-stride kernels (tests/test_cuda_kernels.py builds them into a shared library, ctypes calls them):
//
//   g++ -shared -fPIC -x c++ -DMINIGAN_HOST -include tests/cuda_host/shim.h kernels/*.cu
//
// The CUDA keywords become nothing (or inline), and the built-in launch coordinates become
// ordinary globals. Left at their defaults (grid 1, block 1, index 0), one call is one "thread"
// whose grid-stride loop visits every element (Note [grid-stride loop] in kernels/common.cuh).
// A test may set them through ctypes to play the threads of a bigger launch one after another.
// Kernels using __shared__ / __syncthreads sit inside #ifndef MINIGAN_HOST and are GPU-only.
#pragma once

#ifndef MINIGAN_HOST
#error "shim.h is for the host build of the CUDA kernels; compile with -DMINIGAN_HOST"
#endif

#include <math.h>

#define __global__
#define __device__
#define __forceinline__ inline

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
struct uint3 {
    unsigned int x = 0, y = 0, z = 0;
};

// extern "C" so ctypes finds them by their plain names; inline (C++17) so every .cu that includes
// this header shares one definition.
extern "C" {
inline dim3 gridDim, blockDim;
inline uint3 blockIdx, threadIdx;
}
