// render(): an offscreen OSMesa image of the model's first camera, written as a PNG that is not
// blank, and rendering leaves the physics untouched.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "lucid/envs/png.h"
#include "lucid/envs/registry.h"
#include "lucid/error.h"

namespace lucid::envs {
namespace {

// Distinct colours in the image: a blank (single-colour) frame has 1.
std::size_t distinct_colours(const Image& img) {
  std::set<unsigned> colours;
  for (std::size_t i = 0; i + 2 < img.rgb.size(); i += 3)
    colours.insert(img.rgb[i] << 16 | img.rgb[i + 1] << 8 | img.rgb[i + 2]);
  return colours.size();
}

TEST(Render, ProducesANonBlankImageAndAReadablePng) {
  auto env = make_env("cartpole-swingup");
  env->reset(0);
  const Image img = env->render(160, 120);
  ASSERT_EQ(img.width, 160);
  ASSERT_EQ(img.height, 120);
  ASSERT_EQ(img.rgb.size(), 160u * 120u * 3u);
  EXPECT_GT(distinct_colours(img), 20u);

  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("lucid_render_test_" + std::to_string(::getpid()) + ".png");
  write_png(path, img);
  // read it back with libpng's simplified API: same size, same pixels
  png_image back{};
  back.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&back, path.c_str())) << back.message;
  back.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> pixels(PNG_IMAGE_SIZE(back));
  ASSERT_TRUE(png_image_finish_read(&back, nullptr, pixels.data(), 0, nullptr)) << back.message;
  EXPECT_EQ(back.width, 160u);
  EXPECT_EQ(back.height, 120u);
  EXPECT_EQ(pixels, img.rgb);
  std::filesystem::remove(path);
}

TEST(Render, FramesFollowTheStateAndLeaveThePhysicsAlone) {
  auto env = make_env("acrobot-swingup");
  env->reset(1);
  const Image a = env->render(64, 64);
  // rendering is pure: the next step equals that of an env that did not render
  auto twin = make_env("acrobot-swingup");
  twin->reset(1);
  const std::vector<float> act{0.5f};
  EXPECT_EQ(env->step(act).obs, twin->step(act).obs);
  for (int t = 0; t < 50; ++t) env->step(act);
  const Image b = env->render(64, 64);
  EXPECT_NE(a.rgb, b.rgb);  // the arm moved
  // a larger frame after a smaller one rebuilds the context
  EXPECT_EQ(env->render(200, 150).rgb.size(), 200u * 150u * 3u);
}

TEST(Render, BadSizesAreRefused) {
  auto env = make_env("pendulum-swingup");
  env->reset(0);
  EXPECT_THROW(env->render(0, 10), EnvError);
}

}  // namespace
}  // namespace lucid::envs
