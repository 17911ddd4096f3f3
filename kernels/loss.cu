// Binary cross-entropy on logits x against targets t, elementwise (the caller reduces).
//
//   loss = -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) = max(x, 0) - x t + log(1 + e^-|x|)
//
// The right-hand form never evaluates e^x for large x and never takes log(0): stable for any x.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T bce_with_logits_of(T x, T t) {
    return (x > T(0) ? x : T(0)) - x * t + mg::log1p(mg::exp(-mg::abs(x)));
}

template <typename T>
__device__ void bce_with_logits_forward(const T* x, const T* t, T* loss, int size) {
    GRID_STRIDE_LOOP(i, size) loss[i] = bce_with_logits_of(x[i], t[i]);
}

// d loss / dx = sigmoid(x) - t; scale carries the upstream gradient of a mean or sum (1/N or 1).
template <typename T>
__device__ void bce_with_logits_backward(const T* x, const T* t, T scale, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) gx[i] = (mg::sigmoid(x[i]) - t[i]) * scale;
}

// Loss and gradient in one pass over x and t: a GAN's discriminator loss needs both at once,
// and this reads each input once instead of twice.
template <typename T>
__device__ void bce_with_logits_forward_backward(const T* x, const T* t, T scale, T* loss, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) {
        T xi = x[i], ti = t[i];
        loss[i] = bce_with_logits_of(xi, ti);
        gx[i] = (mg::sigmoid(xi) - ti) * scale;
    }
}

extern "C" __global__ void bce_with_logits_forward_f32(const float* x, const float* t, float* loss, int size) {
    bce_with_logits_forward(x, t, loss, size);
}
extern "C" __global__ void bce_with_logits_forward_f64(const double* x, const double* t, double* loss, int size) {
    bce_with_logits_forward(x, t, loss, size);
}
extern "C" __global__ void bce_with_logits_backward_f32(const float* x, const float* t, float scale, float* gx,
                                                        int size) {
    bce_with_logits_backward(x, t, scale, gx, size);
}
extern "C" __global__ void bce_with_logits_backward_f64(const double* x, const double* t, double scale, double* gx,
                                                        int size) {
    bce_with_logits_backward(x, t, scale, gx, size);
}
extern "C" __global__ void bce_with_logits_forward_backward_f32(const float* x, const float* t, float scale,
                                                                float* loss, float* gx, int size) {
    bce_with_logits_forward_backward(x, t, scale, loss, gx, size);
}
extern "C" __global__ void bce_with_logits_forward_backward_f64(const double* x, const double* t, double scale,
                                                                double* loss, double* gx, int size) {
    bce_with_logits_forward_backward(x, t, scale, loss, gx, size);
}
