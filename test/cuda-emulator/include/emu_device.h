// Device-code emulation, force-included into every .cu compiled by scripts/cuda-emulator.mjs.
//
// A launch runs min(grid, 3) blocks one after another, each as blockDim real threads (kept between
// launches, see runBlock): grid-stride loops then cover their whole range with a smaller grid than
// requested (kernels that are not grid-stride loops would leave work undone here), and
// block-cooperative code (__syncthreads, warp shuffles, atomics) runs concurrently for real. __shared__ becomes a function
// static, shared by the threads of a block (blocks do not overlap). The rounding intrinsics are plain
// IEEE operations (the build uses -ffp-contract=off, so nothing is fused).
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __shared__ static

using std::isnan;

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
extern thread_local Dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {

class Barrier {
 public:
  explicit Barrier(int count) : count_(count) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    int const generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(lock, [&] { return generation != generation_; });
  }

 private:
  int const count_;
  int arrived_ = 0;
  int generation_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
};

struct Block {
  explicit Block(int threads) : barrier(threads), slots(static_cast<std::size_t>((threads + 31) / 32) * 32) {
    for (int first = 0; first < threads; first += 32) warps.push_back(std::make_unique<Barrier>(std::min(32, threads - first)));
  }
  Barrier barrier;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<std::uint64_t> slots;  // one exchange slot per lane
};
extern thread_local Block* currentBlock;

// Runs body(context, t) for every t in [0, threads) at once, one thread each (a block: barriers and
// warp shuffles need all of its threads live together), and returns when all have returned. The
// threads are kept for later launches (runtime.cc): an end-to-end run of the device pipeline makes
// hundreds of launches per request, and creating up to 1024 threads for each took about a fifth of
// its time there (the barriers' thread switches take most of the rest).
void runBlock(unsigned threads, void (*body)(void*, unsigned), void* context);
// Held for a whole launch: launches from different host threads run one after another, as if on one
// stream (__shared__ statics belong to the kernel, so two launches of a kernel must not overlap).
std::mutex& launchMutex();

// Work issued on a capturing stream is recorded (runtime.cc) instead of run; false when not capturing.
bool captured(cudaStream_t stream, std::function<void()> work);

struct Launch {
  unsigned grid;
  unsigned block;
  cudaStream_t stream;
  Launch(unsigned g, unsigned b, std::size_t = 0, cudaStream_t s = nullptr) : grid(g < 3 ? g : 3), block(b), stream(s) {}
  template <class Kernel, class... Args>
  static void run(Kernel* kernel, unsigned g, unsigned b, Args... args) {
    std::lock_guard<std::mutex> launch(launchMutex());
    for (unsigned index = 0; index < g; ++index) {
      Block context(static_cast<int>(b));
      auto thread = [&](unsigned t) {
        threadIdx.x = t;
        blockIdx.x = index;
        blockDim.x = b;
        gridDim.x = g;
        currentBlock = &context;
        kernel(args...);
      };
      runBlock(b, [](void* body, unsigned t) { (*static_cast<decltype(thread)*>(body))(t); }, &thread);
    }
  }
  template <class Kernel>
  auto operator*(Kernel* kernel) const {
    unsigned const g = grid;
    unsigned const b = block;
    cudaStream_t const s = stream;
    return [kernel, g, b, s](auto... args) {
      if (!captured(s, [kernel, g, b, args...] { run(kernel, g, b, args...); })) run(kernel, g, b, args...);
    };
  }
};

template <class T>
T shuffle(T value, int source) {
  Block& block = *currentBlock;
  int const lane = static_cast<int>(threadIdx.x % 32);
  int const warp = static_cast<int>(threadIdx.x / 32);
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof value);
  block.slots[static_cast<std::size_t>(warp * 32 + lane)] = bits;
  block.warps[static_cast<std::size_t>(warp)]->wait();
  bits = block.slots[static_cast<std::size_t>(warp * 32 + source)];
  block.warps[static_cast<std::size_t>(warp)]->wait();
  T result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

}  // namespace emu

inline void __syncthreads() { emu::currentBlock->barrier.wait(); }
template <class T>
T __shfl_up_sync(unsigned, T value, int offset) {
  int const lane = static_cast<int>(threadIdx.x % 32);
  return emu::shuffle(value, lane >= offset ? lane - offset : lane);
}
template <class T>
T __shfl_xor_sync(unsigned, T value, int mask) {
  return emu::shuffle(value, static_cast<int>(threadIdx.x % 32) ^ mask);
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline int atomicMin(int* p, int v) {
  int old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  unsigned long long old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (v > old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline int __double2int_rz(double d) { return static_cast<int>(d); }
inline float __double2float_rn(double d) { return static_cast<float>(d); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
