// Element types shared by safetensors files and engine tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tv {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

std::size_t dtypeSize(DType type);
// Safetensors spelling: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
char const* dtypeName(DType type);
// Parses the safetensors spelling; returns false for unknown names.
bool parseDType(std::string_view name, DType* out);

// "[2, 3, 4]"
std::string formatShape(std::vector<std::int64_t> const& shape);

// Product of dims; false on negative dims or int64 overflow.
bool shapeElements(std::vector<std::int64_t> const& shape, std::int64_t* out);

}  // namespace tv
