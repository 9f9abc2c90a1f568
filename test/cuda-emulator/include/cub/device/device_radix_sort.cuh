// Emulated cub::DeviceRadixSort::SortKeys: a stable sort on the key bits [begin, end), which is what
// CUB's LSD radix sort computes.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

namespace cub {

struct DeviceRadixSort {
  template <class Key, class Count>
  static cudaError_t SortKeys(void* scratch, std::size_t& scratchBytes, Key const* in, Key* out, Count n, int begin = 0,
                              int end = sizeof(Key) * 8, cudaStream_t = nullptr) {
    if (scratch == nullptr) {
      scratchBytes = 64;
      return cudaSuccess;
    }
    int const width = end - begin;
    Key const mask = width >= static_cast<int>(sizeof(Key) * 8) ? ~Key{0} : ((Key{1} << width) - 1);
    std::vector<Key> keys(in, in + n);
    std::stable_sort(keys.begin(), keys.end(), [&](Key a, Key b) { return ((a >> begin) & mask) < ((b >> begin) & mask); });
    std::copy(keys.begin(), keys.end(), out);
    return cudaSuccess;
  }
};

}  // namespace cub
