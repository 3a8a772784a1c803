// write_png through libpng, temp file + rename.
#include "lucid/envs/png.h"

#include <png.h>

#include <cstdio>
#include <string>

#include "lucid/error.h"

namespace lucid::envs {

namespace {
// libpng reports errors by longjmp, so this function holds no C++ object with a destructor and
// changes no local after setjmp.
bool write_rows(std::FILE* f, const Image& image) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(png,
                  const_cast<png_bytep>(image.rgb.data() + static_cast<std::size_t>(y) * image.width * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}
}  // namespace

void write_png(const std::filesystem::path& path, const Image& image) {
  LUCID_CHECK_AS(image.width > 0 && image.height > 0 &&
                     image.rgb.size() == static_cast<std::size_t>(image.width) * image.height * 3,
                 EnvError)
      << "inconsistent image " << image.width << "x" << image.height << " with " << image.rgb.size()
      << " bytes";
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  LUCID_CHECK_AS(f != nullptr, IoError) << "cannot open " << tmp.string() << " for writing";
  const bool rows_ok = write_rows(f, image);
  const bool close_ok = std::fclose(f) == 0;
  if (!rows_ok || !close_ok) {
    std::remove(tmp.c_str());
    LUCID_FAIL(IoError) << "libpng failed to write " << path.string();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  LUCID_CHECK_AS(!ec, IoError) << "cannot rename " << tmp.string() << " to " << path.string() << ": "
                               << ec.message();
}

}  // namespace lucid::envs
