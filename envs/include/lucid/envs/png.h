// write_png: an Image (RGB8, row 0 at the top) to a PNG file through libpng, written to a temporary
// file and renamed so a crash never leaves a truncated image behind.
#pragma once

#include <filesystem>

#include "lucid/envs/env.h"

namespace lucid::envs {

// Throws lucid::IoError when the file cannot be written, lucid::EnvError for an inconsistent image.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace lucid::envs
