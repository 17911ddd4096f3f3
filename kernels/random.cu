// Random draws made on the device: uniform in [0, 1) and standard normal, from Philox4x32-10
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the counter-based
// generator of cuRAND's Philox, JAX and PyTorch's CUDA generator.
//
// Note [device draws]
//   Draw i of a launch is a pure function of (key, i): the four 32-bit words w0..w3 that
//   Philox4x32-10 makes of the counter (i mod 2^32, i div 2^32, 0, 0) under the 64-bit key.
//   There is no state on the device: the caller takes one key from a host Generator per draw
//   (minigan.cuda.random_uniform / random_normal), so that Generator -- saved in checkpoints
//   like every other -- is the whole state, and the values do not depend on the grid.
//     uniform f32: (w0 >> 8) 2^-24             uniform f64: (w0 2^21 + (w1 >> 11)) 2^-53
//     normal:      sqrt(-2 log(1 - u1)) cos(2 pi u2), u1 from w0 (and w1), u2 from w2 (and w3)
//   (Box-Muller, the cosine half only: one normal per counter, so draw i needs no neighbour.)
#include "common.cuh"

#define PHILOX_M0 0xD2511F53u  // the round multipliers and the key increments (Weyl sequence)
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ unsigned int mulhi32(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

// Ten rounds of c = (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)), the key
// bumped by (W0, W1) between rounds.
__device__ __forceinline__ void philox4x32_10(unsigned long long counter, unsigned int key0, unsigned int key1,
                                              unsigned int w[4]) {
    unsigned int c0 = (unsigned int)counter, c1 = (unsigned int)(counter >> 32), c2 = 0, c3 = 0;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key0 += PHILOX_W0;
            key1 += PHILOX_W1;
        }
        unsigned int hi0 = mulhi32(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        unsigned int hi1 = mulhi32(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ key0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ key1;
        c3 = lo0;
    }
    w[0] = c0, w[1] = c1, w[2] = c2, w[3] = c3;
}

__device__ __forceinline__ float unit(unsigned int a, unsigned int, float) { return (a >> 8) * 0x1p-24f; }
__device__ __forceinline__ double unit(unsigned int a, unsigned int b, double) {
    return (((unsigned long long)a << 21) + (b >> 11)) * 0x1p-53;
}

template <typename T>
__device__ void random_uniform(unsigned int key0, unsigned int key1, T* out, int size) {
    GRID_STRIDE_LOOP(i, size) {
        unsigned int w[4];
        philox4x32_10(i, key0, key1, w);
        out[i] = unit(w[0], w[1], T(0));
    }
}

template <typename T>
__device__ void random_normal(unsigned int key0, unsigned int key1, T* out, int size) {
    GRID_STRIDE_LOOP(i, size) {
        unsigned int w[4];
        philox4x32_10(i, key0, key1, w);
        T u1 = unit(w[0], w[1], T(0)), u2 = unit(w[2], w[3], T(0));
        // 1 - u1 is in (0, 1]: the log is finite
        out[i] = mg::sqrt(T(-2) * mg::log(T(1) - u1)) * mg::cos(T(6.283185307179586) * u2);
    }
}

extern "C" __global__ void random_uniform_f32(unsigned int key0, unsigned int key1, float* out, int size) {
    random_uniform(key0, key1, out, size);
}
extern "C" __global__ void random_uniform_f64(unsigned int key0, unsigned int key1, double* out, int size) {
    random_uniform(key0, key1, out, size);
}
extern "C" __global__ void random_normal_f32(unsigned int key0, unsigned int key1, float* out, int size) {
    random_normal(key0, key1, out, size);
}
extern "C" __global__ void random_normal_f64(unsigned int key0, unsigned int key1, double* out, int size) {
    random_normal(key0, key1, out, size);
}
