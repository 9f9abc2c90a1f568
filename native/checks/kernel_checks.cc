#include "checks/kernel_checks.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/safetensors.h"
#include "cuda/device.h"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/rope.h"
#include "cuda/kernels/sampling.h"
#include "cuda/memory.h"
#include "cuda/stream.h"
#include "engine/vocab_map.h"
#include "vla/device_pipeline_ops.h"
#include "vla/embedding.h"
#include "vla/frame.h"

namespace tv::checks {

namespace {

// Elements after each output that a kernel must leave alone: filled with a pattern before the launch and
// checked after it (an out-of-bounds write shows up here rather than as silent corruption).
constexpr std::size_t kGuardBytes = 4096;
constexpr unsigned char kGuardByte = 0xa5;

void checkGuard(std::vector<std::uint8_t> const& bytes, std::size_t used, char const* what) {
  for (std::size_t i = used; i < bytes.size(); ++i) {
    TV_CHECK_INTERNAL(bytes[i] == kGuardByte, what, " kernel wrote past its output (byte ", i - used, " after the end)");
  }
}

// Copies `bytes` of device memory back to the host after the stream finishes.
std::vector<std::uint8_t> download(cuda::DeviceBuffer const& buffer, std::size_t bytes, cuda::Stream const& stream) {
  std::vector<std::uint8_t> host(bytes);
  if (bytes > 0) TV_CUDA_CHECK(cudaMemcpyAsync(host.data(), buffer.get(), bytes, cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  return host;
}

cuda::DeviceBuffer upload(void const* data, std::size_t bytes, cuda::Stream const& stream) {
  cuda::DeviceBuffer buffer(bytes);
  if (bytes > 0) TV_CUDA_CHECK(cudaMemcpyAsync(buffer.get(), data, bytes, cudaMemcpyHostToDevice, stream.get()));
  stream.synchronize();  // the source may be a temporary
  return buffer;
}

// A device output of `bytes` followed by the guard pattern.
cuda::DeviceBuffer guardedOutput(std::size_t bytes, cuda::Stream const& stream) {
  cuda::DeviceBuffer buffer(bytes + kGuardBytes);
  TV_CUDA_CHECK(cudaMemsetAsync(buffer.get(), kGuardByte, bytes + kGuardBytes, stream.get()));
  return buffer;
}

// After the checked launch: timing->runs more launches, each between two events.
template <typename Launch>
void timeLaunches(cuda::Stream const& stream, KernelTiming* timing, Launch&& launch) {
  if (timing == nullptr || timing->runs <= 0) return;
  cuda::Event start;
  cuda::Event end;
  std::vector<float> ms;
  for (int i = 0; i < timing->runs; ++i) {
    start.record(stream);
    launch();
    end.record(stream);
    end.synchronize();
    ms.push_back(cuda::Event::elapsedMs(start, end));
  }
  std::sort(ms.begin(), ms.end());
  std::size_t const n = ms.size();
  timing->medianMs = n % 2 == 1 ? ms[n / 2] : 0.5 * (static_cast<double>(ms[n / 2 - 1]) + ms[n / 2]);
}

cuda::FrameFormat parseCudaFormat(std::string const& name) {
  if (name == "rgb8") return cuda::FrameFormat::kRgb8;
  if (name == "bgr8") return cuda::FrameFormat::kBgr8;
  if (name == "rgba8") return cuda::FrameFormat::kRgba8;
  if (name == "bgra8") return cuda::FrameFormat::kBgra8;
  if (name == "nv12") return cuda::FrameFormat::kNv12;
  TV_THROW(ErrorCode::kInvalidArgument, "Expected one of 'rgb8', 'bgr8', 'rgba8', 'bgra8', 'nv12' for format but received '",
           name, "'");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

cuda::PreprocessPlan preprocessPlan(FrameInput const& frame, vla::PreprocessConfig const& config) {
  cuda::FrameSource source;
  source.format = parseCudaFormat(frame.format);
  source.width = frame.width;
  source.height = frame.height;
  int const bytesPerPixel = source.format == cuda::FrameFormat::kNv12 ? 1
                            : (source.format == cuda::FrameFormat::kRgba8 || source.format == cuda::FrameFormat::kBgra8) ? 4
                                                                                                                          : 3;
  source.stride = frame.stride == 0 ? frame.width * bytesPerPixel : frame.stride;
  std::size_t needed = static_cast<std::size_t>(source.stride) * static_cast<std::size_t>(frame.height);
  if (source.format == cuda::FrameFormat::kNv12) needed = needed * 3 / 2;
  TV_CHECK_ARG(frame.data.size() >= needed, "the frame needs ", needed, " bytes but data holds ", frame.data.size());
  return vla::devicePreprocessPlan(source, config);
}

std::vector<std::uint16_t> preprocessOnGpu(cuda::PreprocessPlan plan, std::vector<std::uint8_t> const& frame, bool mapped,
                                           KernelTiming* timing) {
  cuda::Stream stream;
  cuda::PinnedHostBuffer pinned(frame.size());
  std::memcpy(pinned.host(), frame.data(), frame.size());
  cuda::DeviceBuffer copy;
  if (mapped && pinned.devicePointer() != nullptr) {
    plan.frame.data = pinned.devicePointer();
  } else {
    copy = upload(pinned.host(), frame.size(), stream);
    plan.frame.data = copy.get();
  }
  plan.frame.byteLength = frame.size();
  std::size_t const count = static_cast<std::size_t>(cuda::preprocessPatchCount(plan)) * static_cast<std::size_t>(plan.patchDim());
  std::size_t const bytes = count * sizeof(std::uint16_t);
  cuda::DeviceBuffer workspace(cuda::preprocessWorkspaceBytes(plan));
  cuda::DeviceBuffer out = guardedOutput(bytes, stream);
  auto const launch = [&] {
    cuda::launchPreprocess(plan, workspace.get(), workspace.bytes(), static_cast<std::uint16_t*>(out.get()), stream.get());
  };
  launch();
  std::vector<std::uint8_t> const host = download(out, bytes + kGuardBytes, stream);
  checkGuard(host, bytes, "the preprocessing");
  timeLaunches(stream, timing, launch);
  std::vector<std::uint16_t> patches(count);
  std::memcpy(patches.data(), host.data(), bytes);
  return patches;
}

std::vector<std::uint16_t> preprocessOnCpu(FrameInput const& frame, vla::PreprocessConfig const& config) {
  vla::FrameView view;
  view.layout = makeFrameLayout(frame.width, frame.height, parsePixelFormat(frame.format), frame.stride);
  view.data = frame.data.data();
  return vla::preprocessImages({vla::frameToRgb(view)}, config, false).patches;
}

// ---------------------------------------------------------------------------------------------------

std::vector<std::uint16_t> embedOnGpu(EmbedInput const& in, KernelTiming* timing) {
  SafetensorsFile const weights(in.file);
  TensorView const* table = weights.find(in.name);
  std::vector<std::int64_t> const shape{in.vocab, in.hidden};
  TV_CHECK_ARG(table != nullptr && table->dtype == DType::kF16 && table->shape == shape, "expected an F16 [", in.vocab, ", ",
               in.hidden, "] tensor '", in.name, "' in ", in.file);
  TV_CHECK_ARG(in.image.size() == static_cast<std::size_t>(in.imageRows) * static_cast<std::size_t>(in.hidden),
               "image must hold imageRows * hidden values");
  std::size_t const shift = in.misalign ? 2 : 0;
  int const count = static_cast<int>(in.ids.size());
  std::size_t const outValues = static_cast<std::size_t>(count) * static_cast<std::size_t>(in.hidden);
  cuda::Stream stream;
  cuda::DeviceBuffer tableDevice(shift + table->bytes);
  TV_CUDA_CHECK(cudaMemcpyAsync(static_cast<std::uint8_t*>(tableDevice.get()) + shift, table->data, table->bytes,
                                cudaMemcpyHostToDevice, stream.get()));
  std::vector<std::uint8_t> imageBytes(shift + in.image.size() * sizeof(std::uint16_t));
  if (!in.image.empty()) std::memcpy(imageBytes.data() + shift, in.image.data(), in.image.size() * sizeof(std::uint16_t));
  cuda::DeviceBuffer imageDevice = upload(imageBytes.data(), imageBytes.size(), stream);
  cuda::DeviceBuffer idsDevice = upload(in.ids.data(), in.ids.size() * sizeof(std::int32_t), stream);
  std::size_t const outBytes = shift + outValues * sizeof(std::uint16_t);
  cuda::DeviceBuffer out = guardedOutput(outBytes, stream);
  cuda::DeviceBuffer workspace(cuda::embedWorkspaceBytes(count));
  cuda::DeviceBuffer status(sizeof(cuda::EmbedStatus));

  cuda::EmbedArgs args;
  args.table = reinterpret_cast<std::uint16_t const*>(static_cast<std::uint8_t const*>(tableDevice.get()) + shift);
  args.vocab = in.vocab;
  args.hidden = in.hidden;
  args.ids = static_cast<std::int32_t const*>(idsDevice.get());
  args.count = count;
  args.imageTokenId = in.imageTokenId;
  args.image = in.imageRows > 0 ? reinterpret_cast<std::uint16_t const*>(static_cast<std::uint8_t const*>(imageDevice.get()) + shift)
                                : nullptr;
  args.imageRows = in.imageRows;
  args.out = reinterpret_cast<std::uint16_t*>(static_cast<std::uint8_t*>(out.get()) + shift);
  auto const launch = [&] {
    cuda::launchEmbed(args, workspace.get(), workspace.bytes(), static_cast<cuda::EmbedStatus*>(status.get()), stream.get());
  };
  launch();
  std::vector<std::uint8_t> const statusBytes = download(status, sizeof(cuda::EmbedStatus), stream);
  std::vector<std::uint8_t> const host = download(out, outBytes + kGuardBytes, stream);
  cuda::EmbedStatus embedStatus;
  std::memcpy(&embedStatus, statusBytes.data(), sizeof embedStatus);
  cuda::checkEmbedStatus(embedStatus, in.vocab, in.imageRows);
  checkGuard(host, outBytes, "the embedding");
  timeLaunches(stream, timing, launch);
  std::vector<std::uint16_t> result(outValues);
  std::memcpy(result.data(), host.data() + shift, outValues * sizeof(std::uint16_t));
  return result;
}

std::vector<std::uint16_t> embedOnCpu(EmbedInput const& in) {
  TV_CHECK_ARG(in.image.size() == static_cast<std::size_t>(in.imageRows) * static_cast<std::size_t>(in.hidden),
               "image must hold imageRows * hidden values");
  vla::EmbeddingTable const table = vla::EmbeddingTable::load({in.file}, {in.name}, in.vocab, in.hidden);
  std::vector<std::uint16_t> out(in.ids.size() * static_cast<std::size_t>(in.hidden));
  table.embed(in.ids.data(), static_cast<int>(in.ids.size()), in.imageTokenId, in.image.empty() ? nullptr : in.image.data(),
              in.imageRows, out.data());
  return out;
}

// ---------------------------------------------------------------------------------------------------

namespace {
vla::MropePositions ropePositions(RopeInput const& in) {
  return vla::mropePositions(in.ids.data(), static_cast<int>(in.ids.size()), in.capacity, in.imageTokenId, in.grids, in.mergeSize);
}
int ropeRowEnd(RopeInput const& in) { return in.rowEnd < 0 ? in.capacity : in.rowEnd; }
}  // namespace

std::vector<float> ropeOnGpu(RopeInput const& in, KernelTiming* timing) {
  TV_CHECK_ARG(in.headDim >= 2 && in.headDim <= cuda::kMaxRopeHeadDim, "headDim must be in [2, ", cuda::kMaxRopeHeadDim, "]");
  vla::MropePositions const positions = ropePositions(in);
  std::size_t const values = static_cast<std::size_t>(in.capacity) * static_cast<std::size_t>(in.headDim);
  cuda::Stream stream;
  cuda::DeviceBuffer t = upload(positions.t.data(), positions.t.size() * sizeof(std::int32_t), stream);
  cuda::DeviceBuffer h = upload(positions.h.data(), positions.h.size() * sizeof(std::int32_t), stream);
  cuda::DeviceBuffer w = upload(positions.w.data(), positions.w.size() * sizeof(std::int32_t), stream);
  std::size_t const bytes = values * sizeof(float);
  cuda::DeviceBuffer table = guardedOutput(bytes, stream);
  std::vector<float> const fill(values, kUnwrittenRope);
  TV_CUDA_CHECK(cudaMemcpyAsync(table.get(), fill.data(), bytes, cudaMemcpyHostToDevice, stream.get()));
  cuda::MropeTableArgs args;
  args.t = static_cast<std::int32_t const*>(t.get());
  args.h = static_cast<std::int32_t const*>(h.get());
  args.w = static_cast<std::int32_t const*>(w.get());
  args.capacity = in.capacity;
  args.rowBegin = in.rowBegin;
  args.rowEnd = ropeRowEnd(in);
  args.headDim = in.headDim;
  args.mropeSection = in.mropeSection;
  args.theta = in.theta;
  args.table = static_cast<float*>(table.get());
  auto const launch = [&] { cuda::launchMropeCosSin(args, stream.get()); };
  launch();
  std::vector<std::uint8_t> const host = download(table, bytes + kGuardBytes, stream);
  checkGuard(host, bytes, "the rope table");
  timeLaunches(stream, timing, launch);
  std::vector<float> result(values);
  std::memcpy(result.data(), host.data(), bytes);
  return result;
}

std::vector<float> ropeOnCpu(RopeInput const& in) {
  std::vector<float> table(static_cast<std::size_t>(in.capacity) * static_cast<std::size_t>(in.headDim), kUnwrittenRope);
  vla::mropeCosSin(ropePositions(in), in.rowBegin, ropeRowEnd(in), in.headDim, in.mropeSection, in.theta, table.data());
  return table;
}

// ---------------------------------------------------------------------------------------------------

namespace {
void checkSampleInput(SampleInput const& in) {
  TV_CHECK_ARG(in.vocab > 0 && in.steps > 0 && in.logits.size() == static_cast<std::size_t>(in.vocab) * static_cast<std::size_t>(in.steps),
               "logits must hold steps * vocab values");
}
}  // namespace

SampleRun sampleOnCpu(SampleInput const& in) {
  checkSampleInput(in);
  vla::Sampler sampler(in.config);
  sampler.resetHistory(in.prompt.data(), static_cast<int>(in.prompt.size()), in.vocab);
  SampleRun run;
  run.logits = in.logits;
  for (int step = 0; step < in.steps; ++step) {
    float* row = run.logits.data() + static_cast<std::size_t>(step) * static_cast<std::size_t>(in.vocab);
    std::int32_t const token =
        sampler.sample(row, in.vocab, in.allowed.empty() ? nullptr : in.allowed.data(), static_cast<int>(in.allowed.size()));
    run.tokens.push_back(token);
    sampler.noteToken(token);
  }
  return run;
}

SampleRun sampleOnGpu(SampleInput const& in, KernelTiming* timing) {
  checkSampleInput(in);
  int const vocab = in.vocab;
  vla::Sampler sampler(in.config);
  sampler.resetHistory(in.prompt.data(), static_cast<int>(in.prompt.size()), vocab);
  cuda::Stream stream;
  std::size_t const rowBytes = static_cast<std::size_t>(vocab) * sizeof(float);
  cuda::DeviceBuffer logitsDevice(rowBytes);
  cuda::DeviceBuffer allowedDevice = upload(in.allowed.data(), in.allowed.size() * sizeof(std::int32_t), stream);
  // Penalised ids are distinct and inside the vocabulary, so vocab bounds their number.
  cuda::DeviceBuffer penalizedDevice(rowBytes);

  cuda::SamplingArgs args;
  args.logits = static_cast<float*>(logitsDevice.get());
  args.vocab = vocab;
  args.allowed = in.allowed.empty() ? nullptr : static_cast<std::int32_t const*>(allowedDevice.get());
  args.allowedCount = static_cast<int>(in.allowed.size());
  args.penalized = static_cast<std::int32_t const*>(penalizedDevice.get());
  args.repetitionPenalty = static_cast<float>(in.config.repetitionPenalty);
  args.greedy = sampler.greedy();
  args.topK = in.config.topK;
  cuda::DeviceBuffer workspace(cuda::samplingWorkspaceBytes(args));
  std::size_t const outputBytes = cuda::samplingOutputBytes(cuda::samplingCandidateCapacity(args));
  cuda::DeviceBuffer output = guardedOutput(outputBytes, stream);
  auto const launch = [&] { cuda::launchSampling(args, workspace.get(), workspace.bytes(), output.get(), outputBytes, stream.get()); };

  SampleRun run;
  run.logits.resize(in.logits.size());
  for (int step = 0; step < in.steps; ++step) {
    std::size_t const offset = static_cast<std::size_t>(step) * static_cast<std::size_t>(vocab);
    TV_CUDA_CHECK(cudaMemcpyAsync(logitsDevice.get(), in.logits.data() + offset, rowBytes, cudaMemcpyHostToDevice, stream.get()));
    std::vector<std::int32_t> const& penalized = sampler.penalized();
    TV_CHECK_INTERNAL(penalized.size() <= static_cast<std::size_t>(vocab), "more penalised ids than the vocabulary");
    if (!penalized.empty()) {
      TV_CUDA_CHECK(cudaMemcpyAsync(penalizedDevice.get(), penalized.data(), penalized.size() * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, stream.get()));
    }
    args.penalizedCount = static_cast<int>(penalized.size());
    launch();
    TV_CUDA_CHECK(cudaMemcpyAsync(run.logits.data() + offset, logitsDevice.get(), rowBytes, cudaMemcpyDeviceToHost, stream.get()));
    std::vector<std::uint8_t> const host = download(output, outputBytes + kGuardBytes, stream);
    checkGuard(host, outputBytes, "the sampling");
    cuda::SamplingResult const result = cuda::readSamplingOutput(host.data(), outputBytes);
    cuda::checkSamplingResult(result, args);
    std::int32_t const token = args.greedy ? result.header.token : sampler.drawSorted(result.candidates.data(), result.candidates.size());
    run.tokens.push_back(token);
    sampler.noteToken(token);
  }
  // Timed on the last step's (already penalised) logits: the work per launch is the same.
  timeLaunches(stream, timing, launch);
  return run;
}

// ---------------------------------------------------------------------------------------------------

std::vector<float> expandLogitsOnGpu(ExpandInput const& in, KernelTiming* timing) {
  TV_CHECK_ARG(in.reduced.size() == in.map.size(), "reduced and map must have the same length");
  engine::VocabMap::fromIds(in.map, in.fullCount);  // the same checks of the map as the CPU side
  std::vector<float> const start(static_cast<std::size_t>(in.fullCount), -std::numeric_limits<float>::infinity());
  cuda::Stream stream;
  cuda::DeviceBuffer reduced = upload(in.reduced.data(), in.reduced.size() * sizeof(float), stream);
  cuda::DeviceBuffer ids = upload(in.map.data(), in.map.size() * sizeof(std::int32_t), stream);
  std::size_t const bytes = start.size() * sizeof(float);
  cuda::DeviceBuffer full = guardedOutput(bytes, stream);
  TV_CUDA_CHECK(cudaMemcpyAsync(full.get(), start.data(), bytes, cudaMemcpyHostToDevice, stream.get()));
  cuda::ExpandLogitsArgs args;
  args.reduced = static_cast<float const*>(reduced.get());
  args.reducedCount = static_cast<int>(in.reduced.size());
  args.reducedToFull = static_cast<std::int32_t const*>(ids.get());
  args.full = static_cast<float*>(full.get());
  args.fullCount = in.fullCount;
  auto const launch = [&] { cuda::launchExpandLogits(args, stream.get()); };
  launch();
  std::vector<std::uint8_t> const host = download(full, bytes + kGuardBytes, stream);
  checkGuard(host, bytes, "the expanded logits");
  timeLaunches(stream, timing, launch);
  std::vector<float> result(start.size());
  std::memcpy(result.data(), host.data(), bytes);
  return result;
}

std::vector<float> expandLogitsOnCpu(ExpandInput const& in) {
  TV_CHECK_ARG(in.reduced.size() == in.map.size(), "reduced and map must have the same length");
  engine::VocabMap const vocabMap = engine::VocabMap::fromIds(in.map, in.fullCount);
  std::vector<float> full(static_cast<std::size_t>(in.fullCount), -std::numeric_limits<float>::infinity());
  vocabMap.expandLogits(in.reduced.data(), full.data());
  return full;
}

// ---------------------------------------------------------------------------------------------------

namespace {

// Device buffers of a decode step; step() enqueues one on the stream (what the graph captures).
class DecodeStep {
 public:
  DecodeStep(DecodeStepInput const& in, cuda::Stream const& stream)
      : in_(in), weights_(in.file), stream_(stream), rowBytes_(static_cast<std::size_t>(in.vocab) * sizeof(float)) {
    TensorView const* table = weights_.find(in.name);
    std::vector<std::int64_t> const shape{in.vocab, in.hidden};
    TV_CHECK_ARG(table != nullptr && table->dtype == DType::kF16 && table->shape == shape, "expected an F16 [", in.vocab, ", ",
                 in.hidden, "] tensor '", in.name, "' in ", in.file);
    TV_CHECK_ARG(in.steps >= 1 && in.logits.size() == rowBytes_ / sizeof(float) * static_cast<std::size_t>(in.steps),
                 "logits must hold steps * vocab values");
    table_ = upload(table->data, table->bytes, stream);
    staging_ = cuda::DeviceBuffer(rowBytes_);
    logits_ = cuda::DeviceBuffer(rowBytes_);
    sampling_.vocab = in.vocab;
    sampling_.logits = static_cast<float*>(logits_.get());
    sampling_.greedy = true;
    sampling_.repetitionPenalty = 1.0f;
    workspace_ = cuda::DeviceBuffer(cuda::samplingWorkspaceBytes(sampling_));
    outputBytes_ = cuda::samplingOutputBytes(cuda::samplingCandidateCapacity(sampling_));
    output_ = guardedOutput(outputBytes_, stream);
    rowOut_ = guardedOutput(static_cast<std::size_t>(in.hidden) * sizeof(std::uint16_t), stream);
    embedWorkspace_ = cuda::DeviceBuffer(cuda::embedWorkspaceBytes(1));
    status_ = cuda::DeviceBuffer(sizeof(cuda::EmbedStatus));
    embed_.table = static_cast<std::uint16_t const*>(table_.get());
    embed_.vocab = in.vocab;
    embed_.hidden = in.hidden;
    // The token the sampler writes: SamplingHeader::token, the output's first field.
    embed_.ids = static_cast<std::int32_t const*>(output_.get());
    embed_.count = 1;
    embed_.out = static_cast<std::uint16_t*>(rowOut_.get());
  }

  // The next row of logits into the staging buffer the step reads (outside the graph).
  void stage(int step) {
    TV_CUDA_CHECK(cudaMemcpyAsync(staging_.get(), in_.logits.data() + static_cast<std::size_t>(step) * static_cast<std::size_t>(in_.vocab),
                                  rowBytes_, cudaMemcpyHostToDevice, stream_.get()));
  }

  void step() {
    TV_CUDA_CHECK(cudaMemcpyAsync(logits_.get(), staging_.get(), rowBytes_, cudaMemcpyDeviceToDevice, stream_.get()));
    cuda::launchSampling(sampling_, workspace_.get(), workspace_.bytes(), output_.get(), outputBytes_, stream_.get());
    cuda::launchEmbed(embed_, embedWorkspace_.get(), embedWorkspace_.bytes(), static_cast<cuda::EmbedStatus*>(status_.get()), stream_.get());
  }

  // The step's token and row, after the stream finishes.
  void collect(DecodeStepRun& run) {
    std::size_t const rowBytes = static_cast<std::size_t>(in_.hidden) * sizeof(std::uint16_t);
    std::vector<std::uint8_t> const output = download(output_, outputBytes_ + kGuardBytes, stream_);
    checkGuard(output, outputBytes_, "the sampling");
    std::vector<std::uint8_t> const row = download(rowOut_, rowBytes + kGuardBytes, stream_);
    checkGuard(row, rowBytes, "the embedding");
    std::vector<std::uint8_t> const statusBytes = download(status_, sizeof(cuda::EmbedStatus), stream_);
    cuda::EmbedStatus status;
    std::memcpy(&status, statusBytes.data(), sizeof status);
    cuda::checkEmbedStatus(status, in_.vocab, 0);
    cuda::SamplingResult const result = cuda::readSamplingOutput(output.data(), outputBytes_);
    cuda::checkSamplingResult(result, sampling_);
    run.tokens.push_back(result.header.token);
    std::size_t const at = run.rows.size();
    run.rows.resize(at + static_cast<std::size_t>(in_.hidden));
    std::memcpy(run.rows.data() + at, row.data(), rowBytes);
  }

 private:
  DecodeStepInput const& in_;
  SafetensorsFile const weights_;
  cuda::Stream const& stream_;
  std::size_t rowBytes_;
  cuda::DeviceBuffer table_, staging_, logits_, workspace_, output_, rowOut_, embedWorkspace_, status_;
  std::size_t outputBytes_ = 0;
  cuda::SamplingArgs sampling_;
  cuda::EmbedArgs embed_;
};

// A captured graph, instantiated; destroyed with its graph.
class Graph {
 public:
  template <typename Enqueue>
  Graph(cuda::Stream const& stream, Enqueue&& enqueue) {
    TV_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
    try {
      enqueue();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream.get(), &broken);
      if (broken != nullptr) cudaGraphDestroy(broken);
      throw;
    }
    TV_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph_));
    TV_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  ~Graph() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
  }
  Graph(Graph const&) = delete;
  Graph& operator=(Graph const&) = delete;
  void launch(cuda::Stream const& stream) const { TV_CUDA_CHECK(cudaGraphLaunch(exec_, stream.get())); }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace

DecodeStepRun decodeStepsDirect(DecodeStepInput const& in, KernelTiming* timing) {
  cuda::Stream stream;
  DecodeStep decode(in, stream);
  DecodeStepRun run;
  for (int i = 0; i < in.steps; ++i) {
    decode.stage(i);
    decode.step();
    decode.collect(run);
  }
  timeLaunches(stream, timing, [&] { decode.step(); });
  return run;
}

DecodeStepRun decodeStepsGraph(DecodeStepInput const& in, KernelTiming* timing) {
  cuda::Stream stream;
  DecodeStep decode(in, stream);
  decode.stage(0);  // capture reads nothing; the staging buffer only has to exist
  stream.synchronize();
  Graph const graph(stream, [&] { decode.step(); });
  DecodeStepRun run;
  for (int i = 0; i < in.steps; ++i) {
    decode.stage(i);
    graph.launch(stream);
    decode.collect(run);
  }
  timeLaunches(stream, timing, [&] { graph.launch(stream); });
  return run;
}

DecodeStepRun decodeStepsOnCpu(DecodeStepInput const& in) {
  vla::EmbeddingTable const table = vla::EmbeddingTable::load({in.file}, {in.name}, in.vocab, in.hidden);
  // Greedy, no penalty: each step's pick depends on its row alone, as in the device step above.
  DecodeStepRun run;
  for (int i = 0; i < in.steps; ++i) {
    vla::Sampler sampler(vla::SamplingConfig{});
    std::vector<float> row(in.logits.begin() + static_cast<std::ptrdiff_t>(i) * in.vocab,
                           in.logits.begin() + static_cast<std::ptrdiff_t>(i + 1) * in.vocab);
    std::int32_t const token = sampler.sample(row.data(), in.vocab, nullptr, 0);
    run.tokens.push_back(token);
    std::size_t const at = run.rows.size();
    run.rows.resize(at + static_cast<std::size_t>(in.hidden));
    table.embed(&token, 1, -1, nullptr, 0, run.rows.data() + at);
  }
  return run;
}

}  // namespace tv::checks
