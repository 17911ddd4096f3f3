// The host side of a CUDA launch, for kernels compiled as C++ through shim.h.
//
// Note [host emulator]
//   A launch of `grid` blocks of `block` threads runs the blocks one after another (CUDA promises
//   no order between blocks, so this is one legal order). Inside a block, each thread is a fiber
//   on a stack of its own: the scheduler resumes the threads one at a time, in the
//   order the schedule says, and each runs until it calls __syncthreads() or returns. When every
//   thread of the block waits at the barrier, they are all released into the next phase; when
//   every one has returned, the block is done. Some returned while others wait: that is a
//   barrier in divergent code, undefined behaviour in CUDA, and here an error. So a kernel sees
//   exactly what CUDA guarantees -- writes before a barrier are visible after it -- and nothing
//   more: with the threads of a phase run in ascending, descending or shuffled order, a read
//   that a missing __syncthreads() leaves unordered gets a stale or garbage value in some order.
//   __shared__ variables (function-local statics, shim.h) are filled with 0xff bytes before each
//   block: a value never written reads as NaN (or -1).
//
//   Switching fibers is a few instructions on x86-64 (fiber_switch below: save the callee-saved
//   registers, swap stack pointers); elsewhere it is ucontext's swapcontext, which also saves the
//   signal mask with a system call per switch and makes launches about 10 times slower.
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "shim.h"

#if defined(__x86_64__) && !defined(MINIGAN_UCONTEXT)
#define MINIGAN_FAST_SWITCH 1
// fiber_switch(&from, to): push the callee-saved registers, store the stack pointer in *from,
// load `to` and pop its registers; `ret` resumes where `to` last switched away (or enters it).
extern "C" void fiber_switch(void** from, void* to);
asm(R"(
    .text
    .p2align 4
    .type fiber_switch, @function
fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size fiber_switch, .-fiber_switch
)");
#endif

extern "C" {
dim3 gridDim, blockDim;
uint3 blockIdx, threadIdx;
}

namespace {

enum class State { runnable, at_barrier, done };

struct Thread {
    State state;
#ifdef MINIGAN_FAST_SWITCH
    void* sp;  // its saved stack pointer while it is not running
#else
    ucontext_t context;
#endif
};

struct Region {
    char* start;
    size_t size;
};

constexpr unsigned kMaxBlock = 1024;     // CUDA's limit on threads per block
constexpr size_t kStack = 64 * 1024;     // each fiber's stack ...
constexpr size_t kGuard = 4096;          // ... below an inaccessible page: an overflow faults
constexpr unsigned kMaxGrid = 2147483647;

#ifdef MINIGAN_FAST_SWITCH
void* scheduler;
#else
ucontext_t scheduler;
#endif
std::vector<Thread> threads(kMaxBlock);
void (*kernel_body)(void*) = nullptr;  // the kernel, called with its arguments
void* kernel_args = nullptr;
int current = -1;  // the thread running now, -1 outside a launch
std::string error;
int schedule = 0;  // 0 ascending, 1 descending, 2 shuffled anew each phase
std::mt19937 shuffler;
std::vector<Region> shared_memory;
char* stacks = nullptr;
unsigned long long barrier_calls = 0;

bool make_stacks() {
    if (stacks != nullptr) return true;
    size_t slot = kStack + kGuard, total = slot * kMaxBlock;
    void* memory = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) return false;
    stacks = static_cast<char*>(memory);
    for (unsigned t = 0; t < kMaxBlock; ++t) mprotect(stacks + t * slot, kGuard, PROT_NONE);
    return true;
}

std::vector<unsigned> order_of(unsigned n) {
    std::vector<unsigned> order(n);
    std::iota(order.begin(), order.end(), 0u);
    if (schedule == 1) std::reverse(order.begin(), order.end());
    if (schedule == 2) std::shuffle(order.begin(), order.end(), shuffler);
    return order;
}

char* stack_top(unsigned t) { return stacks + (t + 1) * (kStack + kGuard); }  // 16-byte aligned

