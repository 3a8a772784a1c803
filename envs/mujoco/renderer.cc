// Renderer: OSMesa context -> mjr_makeContext -> mjv_updateScene -> mjr_render -> mjr_readPixels.
#include "mujoco/renderer.h"

#include <GL/osmesa.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "lucid/error.h"

namespace lucid::envs {

struct Renderer::State {
  OSMesaContext gl = nullptr;
  std::vector<unsigned char> gl_buffer;  // OSMesa's colour buffer, RGBA8
  int width = 0, height = 0;             // size of the OSMesa buffer and MuJoCo's offscreen buffer
  const mjModel* model = nullptr;        // the model whose assets mjr_makeContext uploaded
  mjrContext con;
  mjvScene scene;
  mjvOption option;
  bool has_context = false;
  bool shadows = false;

  State() {
    mjr_defaultContext(&con);
    mjv_defaultScene(&scene);
    mjv_defaultOption(&option);
  }
  ~State() { release(); }

  void release() {
    if (gl != nullptr) OSMesaMakeCurrent(gl, gl_buffer.data(), GL_UNSIGNED_BYTE, width, height);
    if (has_context) {
      mjr_freeContext(&con);
      mjv_freeScene(&scene);
      has_context = false;
    }
    if (gl != nullptr) OSMesaDestroyContext(gl);
    gl = nullptr;
    model = nullptr;
  }

  void make(mjModel* m, int w, int h) {
    // mjr_makeContext loads MuJoCo's global OpenGL function table; serialise context creation.
    static std::mutex make_mutex;
    std::lock_guard<std::mutex> lock(make_mutex);
    release();
    width = std::max(w, m->vis.global.offwidth);
    height = std::max(h, m->vis.global.offheight);
    // MuJoCo sizes its offscreen framebuffer from the model's visual settings.
    m->vis.global.offwidth = width;
    m->vis.global.offheight = height;
    gl = OSMesaCreateContextExt(OSMESA_RGBA, 24, 8, 0, nullptr);
    LUCID_CHECK_AS(gl != nullptr, EnvError) << "OSMesaCreateContextExt failed: no software OpenGL context";
    gl_buffer.assign(static_cast<std::size_t>(width) * height * 4, 0);
    LUCID_CHECK_AS(OSMesaMakeCurrent(gl, gl_buffer.data(), GL_UNSIGNED_BYTE, width, height), EnvError)
        << "OSMesaMakeCurrent failed for " << width << "x" << height;
    mjr_makeContext(m, &con, mjFONTSCALE_100);
    mjv_makeScene(m, &scene, 2000);
    scene.flags[mjRND_SHADOW] = shadows ? 1 : 0;
    scene.flags[mjRND_REFLECTION] = shadows ? 1 : 0;
    has_context = true;
    model = m;
    mjr_setBuffer(mjFB_OFFSCREEN, &con);
    LUCID_CHECK_AS(con.currentBuffer == mjFB_OFFSCREEN, EnvError) << "MuJoCo has no offscreen framebuffer";
  }
};

Renderer::Renderer(bool shadows) : state_(std::make_unique<State>()) { state_->shadows = shadows; }
Renderer::~Renderer() = default;

Image Renderer::render(Physics& physics, int width, int height, int camera) {
  LUCID_CHECK_AS(width > 0 && height > 0, EnvError)
      << "render size must be positive, got " << width << "x" << height;
  mjModel* m = physics.model();
  State& s = *state_;
  if (!s.has_context || s.model != m || width > s.width || height > s.height) {
    s.make(m, width, height);
  } else {
    LUCID_CHECK_AS(OSMesaMakeCurrent(s.gl, s.gl_buffer.data(), GL_UNSIGNED_BYTE, s.width, s.height), EnvError)
        << "OSMesaMakeCurrent failed";
    mjr_setBuffer(mjFB_OFFSCREEN, &s.con);
  }

  mjvCamera cam;
  mjv_defaultCamera(&cam);
  if (camera == -2) camera = m->ncam > 0 ? 0 : -1;
  LUCID_CHECK_AS(camera >= -1 && camera < m->ncam, EnvError) << "camera " << camera << " of " << m->ncam;
  if (camera >= 0) {
    cam.type = mjCAMERA_FIXED;
    cam.fixedcamid = camera;
  } else {
    mjv_defaultFreeCamera(m, &cam);
  }
  mjv_updateScene(m, physics.data(), &s.option, nullptr, &cam, mjCAT_ALL, &s.scene);
  const mjrRect viewport{0, 0, width, height};
  mjr_render(viewport, &s.scene, &s.con);

  Image img;
  img.width = width;
  img.height = height;
  std::vector<unsigned char> bottom_up(static_cast<std::size_t>(width) * height * 3);
  mjr_readPixels(bottom_up.data(), nullptr, viewport, &s.con);
  img.rgb.resize(bottom_up.size());
  const std::size_t row = static_cast<std::size_t>(width) * 3;
  for (int y = 0; y < height; ++y)  // OpenGL's row 0 is the bottom
    std::memcpy(img.rgb.data() + y * row, bottom_up.data() + (height - 1 - y) * row, row);
  return img;
}

}  // namespace lucid::envs
