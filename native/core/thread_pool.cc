#include "core/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TV_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define TV_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define TV_CPU_RELAX() ((void)0)
#endif

namespace tv {

namespace {
// How long an idle worker spins before sleeping. Long enough to bridge the gaps between the parallel
// regions of one forward pass; short enough not to burn a core between plans.
constexpr auto kSpinTime = std::chrono::microseconds(2000);
}  // namespace

ThreadPool::ThreadPool(int threads) : shares_(static_cast<std::size_t>(std::max(threads, 1))) {
  int const workers = std::max(threads, 1) - 1;
  workers_.reserve(static_cast<std::size_t>(workers));
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { workerLoop(i + 1); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::runImpl(Task task, void* context) {
  std::lock_guard<std::mutex> region(regionMutex_);
  runLocked(task, context);
}

void ThreadPool::runLocked(Task task, void* context) {
  int const count = size();
  if (count == 1) {
    task(context, 0, 1);
    return;
  }
  error_ = nullptr;
  task_ = task;
  context_ = context;
  pending_.store(count - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();

  try {
    task(context, 0, count);
  } catch (...) {
    std::lock_guard<std::mutex> lock(errorMutex_);
    if (!error_) error_ = std::current_exception();
  }
  while (pending_.load(std::memory_order_acquire) != 0) TV_CPU_RELAX();
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::workerLoop(int index) {
  std::uint64_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin first, then sleep.
    auto const spinUntil = std::chrono::steady_clock::now() + kSpinTime;
    std::uint64_t current = generation_.load(std::memory_order_acquire);
    int spins = 0;
    while (current == seen) {
      TV_CPU_RELAX();
      if (++spins % 256 == 0 && std::chrono::steady_clock::now() > spinUntil) {
        std::unique_lock<std::mutex> lock(sleepMutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      current = generation_.load(std::memory_order_acquire);
    }
    seen = current;
    if (stop_.load(std::memory_order_acquire)) return;
    try {
      task_(context_, index, size());
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMutex_);
      if (!error_) error_ = std::current_exception();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace tv
