// libFuzzer harness: the Qwen2.5-VL config parsers (native/engine/cpu/qwen_config.cc) on an untrusted
// config.json, and the layout computations a config that loads feeds at plan time (the patch grid of
// camera-sized images, the window index, the rotary angles: native/vla/preprocess.cc). A config that
// parses must give a layout that is finite in time (libFuzzer's -timeout catches a loop that never
// ends) and consistent; anything but a tv::Error is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "engine/cpu/qwen_config.h"
#include "vla/preprocess.h"

namespace {

void checkText(tv::engine::cpu::QwenTextConfig const& c) {
  if (c.kvHeads <= 0 || c.heads % c.kvHeads != 0 || c.headDim <= 0 || c.headDim % 2 != 0) __builtin_trap();
  if (2 * (c.mropeSection[0] + c.mropeSection[1] + c.mropeSection[2]) != c.headDim) __builtin_trap();
  // The sizes a session allocates from the config (session.cc), in 64-bit: KV rows for 4096
  // positions, the query width, the LM head.
  std::int64_t const kvBytes = std::int64_t{2} * c.kvHeads * 4096 * c.headDim * 2;
  std::int64_t const head = std::int64_t{c.vocabSize} * c.hiddenSize;
  if (kvBytes <= 0 || head <= 0 || std::int64_t{c.heads} * c.headDim > (std::int64_t{1} << 31)) __builtin_trap();
}

void checkVision(tv::engine::cpu::QwenVisionConfig const& c) {
  tv::vla::PreprocessConfig p;
  p.patchSize = c.patchSize;
  p.temporalPatchSize = c.temporalPatchSize;
  p.mergeSize = c.spatialMergeSize;
  p.windowSize = c.windowSize;
  p.visionHeadDim = c.headDim();
  std::vector<tv::vla::ImageGrid> grids;
  for (auto [w, h] : {std::pair{64, 64}, std::pair{1600, 900}, std::pair{28, 5600}}) grids.push_back(tv::vla::modelGrid(w, h, p));
  tv::vla::VisionInputs const in = tv::vla::visionLayout(grids, p);
  std::int64_t patches = 0;
  for (auto const& g : grids) patches += std::int64_t{g.t} * g.h * g.w;
  std::int64_t const units = patches / (p.mergeSize * p.mergeSize);
  if (in.totalPatches() != patches || static_cast<std::int64_t>(in.windowIndex.size()) != units) __builtin_trap();
  if (in.cuWindowSeqlens.back() != patches) __builtin_trap();
  std::vector<bool> seen(static_cast<std::size_t>(units), false);
  for (std::int64_t u : in.windowIndex) {
    if (u < 0 || u >= units || seen[static_cast<std::size_t>(u)]) __builtin_trap();
    seen[static_cast<std::size_t>(u)] = true;
  }
  if (static_cast<std::int64_t>(in.rotaryPosEmb.size()) != patches * (p.visionHeadDim / 2)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  tv::JsonValue config;
  try {
    config = tv::parseJson(std::string_view(reinterpret_cast<char const*>(data), size), "config.json");
  } catch (tv::Error const&) {
    return 0;
  }
  try {
    checkText(tv::engine::cpu::parseQwenTextConfig(config, "config.json"));
  } catch (tv::Error const&) {
  }
  try {
    checkVision(tv::engine::cpu::parseQwenVisionConfig(config, "config.json"));
  } catch (tv::Error const&) {
  }
  return 0;
}
