// im2col and col2im, the two halves of convolution-as-GEMM. The col layout is
// Note [col layout] in minigan/cpu_kernels.py:
//   col[(ci*kh + i)*kw + j, (ni*out_h + oy)*out_w + ox] = x[ni, ci, oy*sy - ph + i, ox*sx - pw + j]
// (zero where that index falls outside x); col is (c*kh*kw, n*out_h*out_w), C-contiguous.
#include "common.cuh"

// One col element per iteration: consecutive threads write consecutive col entries
// (coalesced stores); reads of x along a row are strided by sx.
template <typename T>
__device__ void im2col(const T* x, T* col, int n, int c, int h, int w, int kh, int kw, int sy, int sx,
                       int ph, int pw, int out_h, int out_w) {
    int cols = n * out_h * out_w;
    GRID_STRIDE_LOOP(idx, (long long)c * kh * kw * cols) {
        int e = (int)idx, row = e / cols, k = e % cols;  // Note [grid-stride loop]: 32-bit math
        int j = row % kw, i = row / kw % kh, ci = row / (kw * kh);
        int ox = k % out_w, oy = k / out_w % out_h, ni = k / (out_w * out_h);
        int iy = oy * sy - ph + i, ix = ox * sx - pw + j;
        bool inside = 0 <= iy && iy < h && 0 <= ix && ix < w;
        col[e] = inside ? x[((ni * c + ci) * h + iy) * w + ix] : T(0);
    }
}

// The adjoint of im2col as a GATHER: one x element per iteration sums the col entries that
// im2col copied from it. Tap (i, j) at output (oy, ox) reads x[iy, ix] when
// iy = oy*sy - ph + i, so for a given iy only the taps i = (iy + ph) mod sy, + sy, ..., up to
// iy + ph (oy >= 0) can hit it, each from oy = (iy + ph - i) / sy (kept when oy < out_h).
// No two iterations write the same element (no atomics), and each sums its taps in the same
// order every run: bit-identical results. col may have more than 2^31 elements while x has
// fewer (a 64-px DCGAN layer at a batch of 8192): its offsets are 64-bit (Note [grid-stride loop]).
template <typename T>
__device__ void col2im(const T* col, T* x, int n, int c, int h, int w, int kh, int kw, int sy, int sx,
                       int ph, int pw, int out_h, int out_w) {
    int cols = n * out_h * out_w;
    GRID_STRIDE_LOOP(idx, (long long)n * c * h * w) {
        int e = (int)idx;  // Note [grid-stride loop]: 32-bit math
        int ix = e % w, iy = e / w % h, ci = e / (w * h) % c, ni = e / (w * h * c);
        T acc = T(0);
        for (int i = (iy + ph) % sy; i < kh && i <= iy + ph; i += sy) {
            int oy = (iy + ph - i) / sy;
            if (oy >= out_h) continue;  // i ascends, oy descends: the next taps may still land
            for (int j = (ix + pw) % sx; j < kw && j <= ix + pw; j += sx) {
                int ox = (ix + pw - j) / sx;
                if (ox >= out_w) continue;
                long long row = (ci * kh + i) * kw + j;
                acc += col[row * cols + (ni * out_h + oy) * out_w + ox];
            }
        }
        x[e] = acc;
    }
}

extern "C" __global__ void im2col_f32(const float* x, float* col, int n, int c, int h, int w, int kh, int kw,
                                      int sy, int sx, int ph, int pw, int out_h, int out_w) {
    im2col(x, col, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w);
}
extern "C" __global__ void im2col_f64(const double* x, double* col, int n, int c, int h, int w, int kh, int kw,
                                      int sy, int sx, int ph, int pw, int out_h, int out_w) {
    im2col(x, col, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w);
}
extern "C" __global__ void col2im_f32(const float* col, float* x, int n, int c, int h, int w, int kh, int kw,
                                      int sy, int sx, int ph, int pw, int out_h, int out_w) {
    col2im(col, x, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w);
}
extern "C" __global__ void col2im_f64(const double* col, double* x, int n, int c, int h, int w, int kh, int kw,
                                      int sy, int sx, int ph, int pw, int out_h, int out_w) {
    col2im(col, x, n, c, h, w, kh, kw, sy, sx, ph, pw, out_h, out_w);
}
