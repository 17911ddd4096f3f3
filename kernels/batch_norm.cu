// Batch normalization in train mode, on x viewed as x3 of shape (n, c, l) (l = h*w for 2d, 1 for 1d).
//
// Notation: channel ci owns the m = n*l values x3[ni, ci, li], stored at (ni*c + ci)*l + li;
// mean, var, invstd = 1/sqrt(var + eps), gamma, beta are (c,); xhat = (x - mean) * invstd.
//
// The statistics and the backward sums are per-channel reductions: one block per channel,
// REDUCE_THREADS threads striding over its m values, then a shared-memory tree. The elementwise
// steps are grid-stride loops. All of them run on the host too, the threads of a block as fibers
// meeting at a real barrier (Note [host emulator] in tests/cuda_host/emulator.cpp).
#include "common.cuh"

#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2

// y = (x - mean) * invstd * gamma + beta, optionally followed by the activation that comes
// right after batch norm in a DCGAN block: fusing it saves one full read and write of y.
template <typename T, int kAct>
__device__ void batch_norm_forward(const T* x3, const T* mean, const T* invstd, const T* gamma, const T* beta,
                                   T slope, T* y3, int n, int c, int l) {
    GRID_STRIDE_LOOP(idx, (long long)n * c * l) {
        int ci = (int)idx / l % c;  // Note [grid-stride loop]: 32-bit math
        T y = (x3[idx] - mean[ci]) * invstd[ci] * gamma[ci] + beta[ci];
        if constexpr (kAct == ACT_RELU) y = y > T(0) ? y : T(0);
        if constexpr (kAct == ACT_LEAKY_RELU) y = y > T(0) ? y : slope * y;
        y3[idx] = y;
    }
}

// gx = gamma * invstd / m * (m * gy - gbeta - xhat * ggamma), the train-mode gradient through
// the batch mean and variance; ggamma = sum gy * xhat and gbeta = sum gy come from the reduction.
template <typename T>
__device__ void batch_norm_backward(const T* x3, const T* gy3, const T* mean, const T* invstd, const T* gamma,
                                    const T* ggamma, const T* gbeta, T* gx3, int n, int c, int l) {
    T m = T((long long)n * l);
    GRID_STRIDE_LOOP(idx, (long long)n * c * l) {
        int ci = (int)idx / l % c;
        T xhat = (x3[idx] - mean[ci]) * invstd[ci];
        gx3[idx] = gamma[ci] * invstd[ci] / m * (m * gy3[idx] - gbeta[ci] - xhat * ggamma[ci]);
    }
}

// Sum of one value per thread over the block (blockDim.x == REDUCE_THREADS, a power of two).
// Partial sums are double even for f32: a channel can hold 10^5 values or more.
__device__ double block_sum(double v) {
    __shared__ double partial[REDUCE_THREADS];
    partial[threadIdx.x] = v;
    __syncthreads();
    for (int half = REDUCE_THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    double total = partial[0];
    __syncthreads();  // every thread has read the total before a next call overwrites partial
    return total;
}

// mean and biased var of channel blockIdx.x, in two passes (sum of squared deviations from
// the mean, not E[x^2] - mean^2, which cancels catastrophically when |mean| >> std).
template <typename T>
__device__ void batch_norm_stats(const T* x3, T* mean, T* var, int n, int c, int l) {
    int ci = blockIdx.x;
    int m = n * l;
    double s = 0;
    for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) s += x3[(k / l * c + ci) * l + k % l];
    double mu = block_sum(s) / m;
    double q = 0;
    for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) {
        double d = x3[(k / l * c + ci) * l + k % l] - mu;
        q += d * d;
    }
    double sigma2 = block_sum(q) / m;
    if (threadIdx.x == 0) {
        mean[ci] = T(mu);
        var[ci] = T(sigma2);
    }
}