// Back to the scheduler from the running thread; it resumes here when the scheduler says.
void yield_to_scheduler(Thread& thread) {
#ifdef MINIGAN_FAST_SWITCH
    fiber_switch(&thread.sp, scheduler);
#else
    swapcontext(&thread.context, &scheduler);
#endif
}

#ifdef MINIGAN_FAST_SWITCH
[[noreturn]] void thread_main() {
    kernel_body(kernel_args);
    Thread& thread = threads[current];
    thread.state = State::done;
    yield_to_scheduler(thread);  // never resumed
    __builtin_unreachable();
}

// A fresh fiber: its stack holds what fiber_switch pops (six zero registers), then thread_main as
// the return address, then a null return address for thread_main (which never returns).
void prepare(unsigned t) {
    void** top = reinterpret_cast<void**>(stack_top(t));
    top[-1] = nullptr;
    top[-2] = reinterpret_cast<void*>(&thread_main);
    for (int k = 3; k <= 8; ++k) top[-k] = nullptr;
    threads[t].sp = top - 8;
}

void resume(unsigned t) { fiber_switch(&scheduler, threads[t].sp); }
#else
void thread_main() {
    kernel_body(kernel_args);
    threads[current].state = State::done;
}  // returning resumes uc_link, the scheduler

void prepare(unsigned t) {
    Thread& thread = threads[t];
    getcontext(&thread.context);
    thread.context.uc_stack.ss_sp = stack_top(t) - kStack;
    thread.context.uc_stack.ss_size = kStack;
    thread.context.uc_link = &scheduler;
    makecontext(&thread.context, thread_main, 0);
}

void resume(unsigned t) { swapcontext(&scheduler, &threads[t].context); }
#endif

bool run_block(unsigned n) {
    for (const Region& r : shared_memory) std::memset(r.start, 0xff, r.size);
    for (unsigned t = 0; t < n; ++t) {
        prepare(t);
        threads[t].state = State::runnable;
    }
    for (;;) {
        for (unsigned t : order_of(n)) {
            current = static_cast<int>(t);
            threadIdx.x = t;
            resume(t);
        }
        current = -1;
        unsigned waiting = 0;
        for (unsigned t = 0; t < n; ++t) waiting += threads[t].state == State::at_barrier;
        if (waiting == 0) return true;
        if (waiting != n) {
            error = "__syncthreads() in divergent code: in block " + std::to_string(blockIdx.x) + ", " +
                    std::to_string(n - waiting) + " of " + std::to_string(n) +
                    " threads returned while the others wait at the barrier";
            return false;
        }
        for (unsigned t = 0; t < n; ++t) threads[t].state = State::runnable;
    }
}

}  // namespace

extern "C" void __syncthreads() {
    if (current < 0) {
        std::fprintf(stderr, "__syncthreads() called outside a kernel launch\n");
        std::abort();
    }
    ++barrier_calls;
    Thread& thread = threads[current];
    thread.state = State::at_barrier;
    yield_to_scheduler(thread);
}

// Launch grid x block threads of body(args) (a generated launcher unpacks args and calls the
// kernel, host_build.py); 0, or -1 with mg_error() set.
extern "C" int mg_host_launch(unsigned grid, unsigned block, void (*body)(void*), void* args) {
    error.clear();
    barrier_calls = 0;
    if (grid == 0 || grid > kMaxGrid || block == 0 || block > kMaxBlock) {
        error = "invalid configuration argument: grid " + std::to_string(grid) + ", block " +
                std::to_string(block) + " (CUDA allows 1..2^31-1 blocks of 1..1024 threads)";
        return -1;
    }
    if (!make_stacks()) {
        error = "could not map the fibers' stacks";
        return -1;
    }
    kernel_body = body;
    kernel_args = args;
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx = uint3{b, 0, 0};
        if (!run_block(block)) return -1;
    }
    return 0;
}

extern "C" {
const char* mg_error() { return error.c_str(); }

unsigned long long mg_barrier_calls() { return barrier_calls; }

void mg_set_schedule(int kind, unsigned seed) {
    schedule = kind;
    shuffler.seed(seed);
}

void mg_add_shared(void* start, size_t size) { shared_memory.push_back({static_cast<char*>(start), size}); }
}
