// A fixed pool of worker threads for the CPU engine. The calling thread takes part in every parallel
// region, so a pool of N threads spawns N-1 workers. Workers spin briefly between regions (a decode
// step runs hundreds of short regions back to back) and then sleep.
//
// Work is split statically and deterministically: every output element is computed by exactly one
// thread with the same arithmetic whatever the thread count, so results never depend on it.
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

  // Splits [0, n) into one contiguous range per thread, in multiples of `grain` (the last range takes
  // the remainder), and calls fn(begin, end) for each non-empty range.
  template <typename Fn>
  void parallelFor(std::int64_t n, std::int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    std::int64_t const chunks = (n + grain - 1) / grain;
    if (chunks == 1 || size() == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    run([&](int index, int count) {
      std::int64_t const per = chunks / count;
      std::int64_t const extra = chunks % count;
      std::int64_t const firstChunk = index * per + std::min<std::int64_t>(index, extra);
      std::int64_t const myChunks = per + (index < extra ? 1 : 0);
      std::int64_t const begin = firstChunk * grain;
      std::int64_t const end = std::min(n, (firstChunk + myChunks) * grain);
      if (begin < end) fn(begin, end);
    });
  }

 private:
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
