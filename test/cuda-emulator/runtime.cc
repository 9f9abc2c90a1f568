// The emulated CUDA runtime (see include/cuda_runtime_api.h). cudaMalloc fills new memory with 0xcd, so
// a kernel that reads what nobody wrote produces visible garbage instead of convenient zeros.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "emu_device.h"

thread_local Dim3 threadIdx, blockIdx, blockDim, gridDim;
namespace emu {
thread_local Block* currentBlock = nullptr;

namespace {

// The threads that run blocks, grown to the largest block launched. A block wakes only the threads it
// uses: thread t runs body(context, t) once per `go` set for it.
class BlockThreads {
 public:
  void run(unsigned threads, void (*body)(void*, unsigned), void* context) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (workers_.size() < threads) {
      workers_.push_back(std::make_unique<Worker>());
      // Lives as long as the process: the pool is never destroyed.
      std::thread([this, w = workers_.back().get(), id = static_cast<unsigned>(workers_.size() - 1)] { work(*w, id); }).detach();
    }
    body_ = body;
    context_ = context;
    remaining_ = threads;
    for (unsigned t = 0; t < threads; ++t) {
      workers_[t]->go = true;
      workers_[t]->wake.notify_one();
    }
    done_.wait(lock, [&] { return remaining_ == 0; });
  }

 private:
  struct Worker {
    std::condition_variable wake;
    bool go = false;
  };

  void work(Worker& self, unsigned id) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      self.wake.wait(lock, [&] { return self.go; });
      self.go = false;
      void (*body)(void*, unsigned) = body_;
      void* context = context_;
      lock.unlock();
      body(context, id);
      lock.lock();
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::unique_ptr<Worker>> workers_;
  unsigned remaining_ = 0;
  void (*body_)(void*, unsigned) = nullptr;
  void* context_ = nullptr;
};

}  // namespace

void runBlock(unsigned threads, void (*body)(void*, unsigned), void* context) {
  if (threads == 1) {  // nothing to wait for: the calling thread is the block
    body(context, 0);
    return;
  }
  static BlockThreads* const pool = new BlockThreads;  // never destroyed: its threads block on it until exit
  pool->run(threads, body, context);
}

std::mutex& launchMutex() {
  static std::mutex* const mutex = new std::mutex;
  return *mutex;
}

}  // namespace emu

namespace {
void* allocate(std::size_t bytes) { return std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256); }

// A stream is inert, except while capturing: then its work is recorded for a graph.
struct EmulatedStream {
  bool capturing = false;
  std::vector<std::function<void()>> recorded;
};
struct EmulatedGraph {
  std::vector<std::function<void()>> work;
};
}  // namespace

namespace emu {
bool captured(cudaStream_t stream, std::function<void()> work) {
  auto* s = reinterpret_cast<EmulatedStream*>(stream);
  if (s == nullptr || !s->capturing) return false;
  s->recorded.push_back(std::move(work));
  return true;
}
}  // namespace emu


cudaError_t cudaMalloc(void** p, std::size_t n) {
  *p = allocate(n);
  std::memset(*p, 0xcd, n);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, std::size_t n, unsigned) {
  *p = allocate(n);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaHostGetDevicePointer(void** d, void* h, unsigned) {
  *d = h;
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, void const* src, std::size_t n, cudaMemcpyKind, cudaStream_t stream) {
  if (emu::captured(stream, [dst, src, n] { std::memmove(dst, src, n); })) return cudaSuccess;
  std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, std::size_t n) {
  std::memset(dst, value, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t n, cudaStream_t stream) {
  if (emu::captured(stream, [dst, value, n] { std::memset(dst, value, n); })) return cudaSuccess;
  std::memset(dst, value, n);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = reinterpret_cast<cudaStream_t>(new EmulatedStream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<EmulatedStream*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  auto* s = reinterpret_cast<EmulatedStream*>(stream);
  if (s == nullptr || s->capturing) return cudaErrorStreamCaptureInvalidated;  // the legacy stream cannot capture
  s->capturing = true;
  s->recorded.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  auto* s = reinterpret_cast<EmulatedStream*>(stream);
  if (s == nullptr || !s->capturing) return cudaErrorStreamCaptureInvalidated;
  s->capturing = false;
  *graph = reinterpret_cast<cudaGraph_t>(new EmulatedGraph{std::move(s->recorded)});
  s->recorded.clear();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  *exec = reinterpret_cast<cudaGraphExec_t>(new EmulatedGraph(*reinterpret_cast<EmulatedGraph*>(graph)));
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  auto* s = reinterpret_cast<EmulatedStream*>(stream);
  if (s != nullptr && s->capturing) return cudaErrorStreamCaptureInvalidated;  // no nested graphs here
  for (auto const& work : reinterpret_cast<EmulatedGraph*>(exec)->work) work();
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete reinterpret_cast<EmulatedGraph*>(exec);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete reinterpret_cast<EmulatedGraph*>(graph);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
// Emulated work is done when its call returns, so an event completes when it is recorded: it holds the
// host clock at that moment, and elapsed time is the host time between two records (as on a device,
// an event never recorded, or one created without timing, cannot be measured).
struct EmulatedEvent {
  bool timing = true;
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  auto* event = new EmulatedEvent;
  event->timing = (flags & cudaEventDisableTiming) == 0;
  *e = reinterpret_cast<cudaEvent_t>(event);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmulatedEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  auto* event = reinterpret_cast<EmulatedEvent*>(e);
  event->recorded = true;
  event->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  auto const* a = reinterpret_cast<EmulatedEvent const*>(start);
  auto const* b = reinterpret_cast<EmulatedEvent const*>(end);
  if (!a->timing || !b->timing) return cudaErrorInvalidResourceHandle;
  if (!a->recorded || !b->recorded) return cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}
cudaError_t cudaGetLastError() { return cudaSuccess; }
char const* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
char const* cudaGetErrorString(cudaError_t) { return "emulated CUDA error"; }
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulation");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  p->totalGlobalMem = 1ull << 34;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  *v = a == cudaDevAttrCanMapHostMemory ? 1 : 0;
  return cudaSuccess;
}
