// Kernels that test the host emulator itself (tests/test_cuda_emulator.py): a block sum written
// right and written with a __syncthreads() missing, a barrier in divergent code, a read of shared
// memory never written, and the launch coordinates each thread sees.
#define THREADS 256

// Each block sums its THREADS values of x into sums[blockIdx.x], as kernels/batch_norm.cu's
// block_sum does. missing = 0: correct; 1: no barrier between the writes and the tree; 2: no
// barrier between the levels of the tree.
__device__ void block_sum(const float* x, float* sums, int missing) {
    __shared__ float partial[THREADS];
    partial[threadIdx.x] = x[blockIdx.x * THREADS + threadIdx.x];
    if (missing != 1) __syncthreads();
    for (int half = THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        if (missing != 2) __syncthreads();
    }
    if (threadIdx.x == 0) sums[blockIdx.x] = partial[0];
}

extern "C" __global__ void block_sum_f32(const float* x, float* sums, int missing) { block_sum(x, sums, missing); }

// Only the first `waiting` threads reach the barrier: undefined behaviour in CUDA.
extern "C" __global__ void divergent_barrier_f32(float* y, int waiting) {
    if ((int)threadIdx.x < waiting) __syncthreads();
    y[threadIdx.x] = 1.0f;
}

// Block 0 writes its shared value; every block then reads it: a block's shared memory is its own,
// so the other blocks read what no one wrote there.
extern "C" __global__ void shared_per_block_f32(float* y) {
    __shared__ float value;
    if (blockIdx.x == 0 && threadIdx.x == 0) value = 42.0f;
    __syncthreads();
    if (threadIdx.x == 0) y[blockIdx.x] = value;
}

// Each thread writes the launch coordinates it sees into four rows of y (gridDim.x * blockDim.x each).
extern "C" __global__ void coordinates_f32(int* y) {
    int total = gridDim.x * blockDim.x, t = blockIdx.x * blockDim.x + threadIdx.x;
    y[t] = threadIdx.x;
    y[total + t] = blockIdx.x;
    y[2 * total + t] = blockDim.x;
    y[3 * total + t] = gridDim.x;
}
