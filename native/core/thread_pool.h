// A fixed pool of worker threads for the CPU engine. The calling thread takes part in every parallel
// region, so a pool of N threads spawns N-1 workers. Workers spin briefly between regions (a decode
// step runs hundreds of short regions back to back) and then sleep.
//
// Every output element is computed by exactly one thread with the same arithmetic whatever the thread
// count or the split, so results never depend on either.
// One region runs at a time; concurrent callers wait their turn.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tv {

class ThreadPool {
 public:
  // threads: total threads including the caller (>= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(ThreadPool const&) = delete;
  ThreadPool& operator=(ThreadPool const&) = delete;

  int size() const noexcept { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(threadIndex, threadCount) once on each of the pool's threads (index 0 is the caller)
  // and returns when all calls have returned. An exception thrown by fn is rethrown here.
  template <typename Fn>
  void run(Fn&& fn) {
    runImpl(&invoke<std::remove_reference_t<Fn>>, &fn);
  }

  // Calls fn(begin, end) over ranges that cover [0, n) exactly once, in multiples of `grain` (the last
  // range takes the remainder). The ranges are claimed dynamically by whichever thread is free first,
  // each a share of what is left (guided scheduling): the first ones a quarter of a thread's share, the
  // last ones a single grain. A thread the OS preempts (other processes, the runtime's own threads)
  // delays the region by one range at most instead of by its whole share, and the threads finish
  // within one grain of each other: with fixed ranges of an eighth of the work, the thread that took
  // the last one kept the other waiting half a range on average (a 6-token verify call on the 0.5b
  // shape, 2 threads: 5-13% faster with guided claims, alternating builds).
  // Which thread computes a range never changes what it computes (see the header comment).
  template <typename Fn>
  void parallelFor(std::int64_t n, std::int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    std::int64_t const chunks = (n + grain - 1) / grain;
    if (chunks == 1 || size() == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    std::int64_t const divisor = std::int64_t{kGuidedDivisor} * size();
    std::atomic<std::int64_t> next{0};  // the first chunk nobody has claimed
    run([&](int, int) {
      std::int64_t begin = next.load(std::memory_order_relaxed);
      for (;;) {
        if (begin >= chunks) return;
        std::int64_t const take = std::max<std::int64_t>(1, (chunks - begin) / divisor);
        if (!next.compare_exchange_weak(begin, begin + take, std::memory_order_relaxed)) continue;  // begin reloaded
        fn(begin * grain, std::min(n, (begin + take) * grain));
        begin = next.load(std::memory_order_relaxed);
      }
    });
  }

 private:
  // A claim takes 1 / (kGuidedDivisor x threads) of the chunks left.
  static constexpr int kGuidedDivisor = 4;
  using Task = void (*)(void* context, int index, int count);
  template <typename Fn>
  static void invoke(void* context, int index, int count) {
    (*static_cast<Fn*>(context))(index, count);
  }
  void runImpl(Task task, void* context);
  void workerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex regionMutex_;  // one region at a time

  // The current region, published with generation_.
  Task task_ = nullptr;
  void* context_ = nullptr;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex errorMutex_;
  std::exception_ptr error_;

  std::mutex sleepMutex_;
  std::condition_variable wake_;
};

}  // namespace tv
