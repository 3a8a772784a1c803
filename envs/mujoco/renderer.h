// Renderer — offscreen images of a Physics through OSMesa (Mesa's software OpenGL, from Debian)
// and MuJoCo's mjr_* renderer: no display and no GPU needed.
//
// The image shows the model's first camera (dm_control's suite models list their fixed camera
// first), or MuJoCo's default free camera when the model has none. Rows run top to bottom.
// A Renderer owns one OpenGL context sized for the largest image asked so far (it is rebuilt when
// a larger one comes) and makes it current on whichever thread calls render(); one Renderer must
// not be used by two threads at once. Models keep no GPU state, so rendering never changes physics.
// Shadows and reflections are off by default: in Mesa's software rasteriser they make a frame ~4x
// slower (256x256 cartpole: 91 -> 22 ms per frame on the 2-core build host), and neither videos
// nor pixel observations need them.
#pragma once

#include <memory>

#include "lucid/envs/env.h"
#include "mujoco/physics.h"

namespace lucid::envs {

class Renderer {
 public:
  explicit Renderer(bool shadows = false);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // camera: a model camera id, or -1 for the free camera; -2 picks camera 0 when there is one.
  // Throws lucid::EnvError when no OpenGL context can be made or width/height are not positive.
  Image render(Physics& physics, int width, int height, int camera = -2);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lucid::envs
