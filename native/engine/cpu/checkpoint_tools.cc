#include "engine/cpu/checkpoint_tools.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/fp16.h"
#include "core/safetensors.h"
#include "engine/cpu/awq.h"

namespace tv::engine::cpu {

namespace {

constexpr std::int64_t kChunk = 1 << 16;  // elements per independent random stream

std::uint64_t splitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t hashName(std::string const& name, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// xoshiro256**: small, fast and good enough for weights.
struct Rng {
  std::uint64_t s[4];
  explicit Rng(std::uint64_t seed) {
    for (auto& v : s) v = splitMix(seed);
  }
  std::uint64_t next() {
    auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    std::uint64_t const result = rotl(s[1] * 5, 7) * 9;
    std::uint64_t const t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }  // (0, 1)
};

// Fills out[0..n) with values of the plan's distribution; chunk c of the tensor always comes from the
// stream (seed, seedName, c), so threads may fill chunks in any order.
void fillValues(TensorPlan const& p, std::uint64_t seed, float* out, std::int64_t n, ThreadPool& pool) {
  if (p.init == InitKind::kConstant) {
    std::fill(out, out + n, static_cast<float>(p.mean));
    return;
  }
  std::uint64_t const base = hashName(p.seedName.empty() ? p.name : p.seedName, seed);
  std::int64_t const chunks = (n + kChunk - 1) / kChunk;
  pool.parallelFor(chunks, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Rng rng(base + static_cast<std::uint64_t>(c) * 0x632be59bd9b4e019ULL);
      std::int64_t const end = std::min(n, (c + 1) * kChunk);
      for (std::int64_t i = c * kChunk; i < end; i += 2) {
        // Box-Muller: two normals per pair of uniforms.
        double const r = std::sqrt(-2.0 * std::log(rng.uniform()));
        double const a = 6.283185307179586 * rng.uniform();
        out[i] = static_cast<float>(p.mean + p.stddev * r * std::cos(a));
        if (i + 1 < end) out[i + 1] = static_cast<float>(p.mean + p.stddev * r * std::sin(a));
      }
    }
  });
}

void convertTo(DType dtype, float const* in, std::uint8_t* out, std::size_t n) {
  switch (dtype) {
    case DType::kF32: std::memcpy(out, in, n * sizeof(float)); break;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t const h = floatToHalf(in[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      break;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t const h = floatToBf16(in[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      break;
    default: TV_THROW(ErrorCode::kInvalidArgument, "random tensors must be F32, F16 or BF16, not ", dtypeName(dtype));
  }
}

void addAwq(SafetensorsWriter& writer, std::string const& prefix, std::shared_ptr<tv::cpu::AwqOwned> const& q, int out, int in) {
  int const groups = in / tv::cpu::kQ4GroupSize;
  writer.addCopy(prefix + ".qweight", DType::kI32, {in, out / 8}, q->qweight.data());
  writer.addCopy(prefix + ".qzeros", DType::kI32, {groups, out / 8}, q->qzeros.data());
  writer.addCopy(prefix + ".scales", DType::kF16, {groups, out}, q->scales.data());
}

// Decoder linear weights: model.[language_model.]layers.<n>.self_attn.{q,k,v,o}_proj.weight or
// .mlp.{gate,up,down}_proj.weight. Matched by hand: std::regex recurses per character and a long tensor
// name overflowed the worker thread's stack.
bool isDecoderLinearWeight(std::string_view name) {
  auto consume = [&name](std::string_view prefix) {
    if (name.substr(0, prefix.size()) != prefix) return false;
    name.remove_prefix(prefix.size());
    return true;
  };
  if (!consume("model.")) return false;
  consume("language_model.");
  if (!consume("layers.")) return false;
  std::size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return false;
  name.remove_prefix(digits);
  for (std::string_view suffix : {".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
                                  ".self_attn.o_proj.weight", ".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"}) {
    if (name == suffix) return true;
  }
  return false;
}

std::vector<float> toFloat(TensorView const& t) {
  std::vector<float> out(static_cast<std::size_t>(t.elements()));
  if (t.dtype == DType::kF32) {
    t.copyTo(out.data());
    return out;
  }
  TV_CHECK(t.dtype == DType::kF16 || t.dtype == DType::kBF16, ErrorCode::kModelLoad, "tensor '", t.name, "' has dtype ",
           dtypeName(t.dtype), "; expected F32, F16 or BF16");
  std::vector<std::uint16_t> halves(out.size());
  t.copyTo(halves.data());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.dtype == DType::kF16 ? halfToFloat(halves[i]) : bf16ToFloat(halves[i]);
  return out;
}

}  // namespace

void writeRandomCheckpoint(std::string const& path, std::vector<TensorPlan> const& plan, std::uint64_t seed, ThreadPool& pool,
                           std::vector<std::pair<std::string, std::string>> const& metadata) {
  SafetensorsWriter writer;
  for (auto const& [k, v] : metadata) writer.setMetadata(k, v);
  // AWQ tensors must be computed before the header is known (their packing is data-independent in
  // size, but one quantization yields three tensors): quantize up front, keep them until written.
  std::vector<std::shared_ptr<tv::cpu::AwqOwned>> keep;
  for (TensorPlan const& p : plan) {
    std::int64_t elements = 0;
    TV_CHECK_ARG(shapeElements(p.shape, &elements), "invalid shape for '", p.name, "'");
    if (p.awq) {
      TV_CHECK_ARG(p.shape.size() == 2, "AWQ tensor '", p.name, "' needs shape [out, in]");
      int const out = static_cast<int>(p.shape[0]);
      int const in = static_cast<int>(p.shape[1]);
      std::vector<float> weights(static_cast<std::size_t>(elements));
      fillValues(p, seed, weights.data(), elements, pool);
      auto q = std::make_shared<tv::cpu::AwqOwned>(tv::cpu::quantizeRtnAwq(weights.data(), out, in));
      addAwq(writer, p.name, q, out, in);
      keep.push_back(std::move(q));
      continue;
    }
    writer.add(p.name, p.dtype, p.shape, [&p, seed, elements, &pool](std::uint8_t* dst, std::size_t) {
      std::vector<float> values(static_cast<std::size_t>(elements));
      fillValues(p, seed, values.data(), elements, pool);
      convertTo(p.dtype, values.data(), dst, values.size());
    });
  }
  writer.write(path);
}

QuantizeReport quantizeCheckpointRtn(std::vector<std::string> const& inputs, std::string const& output) {
  TV_CHECK_ARG(!inputs.empty(), "no input safetensors files");
  SafetensorsSet set;
  for (std::string const& path : inputs) set.add(std::make_shared<SafetensorsFile>(path));
  // Decoder linear layers only: the vision tower, embeddings, norms and LM head stay as they are
  // (AutoAWQ checkpoints of Qwen2.5-VL quantize the same set).
  SafetensorsWriter writer;
  QuantizeReport report;
  std::vector<std::shared_ptr<tv::cpu::AwqOwned>> keep;
  for (auto const& file : set.files()) {
    for (TensorView const& t : file->tensors()) {
      report.bytesIn += t.bytes;
      if (isDecoderLinearWeight(t.name)) {
        TV_CHECK(t.shape.size() == 2 && t.shape[0] > 0 && t.shape[1] > 0 && t.shape[0] <= (1 << 24) && t.shape[1] <= (1 << 24) &&
                     t.shape[0] % 8 == 0 && t.shape[1] % tv::cpu::kQ4GroupSize == 0,
                 ErrorCode::kModelLoad, file->path(), ": tensor '", t.name, "' has shape ", formatShape(t.shape),
                 "; a linear weight to quantize needs [out, in] with out a multiple of 8 and in a multiple of ", tv::cpu::kQ4GroupSize);
        int const out = static_cast<int>(t.shape[0]);
        int const in = static_cast<int>(t.shape[1]);
        std::vector<float> const weights = toFloat(t);
        auto q = std::make_shared<tv::cpu::AwqOwned>(tv::cpu::quantizeRtnAwq(weights.data(), out, in));
        std::string const prefix = t.name.substr(0, t.name.size() - std::strlen(".weight"));
        addAwq(writer, prefix, q, out, in);
        report.bytesOut += q->qweight.size() * 4 + q->qzeros.size() * 4 + q->scales.size() * 2;
        keep.push_back(std::move(q));
        ++report.quantizedLayers;
      } else {
        writer.addCopy(t.name, t.dtype, t.shape, t.data);
        report.bytesOut += t.bytes;
        ++report.copiedTensors;
      }
    }
  }
  writer.write(output);
  return report;
}

}  // namespace tv::engine::cpu
