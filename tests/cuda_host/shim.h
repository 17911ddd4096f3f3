// Lets a kernels/*.cu file compile as plain C++ on the host, so CI without a GPU can run every
// kernel (tests/cuda_host/host_build.py builds them with tests/cuda_host/emulator.cpp into one
// shared library; tests/cuda_host/fake_cupy.py launches them through minigan.cuda's own code):
//
//   g++ -x c++ -DMINIGAN_HOST -include tests/cuda_host/shim.h <kernel source>
//
// The CUDA keywords become nothing (or inline); the launch coordinates and __syncthreads() come
// from the emulator, which runs the threads of each block as cooperative fibers (Note [host
// emulator] in emulator.cpp). __shared__ variables become function-local statics: one copy, which
// the emulator fills with 0xff bytes (NaN, or -1) before each block, so each block starts with
// shared memory of its own whose unwritten values show up as garbage.
#pragma once

#ifndef MINIGAN_HOST
#error "shim.h is for the host build of the CUDA kernels; compile with -DMINIGAN_HOST"
#endif

#include <math.h>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
struct uint3 {
    unsigned int x = 0, y = 0, z = 0;
};

// Set by the emulator before it runs (or resumes) each thread.
extern "C" {
extern dim3 gridDim, blockDim;
extern uint3 blockIdx, threadIdx;
void __syncthreads();
}
