// Checkpoints: a model's parameter arena, its Adam state, RNG positions and metadata in one
// safetensors file (so PyTorch users can open it with safetensors.torch.load_file).
//
// What goes in the file:
//   "<view name>"                    each named view of the arena, with its shape
//   "optim.exp_avg.<view name>"      Adam's first moment for that view (when an Adam is given)
//   "optim.exp_avg_sq.<view name>"   Adam's second moment
//   metadata "lucid.format" = "1", "lucid.adam.step" = step count,
//   "lucid.rng.<name>" = "<seed> <stream> <offset>"  (decimal; 64-bit integers do not fit F32;
//   loading restores all three, so a resumed run continues the saved streams),
//   and the caller's metadata (keys starting with "lucid." are reserved).
// The views must tile the arena exactly, so the file holds every parameter once.
//
// load_checkpoint validates everything — every view present with the same shape, the moments
// present when an Adam is given, every RNG named — before it writes a single float, so a
// mismatched or corrupt file (lucid::IoError) leaves the model, optimizer and RNGs untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"

namespace lucid {

// A named tensor inside the parameter arena: floats [offset, offset + prod(shape)).
struct ArenaView {
  std::string name;
  std::size_t offset;
  std::vector<std::int64_t> shape;
};

// Borrowed references to the state being saved or restored; nothing is owned.
struct CheckpointState {
  std::span<float> params;                         // the whole arena
  std::vector<ArenaView> views;                    // tiling params
  Adam* adam = nullptr;                            // optional
  std::vector<std::pair<std::string, Rng*>> rngs;  // optional, by name
};

void save_checkpoint(const std::filesystem::path& path, const CheckpointState& state,
                     const std::map<std::string, std::string>& metadata = {});

// Restores into `state` and returns the caller's metadata (the "lucid." keys removed).
std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path, CheckpointState& state);

}  // namespace lucid
