// Safetensors I/O for fp32 tensors — the format PyTorch users open with safetensors.torch.load_file.
//
// File layout (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>", ...}}
// padded with spaces to a multiple of 8, then the raw little-endian data; offsets are relative to
// the end of the header and the tensors tile the data block without holes or overlaps.
//
// save_safetensors writes to a temporary file in the destination folder, fsyncs it, renames it
// over the destination and fsyncs the folder, so a crash leaves either the old or the new file.
// load_safetensors refuses (lucid::IoError naming the file and the problem) a truncated file, a
// header that is not the JSON above, a dtype other than F32, offsets that disagree with the shape
// or leave holes, and trailing bytes. Tensors come back in file (data offset) order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lucid {

struct TensorRecord {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

void save_safetensors(const std::filesystem::path& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  std::vector<TensorRecord> tensors;
  std::map<std::string, std::string> metadata;
};

SafetensorsFile load_safetensors(const std::filesystem::path& path);

}  // namespace lucid
