// Elementwise activations, forward and backward, and dropout. Each backward reads whatever
// the forward saved (y for relu/tanh/sigmoid, x for leaky ReLU) and the upstream gradient gy.
#include "common.cuh"

template <typename T>
__device__ void relu_forward(const T* x, T* y, int size) {
    GRID_STRIDE_LOOP(i, size) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// y > 0 exactly where x > 0, so the forward output is enough to route the gradient.
template <typename T>
__device__ void relu_backward(const T* y, const T* gy, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) gx[i] = y[i] > T(0) ? gy[i] : T(0);
}

template <typename T>
__device__ void leaky_relu_forward(const T* x, T slope, T* y, int size) {
    GRID_STRIDE_LOOP(i, size) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}

// dy/dx = 1 if x > 0 else slope. It reads x, not y: a negative slope would flip y's sign.
template <typename T>
__device__ void leaky_relu_backward(const T* x, const T* gy, T slope, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) gx[i] = x[i] > T(0) ? gy[i] : slope * gy[i];
}

template <typename T>
__device__ void tanh_forward(const T* x, T* y, int size) {
    GRID_STRIDE_LOOP(i, size) y[i] = mg::tanh(x[i]);
}

// dy/dx = 1 - tanh(x)^2 = 1 - y^2.
template <typename T>
__device__ void tanh_backward(const T* y, const T* gy, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) gx[i] = gy[i] * (T(1) - y[i] * y[i]);
}

template <typename T>
__device__ void sigmoid_forward(const T* x, T* y, int size) {
    GRID_STRIDE_LOOP(i, size) y[i] = mg::sigmoid(x[i]);
}

// dy/dx = sigmoid(x) (1 - sigmoid(x)) = y (1 - y).
template <typename T>
__device__ void sigmoid_backward(const T* y, const T* gy, T* gx, int size) {
    GRID_STRIDE_LOOP(i, size) gx[i] = gy[i] * y[i] * (T(1) - y[i]);
}

// Inverted dropout: keep x where u >= p and scale it by keep_scale = 1 / (1 - p), so that the
// expected output equals x and evaluation needs no rescaling. The mask (0 or keep_scale) is
// saved for the backward, gx = gy * mask. keep_scale comes from the caller, computed in double,
// so the f32 mask equals NumPy's float32((u >= p) / (1 - p)) exactly.
template <typename T>
__device__ void dropout_forward(const T* x, const T* u, T p, T keep_scale, T* y, T* mask, int size) {
    GRID_STRIDE_LOOP(i, size) {
        T keep = u[i] >= p ? keep_scale : T(0);
        mask[i] = keep;
        y[i] = x[i] * keep;
    }
}

extern "C" __global__ void relu_forward_f32(const float* x, float* y, int size) { relu_forward(x, y, size); }
extern "C" __global__ void relu_forward_f64(const double* x, double* y, int size) { relu_forward(x, y, size); }
extern "C" __global__ void relu_backward_f32(const float* y, const float* gy, float* gx, int size) {
    relu_backward(y, gy, gx, size);
}
extern "C" __global__ void relu_backward_f64(const double* y, const double* gy, double* gx, int size) {
    relu_backward(y, gy, gx, size);
}
extern "C" __global__ void tanh_forward_f32(const float* x, float* y, int size) { tanh_forward(x, y, size); }
extern "C" __global__ void tanh_forward_f64(const double* x, double* y, int size) { tanh_forward(x, y, size); }
extern "C" __global__ void tanh_backward_f32(const float* y, const float* gy, float* gx, int size) {
    tanh_backward(y, gy, gx, size);
}
extern "C" __global__ void tanh_backward_f64(const double* y, const double* gy, double* gx, int size) {
    tanh_backward(y, gy, gx, size);
}
extern "C" __global__ void sigmoid_forward_f32(const float* x, float* y, int size) { sigmoid_forward(x, y, size); }
extern "C" __global__ void sigmoid_forward_f64(const double* x, double* y, int size) { sigmoid_forward(x, y, size); }
extern "C" __global__ void sigmoid_backward_f32(const float* y, const float* gy, float* gx, int size) {
    sigmoid_backward(y, gy, gx, size);
}
extern "C" __global__ void sigmoid_backward_f64(const double* y, const double* gy, double* gx, int size) {
    sigmoid_backward(y, gy, gx, size);
}
extern "C" __global__ void leaky_relu_forward_f32(const float* x, float slope, float* y, int size) {
    leaky_relu_forward(x, slope, y, size);
}
extern "C" __global__ void leaky_relu_forward_f64(const double* x, double slope, double* y, int size) {
    leaky_relu_forward(x, slope, y, size);
}
extern "C" __global__ void leaky_relu_backward_f32(const float* x, const float* gy, float slope, float* gx, int size) {
    leaky_relu_backward(x, gy, slope, gx, size);
}
extern "C" __global__ void leaky_relu_backward_f64(const double* x, const double* gy, double slope, double* gx,
                                                   int size) {
    leaky_relu_backward(x, gy, slope, gx, size);
}
extern "C" __global__ void dropout_forward_f32(const float* x, const float* u, float p, float keep_scale, float* y,
                                               float* mask, int size) {
    dropout_forward(x, u, p, keep_scale, y, mask, size);
}
extern "C" __global__ void dropout_forward_f64(const double* x, const double* u, double p, double keep_scale,
                                               double* y, double* mask, int size) {
    dropout_forward(x, u, p, keep_scale, y, mask, size);
}
