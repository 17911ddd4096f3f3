// Adam over ALL parameters in one launch (a multi-tensor kernel), PyTorch's rule with L2 weight
// decay added to the gradient (not AdamW):
//
//   g = grad + wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr (m / bias1) / (sqrt(v / bias2 + eps_root) + eps),   bias1 = 1 - b1^step, bias2 = 1 - b2^step
//   (eps_root = 0: PyTorch's rule; eps = 0, eps_root = 1e-8: openai/improved-gan's, see optim.Adam).
//
// A DCGAN network has 10-20 parameter tensors, most of them small: one launch per tensor would pay
// the launch overhead that many times for little arithmetic. Here the k tensors are seen as one
// virtual array of `total` elements: params[k], grads[k], ms[k], vs[k] hold device addresses, and
// offsets (k + 1 values, offsets[0] = 0) is the prefix sum of their sizes, so tensor t owns the
// virtual indices [offsets[t], offsets[t+1]). p, m and v are updated in place.
//
// The caller passes 1 - b1 and 1 - b2 computed in double: in float32, 1 - float32(0.999) is off
// by 1.3e-5 relative from float32(1 - 0.999), the value PyTorch and minigan.reference use.
#include "common.cuh"

// The tensor t holding virtual index i: the largest t with offsets[t] <= i (binary search, so an
// empty tensor, whose offset equals the next one's, is never chosen).
__device__ __forceinline__ int adam_find_tensor(const long long* offsets, int num_tensors, long long i) {
    int lo = 0, hi = num_tensors - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

template <typename T>
__device__ void adam_update(const unsigned long long* params, const unsigned long long* grads,
                           const unsigned long long* ms, const unsigned long long* vs, const long long* offsets,
                           T lr, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2, T eps, T eps_root,
                           T weight_decay, T bias1, T bias2, int num_tensors, int total) {
    GRID_STRIDE_LOOP(i, total) {
        int t = adam_find_tensor(offsets, num_tensors, i);
        long long k = i - offsets[t];
        T* p = reinterpret_cast<T*>(params[t]);
        T* m = reinterpret_cast<T*>(ms[t]);
        T* v = reinterpret_cast<T*>(vs[t]);
        T g = reinterpret_cast<const T*>(grads[t])[k] + weight_decay * p[k];
        T mk = beta1 * m[k] + one_minus_beta1 * g;
        T vk = beta2 * v[k] + one_minus_beta2 * g * g;
        m[k] = mk;
        v[k] = vk;
        p[k] -= lr * (mk / bias1) / (mg::sqrt(vk / bias2 + eps_root) + eps);
    }
}

extern "C" __global__ void adam_update_f32(const unsigned long long* params, const unsigned long long* grads,
                                           const unsigned long long* ms, const unsigned long long* vs,
                                           const long long* offsets, float lr, float beta1, float beta2,
                                           float one_minus_beta1, float one_minus_beta2, float eps, float eps_root,
                                           float weight_decay, float bias1, float bias2, int num_tensors,
                                           int total) {
    adam_update(params, grads, ms, vs, offsets, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, eps_root,
                weight_decay, bias1, bias2, num_tensors, total);
}
extern "C" __global__ void adam_update_f64(const unsigned long long* params, const unsigned long long* grads,
                                           const unsigned long long* ms, const unsigned long long* vs,
                                           const long long* offsets, double lr, double beta1, double beta2,
                                           double one_minus_beta1, double one_minus_beta2, double eps, double eps_root,
                                           double weight_decay, double bias1, double bias2, int num_tensors,
                                           int total) {
    adam_update(params, grads, ms, vs, offsets, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, eps_root,
                weight_decay, bias1, bias2, num_tensors, total);
}