// ggamma = sum gy * xhat and gbeta = sum gy of channel blockIdx.x.
template <typename T>
__device__ void batch_norm_backward_reduce(const T* x3, const T* gy3, const T* mean, const T* invstd, T* ggamma,
                                           T* gbeta, int n, int c, int l) {
    int ci = blockIdx.x;
    int m = n * l;
    double sg = 0, sgx = 0;
    for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) {
        int idx = (k / l * c + ci) * l + k % l;
        double gy = gy3[idx];
        sg += gy;
        sgx += gy * (double)((x3[idx] - mean[ci]) * invstd[ci]);
    }
    double total_g = block_sum(sg), total_gx = block_sum(sgx);
    if (threadIdx.x == 0) {
        gbeta[ci] = T(total_g);
        ggamma[ci] = T(total_gx);
    }
}

extern "C" __global__ void batch_norm_stats_f32(const float* x3, float* mean, float* var, int n, int c, int l) {
    batch_norm_stats(x3, mean, var, n, c, l);
}
extern "C" __global__ void batch_norm_stats_f64(const double* x3, double* mean, double* var, int n, int c, int l) {
    batch_norm_stats(x3, mean, var, n, c, l);
}
extern "C" __global__ void batch_norm_backward_reduce_f32(const float* x3, const float* gy3, const float* mean,
                                                          const float* invstd, float* ggamma, float* gbeta, int n,
                                                          int c, int l) {
    batch_norm_backward_reduce(x3, gy3, mean, invstd, ggamma, gbeta, n, c, l);
}
extern "C" __global__ void batch_norm_backward_reduce_f64(const double* x3, const double* gy3, const double* mean,
                                                          const double* invstd, double* ggamma, double* gbeta, int n,
                                                          int c, int l) {
    batch_norm_backward_reduce(x3, gy3, mean, invstd, ggamma, gbeta, n, c, l);
}

// The three forward flavours share one signature; slope only matters to the leaky ReLU one.
extern "C" __global__ void batch_norm_forward_f32(
    const float* x3, const float* mean, const float* invstd, const float* gamma, const float* beta, float slope,
    float* y3, int n, int c, int l) {
    batch_norm_forward<float, ACT_NONE>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_forward_f64(
    const double* x3, const double* mean, const double* invstd, const double* gamma, const double* beta, double slope,
    double* y3, int n, int c, int l) {
    batch_norm_forward<double, ACT_NONE>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_forward_relu_f32(
    const float* x3, const float* mean, const float* invstd, const float* gamma, const float* beta, float slope,
    float* y3, int n, int c, int l) {
    batch_norm_forward<float, ACT_RELU>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_forward_relu_f64(
    const double* x3, const double* mean, const double* invstd, const double* gamma, const double* beta, double slope,
    double* y3, int n, int c, int l) {
    batch_norm_forward<double, ACT_RELU>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_forward_leaky_relu_f32(
    const float* x3, const float* mean, const float* invstd, const float* gamma, const float* beta, float slope,
    float* y3, int n, int c, int l) {
    batch_norm_forward<float, ACT_LEAKY_RELU>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_forward_leaky_relu_f64(
    const double* x3, const double* mean, const double* invstd, const double* gamma, const double* beta, double slope,
    double* y3, int n, int c, int l) {
    batch_norm_forward<double, ACT_LEAKY_RELU>(x3, mean, invstd, gamma, beta, slope, y3, n, c, l);
}
extern "C" __global__ void batch_norm_backward_f32(const float* x3, const float* gy3, const float* mean,
                                                   const float* invstd, const float* gamma, const float* ggamma,
                                                   const float* gbeta, float* gx3, int n, int c, int l) {
    batch_norm_backward(x3, gy3, mean, invstd, gamma, ggamma, gbeta, gx3, n, c, l);
}
extern "C" __global__ void batch_norm_backward_f64(const double* x3, const double* gy3, const double* mean,
                                                   const double* invstd, const double* gamma, const double* ggamma,
                                                   const double* gbeta, double* gx3, int n, int c, int l) {
    batch_norm_backward(x3, gy3, mean, invstd, gamma, ggamma, gbeta, gx3, n, c, l);
}
