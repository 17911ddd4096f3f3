// The one header every kernels/*.cu includes: the grid-stride loop and small math helpers.
//
// Conventions for every kernel in kernels/ (DESIGN.md, "CUDA kernels"):
//   - entry points are `extern "C" __global__`, named <op>_<forward|backward>_<f32|f64> for the
//     two halves of an op, or <op>_<f32|f64> for an op that stands alone (im2col, adam_update);
//   - arguments come in the order: input arrays, op scalars, output arrays, sizes;
//   - sizes and counts are `int` (numpy.int32), float scalars have the array's type
//     (numpy.float32 for _f32, numpy.float64 for _f64); arrays are C-contiguous;
//   - the body is a template over T shared by the f32 and f64 entry points.
//
// minigan.cuda pastes this file into each .cu source in place of its #include line,
// so NVRTC compiles every file with no include path. On the host, tests/cuda_host/shim.h
// defines the CUDA keywords away and these kernels compile as plain C++ (MINIGAN_HOST), run by
// an emulator of the launch (Note [host emulator] in tests/cuda_host/emulator.cpp).
#pragma once

// Note [grid-stride loop]
//   Thread t of the launch visits i = t, t + T, t + 2T, ... (T = total threads), so any grid
//   covers any n: the launcher may cap the grid (the host emulator runs the same grid). The
//   loop counter is 64-bit so that i + stride never overflows. The loop runs over fewer than
//   2^31 elements (minigan.cuda checks before launching), so inside the loop a kernel may take
//   e = (int)i and do its index arithmetic in 32 bits: 64-bit integer division is emulated on
//   the GPU and costs several times more. An offset into another, larger array is 64-bit
//   (col2im's reads of col: col can have more than 2^31 elements when x has fewer).
#define GRID_STRIDE_LOOP(i, n)                                                    \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// Threads per block of the shared-memory reductions (batch-norm statistics); the launcher
// must use exactly this block size, the shared arrays are sized by it.
#define REDUCE_THREADS 256

// Float and double overloads of the math functions, so a template body says mg::exp(x)
// and gets expf or exp. NVRTC has the C names built in; the host shim includes <math.h>.
namespace mg {
__device__ __forceinline__ float exp(float x) { return expf(x); }
__device__ __forceinline__ double exp(double x) { return ::exp(x); }
__device__ __forceinline__ float log(float x) { return logf(x); }
__device__ __forceinline__ double log(double x) { return ::log(x); }
__device__ __forceinline__ float log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double log1p(double x) { return ::log1p(x); }
__device__ __forceinline__ float tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh(double x) { return ::tanh(x); }
__device__ __forceinline__ float sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt(double x) { return ::sqrt(x); }
__device__ __forceinline__ float cos(float x) { return cosf(x); }
__device__ __forceinline__ double cos(double x) { return ::cos(x); }
__device__ __forceinline__ float abs(float x) { return fabsf(x); }
__device__ __forceinline__ double abs(double x) { return fabs(x); }

// 1 / (1 + e^-x) written with z = e^-|x| <= 1: no x overflows, and for x << 0 the
// result z / (1 + z) keeps its relative precision instead of rounding to 0 early.
template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    T z = mg::exp(-mg::abs(x));
    return x >= T(0) ? T(1) / (T(1) + z) : z / (T(1) + z);
}
}  // namespace mg
