// inputs_embeds on the GPU: gather rows of the fp16 token embedding table, with the vision encoder's
// rows spliced in at the image-pad positions (the k-th image-pad token takes image row k), as
// vla::EmbeddingTable::embed does on the CPU. A copy of fp16 bits: the result is bit-identical.
//
// The ids live on the device, so the launcher cannot throw for bad ids: the kernels write zero rows for
// them and record what went wrong in an EmbedStatus on the device. After the stream has synchronised,
// checkEmbedStatus on a host copy of it throws the same ERR_INVALID_ARGUMENT as the CPU path.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tv::cuda {

struct EmbedArgs {
  std::uint16_t const* table = nullptr;  // [device, f16] [vocab, hidden]
  int vocab = 0;
  int hidden = 0;
  std::int32_t const* ids = nullptr;     // [device-readable, i32] [count]
  int count = 0;
  std::int32_t imageTokenId = -1;
  std::uint16_t const* image = nullptr;  // [device, f16] [imageRows, hidden]; may be null when imageRows == 0
  int imageRows = 0;
  std::uint16_t* out = nullptr;          // [device, f16] [count, hidden]
};

// Written by the device (all fields, on every launch).
struct EmbedStatus {
  std::int32_t imageTokens = 0;          // image-pad tokens among the ids
  std::int32_t firstExcessImageToken = -1;  // position of the pad token past imageRows, or -1
  std::int32_t firstBadPosition = -1;    // first non-pad position whose id is outside [0, vocab), or -1
  std::int32_t firstBadId = 0;           // the id found there
};

// Device scratch for launchEmbed: the per-position row map, [count] int32.
std::size_t embedWorkspaceBytes(int count);

// status: [device-writable] one EmbedStatus (device memory, or mapped pinned memory read after the
// stream synchronises). workspace: [device] embedWorkspaceBytes(count) bytes, 4-byte aligned.
void launchEmbed(EmbedArgs const& args, void* workspace, std::size_t workspaceBytes, EmbedStatus* status,
                 cudaStream_t stream);

// Throws ERR_INVALID_ARGUMENT with the CPU path's message for the first problem the status records
// (by position, as the CPU loop meets them), or for an image-row count mismatch.
void checkEmbedStatus(EmbedStatus const& status, int vocab, int imageRows);

}  // namespace tv::cuda
