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
  // range takes the remainder). Each thread owns a contiguous share of the chunks and claims it front to
  // back, each claim a quarter of what is left of the share (guided scheduling); a thread whose share is
  // done takes claims from the others' shares the same way. So each thread reads the matrix rows of its
  // share as one sequential stream (the hardware prefetchers keep running from claim to claim), claims
  // touch a counter no other thread writes until the shares run out, and a thread the OS preempts
  // (other processes, the runtime's own threads) delays the region by one claim at most: the others take
  // over the rest of its share. Against one counter shared by all claims (which interleaved the two
  // threads' claims over the matrix and bounced the counter between the cores at every claim), int4
  // GEMVs from DRAM on 2 threads took 0.6-0.7x the time (benchQ4: 896x896 8.8 -> 5.4 us, 896x4864
  // 38.6 -> 26.3 us, 9728x896 70.5 -> 49.8 us; alternating builds, one run).
  // Which thread computes a range never changes what it computes (see the header comment).
  template <typename Fn>
  void parallelFor(std::int64_t n, std::int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    std::int64_t const chunks = (n + grain - 1) / grain;
    int const threads = size();
    if (chunks == 1 || threads == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    std::lock_guard<std::mutex> region(regionMutex_);
    for (int i = 0; i < threads; ++i) {
      shares_[static_cast<std::size_t>(i)].next.store(chunks * i / threads, std::memory_order_relaxed);
      shares_[static_cast<std::size_t>(i)].end = chunks * (i + 1) / threads;
    }
    auto claimShares = [&](int self, int count) {
      for (int k = 0; k < count; ++k) {
        Share& share = shares_[static_cast<std::size_t>((self + k) % count)];
        std::int64_t begin = share.next.load(std::memory_order_relaxed);
        while (begin < share.end) {
          std::int64_t const take = std::max<std::int64_t>(1, (share.end - begin) / kGuidedDivisor);
          if (!share.next.compare_exchange_weak(begin, begin + take, std::memory_order_relaxed)) continue;  // begin reloaded
          fn(begin * grain, std::min(n, (begin + take) * grain));
          begin = share.next.load(std::memory_order_relaxed);
        }
      }
    };
    runLocked(&invoke<decltype(claimShares)>, &claimShares);
  }

 private:
  // A claim takes 1 / kGuidedDivisor of the chunks left in a share.
  static constexpr int kGuidedDivisor = 4;
  // One thread's share of a parallelFor: chunks [next, end) not yet claimed. A cache line each, so that a
  // thread's claims on its own share do not contend with the others'.
  struct alignas(64) Share {
    std::atomic<std::int64_t> next{0};
    std::int64_t end = 0;
  };
  std::vector<Share> shares_;  // size(); used by one region at a time
  using Task = void (*)(void* context, int index, int count);
  template <typename Fn>
  static void invoke(void* context, int index, int count) {
    (*static_cast<Fn*>(context))(index, count);
  }
  void runImpl(Task task, void* context);    // takes regionMutex_
  void runLocked(Task task, void* context);  // the caller holds regionMutex_
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
