// bench_kernels: one Google Benchmark per fused kernel, the CPU reference beside the CUDA kernel,
// on TD-MPC2 5M shapes (512-wide layers, 5 Q heads, 101 bins; 512 planning rows, 256 update rows).
//
// Every benchmark reports `bytes` (the minimum traffic the op must move: each input read once,
// each output written once) and `flops` as rate counters, so results read against the roofline.
// The same source builds two binaries:
//   * bench_kernels (emulator build, LUCID_EMU): "<kernel>/cpu" times the CPU op; "<kernel>/emu"
//     runs the emulated kernel once and reports `launches` per call — the emulator's timing is
//     meaningless, the launch count is the GPU-latency proxy.
//   * bench_kernels_cuda (native build): "<kernel>/cpu" as above; "<kernel>/cuda" times the kernel
//     with CUDA events (manual time) and also reports `launches` per call; skipped without a GPU.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hd/philox.h"
#include "lucid/kernels/adam.h"
#include "lucid/kernels/cuda/copy.h"
#include "lucid/kernels/cuda/dream_mpc.h"
#include "lucid/kernels/cuda/elementwise.h"
#include "lucid/kernels/cuda/gemm.h"
#include "lucid/kernels/cuda/gru.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/cuda/loss.h"
#include "lucid/kernels/cuda/mppi.h"
#include "lucid/kernels/cuda/optim.h"
#include "lucid/kernels/cuda/policy.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/cuda/reduce.h"
#include "lucid/kernels/cuda/rollout.h"
#include "lucid/kernels/cuda/runtime.h"
#include "lucid/kernels/cuda/softmax.h"
#include "lucid/kernels/cuda/tdmpc2_update.h"
#include "lucid/kernels/elementwise.h"
#include "lucid/kernels/ema.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/gru.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/loss.h"
#include "lucid/kernels/reduce.h"
#include "lucid/kernels/softmax.h"

namespace lucid {
namespace {

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

bool have_device() {
  int devices = 0;
  const bool ok = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
  if (!ok) cudaGetLastError();
  return ok;
}

// A host array and its device twin (when there is a device), filled with the same random values.
struct Array {
  std::vector<float> host;
  float* dev = nullptr;
  Array(std::size_t n, std::uint64_t seed, float lo = -1.f, float hi = 1.f)
      : host(random_floats(n, seed, lo, hi)) {
    static const bool device = have_device();
    if (!device) return;
    LUCID_CUDA_CHECK(cudaMalloc(&dev, n * sizeof(float)));
    LUCID_CUDA_CHECK(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~Array() { cudaFree(dev); }
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  float* h() { return host.data(); }
  float* d() { return dev; }
};

// One kernel's benchmark pair: the CPU op and the CUDA op on the same data.
struct Case {
  std::string name;
  double bytes = 0, flops = 0;
  std::function<void()> cpu;
  std::function<void(cudaStream_t)> gpu;
};

void set_counters(benchmark::State& state, const Case& c) {
  state.counters["bytes"] =
      benchmark::Counter(c.bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
  state.counters["flops"] = benchmark::Counter(c.flops, benchmark::Counter::kIsIterationInvariantRate);
}

void run_cpu(benchmark::State& state, const std::shared_ptr<Case>& c) {
  for (auto _ : state) c->cpu();
  set_counters(state, *c);
}

#if defined(LUCID_EMU)
void run_gpu(benchmark::State& state, const std::shared_ptr<Case>& c) {
  emu::reset_counters();
  for (auto _ : state) c->gpu(nullptr);
  const emu::Counters n = emu::total_counters();
  state.counters["launches"] =
      static_cast<double>(n.kernel_launches) / static_cast<double>(state.iterations());
}
#else
void run_gpu(benchmark::State& state, const std::shared_ptr<Case>& c) {
  if (!have_device()) {
    state.SkipWithError("no CUDA device");
    for (auto _ : state) {
    }
    return;
  }
  cudaStream_t s;
  cudaEvent_t e0, e1;
  LUCID_CUDA_CHECK(cudaStreamCreate(&s));
  LUCID_CUDA_CHECK(cudaEventCreate(&e0));
  LUCID_CUDA_CHECK(cudaEventCreate(&e1));
  c->gpu(s);  // warm-up: first-launch module loading stays out of the timing
  LUCID_CUDA_CHECK(cudaStreamSynchronize(s));
  for (auto _ : state) {
    LUCID_CUDA_CHECK(cudaEventRecord(e0, s));
    c->gpu(s);
    LUCID_CUDA_CHECK(cudaEventRecord(e1, s));
    LUCID_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0.f;
    LUCID_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    state.SetIterationTime(static_cast<double>(ms) * 1e-3);
  }
  set_counters(state, *c);
  LUCID_CUDA_CHECK(cudaEventDestroy(e0));
  LUCID_CUDA_CHECK(cudaEventDestroy(e1));
  LUCID_CUDA_CHECK(cudaStreamDestroy(s));
}
#endif

// The planners' and the agent update's small kernels (Dream-MPC, MPPI, rollout epilogues, the
// policy squash, the TD-MPC2 update steps) at the 5M model's planning and update shapes. Their
// CPU side is the loop the kernel mirrors, written out here (this binary links only the kernels):
// these kernels are latency, not bandwidth, so what matters on a GPU is their launch count.
void add_planning_and_update_cases(std::vector<std::shared_ptr<Case>>& cases) {
  constexpr int kA = 6, kH = 3, kN = 5, kBins = 101, kPlanRows = 512, kPiRows = 1024, kBatch = 256;
  constexpr float kLo = -10.f, kHi = 2.f;
  auto squash_cpu = [](const float* raw, const float* eps, float* act, int rows) {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < kA; ++j) {
        const float* o = raw + static_cast<std::size_t>(r) * 2 * kA;
        const float ls = kLo + 0.5f * (kHi - kLo) * (std::tanh(o[kA + j]) + 1.f);
        act[r * kA + j] = std::tanh(o[j] + eps[r * kA + j] * std::exp(ls));
      }
  };
  {  // TD-MPC2's policy head epilogue and its backward (Dream-MPC's terminal action), 1024 rows.
    auto raw = std::make_shared<Array>(kPiRows * 2 * kA, 70), eps = std::make_shared<Array>(kPiRows * kA, 71);
    auto act = std::make_shared<Array>(kPiRows * kA, 72), ga = std::make_shared<Array>(kPiRows * kA, 73);
    auto graw = std::make_shared<Array>(kPiRows * 2 * kA, 74),
         bias = std::make_shared<Array>(2 * kA, 69, 0.f, 0.f);
    const double n = static_cast<double>(kPiRows) * kA;
    cases.push_back(std::make_shared<Case>(Case{
        "policy_squash/1024x6", 4 * 4 * n, 10 * n, [=] { squash_cpu(raw->h(), eps->h(), act->h(), kPiRows); },
        [=](cudaStream_t s) {
          kernels::policy_squash_cuda(raw->d(), bias->d(), eps->d(), nullptr, nullptr, act->d(), kPiRows, kA,
                                      kLo, kHi, s);
        }}));
    cases.push_back(std::make_shared<Case>(
        Case{"policy_squash_backward/1024x6", 4 * 7 * n, 14 * n,
             [=] {
               for (int r = 0; r < kPiRows; ++r)
                 for (int j = 0; j < kA; ++j) {
                   const float* o = raw->h() + static_cast<std::size_t>(r) * 2 * kA;
                   const float a = act->host[static_cast<std::size_t>(r * kA + j)];
                   const float du = ga->host[static_cast<std::size_t>(r * kA + j)] * (1.f - a * a);
                   const float th = std::tanh(o[kA + j]);
                   const float ls = kLo + 0.5f * (kHi - kLo) * (th + 1.f);
                   graw->host[static_cast<std::size_t>(r) * 2 * kA + j] = du;
                   graw->host[static_cast<std::size_t>(r) * 2 * kA + kA + j] =
                       du * eps->host[static_cast<std::size_t>(r * kA + j)] * std::exp(ls) * 0.5f *
                       (kHi - kLo) * (1.f - th * th);
                 }
             },
             [=](cudaStream_t s) {
               kernels::policy_squash_backward_cuda(raw->d(), bias->d(), eps->d(), act->d(), ga->d(), nullptr,
                                                    graw->d(), kPiRows, kA, kLo, kHi, s);
             }}));
  }
  {  // The uncertainty penalty over 5 heads x (H + 1) x 512 rows, and one head's scaled decode backward.
    constexpr int kHeads = 5, kEntries = (kH + 1) * kPlanRows;
    auto vals = std::make_shared<Array>(kHeads * kEntries, 75, -5.f, 5.f),
         value = std::make_shared<Array>(kPlanRows, 76);
    cases.push_back(std::make_shared<Case>(Case{
        "ensemble_uncertainty/5x4x512", 4.0 * kHeads * kEntries, 4.0 * kHeads * kEntries,
        [=] {
          for (int i = 0; i < kEntries; ++i) {
            float mean = 0.f, var = 0.f;
            for (int k = 0; k < kHeads; ++k) mean += vals->host[static_cast<std::size_t>(k * kEntries + i)];
            mean /= kHeads;
            for (int k = 0; k < kHeads; ++k) {
              const float d = vals->host[static_cast<std::size_t>(k * kEntries + i)] - mean;
              var += d * d;
            }
            value->host[static_cast<std::size_t>(i % kPlanRows)] -=
                0.01f * mean * std::sqrt(var / (kHeads - 1));
          }
        },
        [=](cudaStream_t s) {
          kernels::ensemble_uncertainty_cuda(vals->d(), kHeads, kEntries, kPlanRows, 0.01f, value->d(), s);
        }}));
    auto logits = std::make_shared<Array>(768 * kBins, 77, -2.f, 2.f),
         g = std::make_shared<Array>(768 * kBins, 78);
    auto w = std::make_shared<Array>(1, 79, 0.5f, 0.5f);
    const double n = 768.0 * kBins;
    cases.push_back(std::make_shared<Case>(
        Case{"q_head_decode_scaled_backward/768x101", 8 * n, 8 * n,
             [=] {
               std::vector<float> p(kBins);
               for (int r = 0; r < 768; ++r) {
                 const float* l = logits->h() + static_cast<std::size_t>(r) * kBins;
                 kernels::softmax_forward_cpu(l, p.data(), 1, kBins, false);
                 float m = 0.f;
                 for (int k = 0; k < kBins; ++k) m += p[k] * (-10.f + 0.2f * k);
                 const float gm = 0.97f * 0.5f * std::exp(std::fabs(m));
                 for (int k = 0; k < kBins; ++k)
                   g->host[static_cast<std::size_t>(r) * kBins + k] = gm * p[k] * (-10.f + 0.2f * k - m);
               }
             },
             [=](cudaStream_t s) {
               kernels::q_head_decode_scaled_backward_cuda(logits->d(), nullptr, w->d(), 0.97f, g->d(), 768,
                                                           kBins, -10.f, 10.f, s);
             }}));
  }
  {  // Dream-MPC's steps between model launches: warm start, clip + ascent, selection (H 3, N 5, A 6).
    constexpr int kCand = kH * kN * kA;
    auto prior = std::make_shared<Array>(kCand, 80), stored = std::make_shared<Array>(kCand, 81);
    auto act = std::make_shared<Array>(kCand, 82), grad = std::make_shared<Array>(kCand, 83, -50.f, 50.f);
    auto value = std::make_shared<Array>(kN, 84), out = std::make_shared<Array>(kA, 85);
    cases.push_back(std::make_shared<Case>(
        Case{"dream_mpc_steps/3x5x6", 4.0 * 8 * kCand, 6.0 * kCand,
             [=] {
               constexpr int kStep = kN * kA;
               for (int i = 0; i < kCand; ++i)
                 act->host[i] = 0.1f * stored->host[std::min(i / kStep + 1, kH - 1) * kStep + i % kStep] +
                                0.9f * prior->host[i];
               double sq = 0.0;
               for (float x : grad->host) sq += static_cast<double>(x) * x;
               const double coef = std::min(1.0, 20.0 / (std::sqrt(sq) + 1e-6));
               for (int i = 0; i < kCand; ++i)
                 act->host[i] += 0.1f * static_cast<float>(grad->host[i] * coef);
               const int best = static_cast<int>(std::max_element(value->host.begin(), value->host.end()) -
                                                 value->host.begin());
               for (int j = 0; j < kA; ++j) out->host[j] = std::clamp(act->host[best * kA + j], -1.f, 1.f);
               for (int i = 0; i < kCand; ++i) stored->host[i] = std::clamp(act->host[i], -1.f, 1.f);
             },
             [=](cudaStream_t s) {
               kernels::dream_warm_start_cuda(prior->d(), stored->d(), act->d(), nullptr, kH, kN, kA, 0.1f,
                                              true, s);
               kernels::dream_clip_ascend_cuda(grad->d(), act->d(), kH, 1, kN, kA, 20.f, 0.1f, s);
               kernels::dream_select_cuda(value->d(), act->d(), out->d(), stored->d(), kH, 1, kN, kA, s);
             }}));
  }
  {  // MPPI's per-iteration steps: 488 Gaussian samples of (H 3, A 6), and the 64-elite refit of 512.
    constexpr int kS = 512, kP = 24, kK = 64;
    auto mean = std::make_shared<Array>(kH * kA, 86), sd = std::make_shared<Array>(kH * kA, 87, 0.1f, 2.f);
    auto noise = std::make_shared<Array>((kS - kP) * kH * kA, 88),
         act = std::make_shared<Array>(kH * kS * kA, 89);
    auto value = std::make_shared<Array>(kS, 90, -100.f, 100.f), elite = std::make_shared<Array>(kK, 91);
    auto score = std::make_shared<Array>(kK, 92), elite_mean = std::make_shared<Array>(1, 93);
    const double n = static_cast<double>(kS - kP) * kH * kA;
    cases.push_back(std::make_shared<Case>(Case{
        "mppi_sample_actions/488x3x6", 8 * n, 3 * n,
        [=] {
          std::size_t k = 0;
          for (int t = 0; t < kH; ++t)
            for (int r = kP; r < kS; ++r)
              for (int j = 0; j < kA; ++j, ++k)
                act->host[(static_cast<std::size_t>(t) * kS + r) * kA + j] =
                    std::clamp(mean->host[t * kA + j] + sd->host[t * kA + j] * noise->host[k], -1.f, 1.f);
        },
        [=](cudaStream_t s) {
          kernels::mppi_sample_actions_cuda(mean->d(), sd->d(), noise->d(), act->d(), 1, kS, kP, kH, kA, kS,
                                            s);
        }}));
    cases.push_back(std::make_shared<Case>(Case{
        "mppi_elite_refit/512x64x3x6", 4.0 * (kS + 2 * kK * kH * kA), 6.0 * kK * kH * kA,
        [=] {
          std::vector<int> idx(kS);
          for (int i = 0; i < kS; ++i) idx[i] = i;
          std::partial_sort(idx.begin(), idx.begin() + kK, idx.end(),
                            [&](int a, int b) { return value->host[a] > value->host[b]; });
          const float vmax = value->host[idx[0]];
          float z = 0.f;
          for (int e = 0; e < kK; ++e) z += score->host[e] = std::exp(0.5f * (value->host[idx[e]] - vmax));
          for (int i = 0; i < kH * kA; ++i) {
            float m = 0.f, v = 0.f;
            for (int e = 0; e < kK; ++e)
              m += score->host[e] / z *
                   act->host[static_cast<std::size_t>(i / kA * kS + idx[e]) * kA + i % kA];
            for (int e = 0; e < kK; ++e) {
              const float d = act->host[static_cast<std::size_t>(i / kA * kS + idx[e]) * kA + i % kA] - m;
              v += score->host[e] / z * d * d;
            }
            mean->host[i] = m;
            sd->host[i] = std::clamp(std::sqrt(v), 0.05f, 2.f);
          }
        },
        [=](cudaStream_t s) {
          kernels::mppi_elite_refit_cuda(value->d(), act->d(), mean->d(), sd->d(), elite->d(), score->d(),
                                         elite_mean->d(), 1, kS, kK, kH, kA, kS, 0.5f, 0.05f, 2.f, s);
        }}));
  }
  {  // TD-MPC2 update steps: consistency rows (256 x 512), the running scale (256 values), the
     // policy-loss rows and output gradient (1024 x 6).
    constexpr int kL = 512;
    auto z = std::make_shared<Array>(kBatch * kL, 94), target = std::make_shared<Array>(kBatch * kL, 95);
    auto dz = std::make_shared<Array>(kBatch * kL, 96), se = std::make_shared<Array>(2 * kBatch, 97);
    const double n = static_cast<double>(kBatch) * kL;
    cases.push_back(std::make_shared<Case>(
        Case{"consistency_rows/256x512", 16 * n, 4 * n,
             [=] {
               for (int r = 0; r < kBatch; ++r) {
                 double acc = 0.0;
                 for (int j = 0; j < kL; ++j) {
                   const std::size_t i = static_cast<std::size_t>(r) * kL + j;
                   const float d = z->host[i] - target->host[i];
                   acc += static_cast<double>(d) * d;
                   dz->host[i] += 0.01f * d;
                 }
                 se->host[static_cast<std::size_t>(r)] = static_cast<float>(acc);
               }
             },
             [=](cudaStream_t s) {
               kernels::consistency_rows_cuda(z->d(), target->d(), kBatch, kL, 0.01f, dz->d(),
                                              reinterpret_cast<double*>(se->d()), s);
             }}));
    auto q = std::make_shared<Array>(kBatch, 98, -50.f, 50.f),
         scale = std::make_shared<Array>(1, 99, 1.f, 1.f);
    cases.push_back(std::make_shared<Case>(
        Case{"running_scale/256", 4.0 * kBatch, 8.0 * kBatch,
             [=] {
               std::vector<float> v = q->host;
               std::sort(v.begin(), v.end());
               auto pct = [&](float p) {
                 const float pos = p * (kBatch - 1) / 100.f;
                 const int lo = static_cast<int>(pos);
                 return v[lo] * (1.f - (pos - lo)) + v[std::min(lo + 1, kBatch - 1)] * (pos - lo);
               };
               scale->host[0] += 0.01f * (std::max(pct(95.f) - pct(5.f), 1.f) - scale->host[0]);
             },
             [=](cudaStream_t s) { kernels::running_scale_cuda(q->d(), kBatch, 0.01f, scale->d(), s); }}));
    auto out = std::make_shared<Array>(kPiRows * 2 * kA, 100),
         eps = std::make_shared<Array>(kPiRows * kA, 101);
    auto act = std::make_shared<Array>(kPiRows * kA, 102), qs = std::make_shared<Array>(kPiRows, 103);
    auto rl = std::make_shared<Array>(kPiRows, 104), re = std::make_shared<Array>(kPiRows, 105);
    auto gq = std::make_shared<Array>(kPiRows, 106), da = std::make_shared<Array>(kPiRows * kA, 107);
    auto stash = std::make_shared<Array>(kPiRows * 2 * kA, 108),
         dout = std::make_shared<Array>(kPiRows * 2 * kA, 109);
    const double m = static_cast<double>(kPiRows) * kA;
    cases.push_back(std::make_shared<Case>(
        Case{"pi_loss_rows_and_grad/1024x6", 4 * 12 * m, 40 * m,
             [=] {  // the same per-row math, serial: actions, loss terms, then the output gradient
               squash_cpu(out->h(), eps->h(), act->h(), kPiRows);
               for (int r = 0; r < kPiRows; ++r) {
                 float lp = 0.f;
                 for (int j = 0; j < kA; ++j) {
                   const float a = act->host[static_cast<std::size_t>(r * kA + j)];
                   lp += -0.5f * eps->host[static_cast<std::size_t>(r * kA + j)] *
                             eps->host[static_cast<std::size_t>(r * kA + j)] -
                         std::log(std::max(1.f - a * a, 0.f) + 1e-6f);
                 }
                 rl->host[static_cast<std::size_t>(r)] = -1e-4f * lp - qs->host[static_cast<std::size_t>(r)];
                 for (int j = 0; j < kA; ++j) {
                   const std::size_t i = static_cast<std::size_t>(r * kA + j);
                   const float a = act->host[i];
                   dout->host[static_cast<std::size_t>(r) * 2 * kA + j] = da->host[i] * (1.f - a * a);
                   dout->host[static_cast<std::size_t>(r) * 2 * kA + kA + j] = da->host[i] * a;
                 }
               }
             },
             [=](cudaStream_t s) {
               kernels::pi_actions_cuda(out->d(), eps->d(), kPiRows, kA, kLo, kHi, act->d(), s);
               kernels::pi_loss_rows_cuda(out->d(), eps->d(), act->d(), qs->d(), scale->d(),
                                          kPiRows / kBatch - 1, kBatch, kA, 0.5f, 1e-4f, kLo, kHi, rl->d(),
                                          re->d(), gq->d(), da->d(), stash->d(), s);
               kernels::pi_out_grad_cuda(out->d(), act->d(), da->d(), stash->d(), kPiRows, kA, kLo, kHi,
                                         dout->d(), s);
             }}));
  }
}

// The backward halves (and the GRU's LayerNorm form) of the fused kernels, beside their CPU ops:
// what a training step runs on the device (the Q heads' ensemble LayerNorm, SimNorm, the decode,
// the GRU cells of the RSSM) and the gradient clip over a 5M arena.
void add_backward_cases(std::vector<std::shared_ptr<Case>>& cases) {
  constexpr std::int64_t kRows = 512, kCols = 512, kHidden = 200, kHeads = 5, kBins = 101, kUpdate = 256;
  {  // GRU cells, 512 rows x 200 units: torch form backward, LayerNorm form forward and backward.
    const std::int64_t n = kRows * kHidden;
    auto gi = std::make_shared<Array>(3 * n, 120), gh = std::make_shared<Array>(3 * n, 121);
    auto h = std::make_shared<Array>(n, 122), g_new = std::make_shared<Array>(n, 123);
    auto g_gi = std::make_shared<Array>(3 * n, 124), g_gh = std::make_shared<Array>(3 * n, 125);
    auto g_h = std::make_shared<Array>(n, 126), h_new = std::make_shared<Array>(n, 127);
    const double d = static_cast<double>(n);
    cases.push_back(std::make_shared<Case>(
        Case{"gru_torch_backward/512x200", 4 * 12 * d, 40 * d,
             [=] {
               kernels::gru_torch_backward_cpu(gi->h(), gh->h(), h->h(), g_new->h(), g_gi->h(), g_gh->h(),
                                               g_h->h(), kRows, kHidden);
             },
             [=](cudaStream_t s) {
               kernels::gru_torch_backward_cuda(gi->d(), gh->d(), h->d(), g_new->d(), g_gi->d(), g_gh->d(),
                                                g_h->d(), kRows, kHidden, s);
             }}));
    cases.push_back(std::make_shared<Case>(
        Case{"gru_ln_forward/512x200", 4 * 5 * d, 20 * d,
             [=] { kernels::gru_ln_forward_cpu(gi->h(), h->h(), h_new->h(), kRows, kHidden); },
             [=](cudaStream_t s) {
               kernels::gru_ln_forward_cuda(gi->d(), h->d(), h_new->d(), kRows, kHidden, s);
             }}));
    cases.push_back(std::make_shared<Case>(Case{
        "gru_ln_backward/512x200", 4 * 9 * d, 30 * d,
        [=] {
          kernels::gru_ln_backward_cpu(gi->h(), h->h(), g_new->h(), g_gi->h(), g_h->h(), kRows, kHidden);
        },
        [=](cudaStream_t s) {
          kernels::gru_ln_backward_cuda(gi->d(), h->d(), g_new->d(), g_gi->d(), g_h->d(), kRows, kHidden, s);
        }}));
  }
  {  // The Q ensemble's hidden-layer backward: 5 heads x 256 rows x 512, bias fused, Mish; all three
     // parameter gradients accumulated. CPU: the bias added, then the plain LayerNorm backward per head.
    const std::int64_t n = kHeads * kUpdate * kCols;
    auto x = std::make_shared<Array>(n, 130), bias = std::make_shared<Array>(kHeads * kCols, 131);
    auto gamma = std::make_shared<Array>(kHeads * kCols, 132, 0.5f, 1.5f),
         beta = std::make_shared<Array>(kHeads * kCols, 133);
    auto mean = std::make_shared<Array>(kHeads * kUpdate, 134),
         rstd = std::make_shared<Array>(kHeads * kUpdate, 135, 0.5f, 2.f);
    auto gy = std::make_shared<Array>(n, 136), gx = std::make_shared<Array>(n, 137),
         xb = std::make_shared<Array>(n, 138);
    auto db = std::make_shared<Array>(kHeads * kCols, 139), dg = std::make_shared<Array>(kHeads * kCols, 140),
         dbeta = std::make_shared<Array>(kHeads * kCols, 141);
    const double d = static_cast<double>(n);
    cases.push_back(std::make_shared<Case>(Case{
        "ensemble_layernorm_mish_backward/5x256x512", 4 * 3 * d, 40 * d,
        [=] {
          for (std::int64_t i = 0; i < n; ++i)
            xb->host[static_cast<std::size_t>(i)] =
                x->host[static_cast<std::size_t>(i)] +
                bias->host[static_cast<std::size_t>((i / (kUpdate * kCols)) * kCols + i % kCols)];
          for (std::int64_t e = 0; e < kHeads; ++e) {
            const std::size_t o = static_cast<std::size_t>(e * kUpdate * kCols),
                              c = static_cast<std::size_t>(e * kCols);
            kernels::layernorm_backward_cpu(xb->h() + o, gamma->h() + c, beta->h() + c,
                                            mean->h() + e * kUpdate, rstd->h() + e * kUpdate, gy->h() + o,
                                            gx->h() + o, dg->h() + c, dbeta->h() + c, kUpdate, kCols, true);
            kernels::reduce_leading_sum_cpu(gx->h() + o, db->h() + c, kUpdate, kCols);
          }
        },
        [=](cudaStream_t s) {
          kernels::ensemble_layernorm_backward_cuda(x->d(), bias->d(), gamma->d(), beta->d(), mean->d(),
                                                    rstd->d(), gy->d(), gx->d(), db->d(), dg->d(), dbeta->d(),
                                                    kHeads, kUpdate, kCols, true, s);
        }}));
  }
  {  // SimNorm backward (the latent's groups of 8), 512 x 512.
    const std::int64_t n = kRows * kCols;
    auto y = std::make_shared<Array>(n, 142, 0.f, 0.25f), gy = std::make_shared<Array>(n, 143),
         gx = std::make_shared<Array>(n, 144);
    cases.push_back(std::make_shared<Case>(
        Case{"simnorm_backward/512x512g8", 12.0 * n, 4.0 * n,
             [=] { kernels::softmax_backward_cpu(y->h(), gy->h(), gx->h(), n / 8, 8, false); },
             [=](cudaStream_t s) {
               kernels::simnorm_backward_cuda(y->d(), gy->d(), gx->d(), kRows, kCols, 8, s);
             }}));
  }
  {  // The decode backward of the Q ensemble (average of two heads, 5 x 768 x 101): the policy loss.
    constexpr std::int64_t kQRows = 768;
    const std::int64_t n = kHeads * kQRows * kBins;
    auto logits = std::make_shared<Array>(n, 145, -2.f, 2.f), g_out = std::make_shared<Array>(kQRows, 146);
    auto g = std::make_shared<Array>(n, 147);
    cases.push_back(std::make_shared<Case>(
        Case{"q_head_decode_backward_avg2/5x768x101", 4.0 * (2 * n), 10.0 * 2 * kQRows * kBins,
             [=] {
               std::vector<float> p(kBins);
               std::fill(g->host.begin(), g->host.end(), 0.f);
               for (int head : {1, 3})
                 for (std::int64_t r = 0; r < kQRows; ++r) {
                   const std::size_t o = static_cast<std::size_t>((head * kQRows + r) * kBins);
                   kernels::softmax_forward_cpu(logits->h() + o, p.data(), 1, kBins, false);
                   float m = 0.f;
                   for (int k = 0; k < kBins; ++k) m += p[static_cast<std::size_t>(k)] * (-10.f + 0.2f * k);
                   const float gm = 0.5f * g_out->host[static_cast<std::size_t>(r)] * std::exp(std::fabs(m));
                   for (int k = 0; k < kBins; ++k)
                     g->host[o + static_cast<std::size_t>(k)] =
                         gm * p[static_cast<std::size_t>(k)] * (-10.f + 0.2f * k - m);
                 }
             },
             [=](cudaStream_t s) {
               kernels::q_head_decode_backward_cuda(logits->d(), nullptr, g_out->d(), g->d(), kHeads, kQRows,
                                                    kBins, -10.f, 10.f, 1, 3, kernels::QCombine::kAvg, s);
             }}));
  }
  {  // Global-norm clip over a 5M gradient arena: the sum of squares and the device-side scale.
    const std::size_t n = 5'000'000;
    auto g = std::make_shared<Array>(n, 148), scratch = std::make_shared<Array>(4, 149);
    cases.push_back(
        std::make_shared<Case>(Case{"clip_grad_norm/5M", 12.0 * n, 3.0 * n,
                                    [=] {
                                      const double sq = kernels::sumsq_cpu(g->h(), n);
                                      const float coef = 20.f / (static_cast<float>(std::sqrt(sq)) + 1e-6f);
                                      if (coef < 1.f) kernels::scale_cpu(g->h(), n, coef);
                                    },
                                    [=](cudaStream_t s) {
                                      auto* sq = reinterpret_cast<double*>(scratch->d());
                                      kernels::sumsq_cuda(g->d(), n, sq, s);
                                      kernels::clip_by_norm_cuda(g->d(), n, sq, 20.f, scratch->d() + 2, s);
                                    }}));
  }
}

std::vector<std::shared_ptr<Case>> make_cases() {
  std::vector<std::shared_ptr<Case>> cases;
  constexpr std::int64_t kRows = 512, kCols = 512, kUpdateRows = 256, kHeads = 5, kBins = 101;
  constexpr float kVmin = -10.f, kVmax = 10.f;

  {  // NormedLinear tail: LayerNorm + Mish, forward and backward, 512 x 512.
    auto x = std::make_shared<Array>(kRows * kCols, 1), y = std::make_shared<Array>(kRows * kCols, 2);
    auto g = std::make_shared<Array>(kCols, 3, 0.5f, 1.5f), b = std::make_shared<Array>(kCols, 4);
    auto mean = std::make_shared<Array>(kRows, 5), rstd = std::make_shared<Array>(kRows, 6);
    auto gy = std::make_shared<Array>(kRows * kCols, 7), gx = std::make_shared<Array>(kRows * kCols, 8);
    auto dg = std::make_shared<Array>(kCols, 9), db = std::make_shared<Array>(kCols, 10);
    const double n = kRows * kCols;
    cases.push_back(std::make_shared<Case>(
        Case{"layernorm_mish_forward/512x512", 8 * n, 25 * n,
             [=] {
               kernels::layernorm_forward_cpu(x->h(), g->h(), b->h(), y->h(), mean->h(), rstd->h(), kRows,
                                              kCols, 1e-5f, true);
             },
             [=](cudaStream_t s) {
               kernels::layernorm_forward_cuda(x->d(), g->d(), b->d(), y->d(), mean->d(), rstd->d(), kRows,
                                               kCols, 1e-5f, true, s);
             }}));
    cases.push_back(std::make_shared<Case>(
        Case{"layernorm_mish_backward/512x512", 12 * n, 40 * n,
             [=] {
               kernels::layernorm_backward_cpu(x->h(), g->h(), b->h(), mean->h(), rstd->h(), gy->h(), gx->h(),
                                               dg->h(), db->h(), kRows, kCols, true);
             },
             [=](cudaStream_t s) {
               kernels::layernorm_backward_cuda(x->d(), g->d(), b->d(), mean->d(), rstd->d(), gy->d(),
                                                gx->d(), dg->d(), db->d(), kRows, kCols, true, s);
             }}));
  }
  {  // The MLP layer's backward tail on the update's Q shape (768 rows x 512): the LayerNorm + Mish
     // backward, the dropout mask and the bias's column sums as three passes (how models/tdmpc2/mlp.cc
     // ran them before) against layernorm_backward_linear_cpu's one. CPU only.
    constexpr std::int64_t kUpdateQRows = 768;
    const std::int64_t n = kUpdateQRows * kCols;
    auto x = std::make_shared<Array>(n, 41), gy = std::make_shared<Array>(n, 42),
         gx = std::make_shared<Array>(n, 43);
    auto mask = std::make_shared<Array>(n, 44, 0.f, 1.f);
    for (std::int64_t i = 0; i < n; ++i) mask->h()[i] = mask->h()[i] < 0.01f ? 0.f : 1.f / 0.99f;
    auto g = std::make_shared<Array>(kCols, 45, 0.5f, 1.5f), b = std::make_shared<Array>(kCols, 46);
    auto mean = std::make_shared<Array>(kUpdateQRows, 47), rstd = std::make_shared<Array>(kUpdateQRows, 48);
    kernels::layernorm_forward_cpu(x->h(), g->h(), b->h(), gx->h(), mean->h(), rstd->h(), kUpdateQRows, kCols,
                                   1e-5f, true);
    auto dg = std::make_shared<Array>(kCols, 49), db = std::make_shared<Array>(kCols, 50);
    auto dbias = std::make_shared<Array>(kCols, 51);
    const double bytes = 4.0 * (4 * n);  // x, gy, mask read; gx written
    cases.push_back(std::make_shared<Case>(
        Case{"mlp_layer_backward_three_passes/768x512", bytes, 42.0 * n,
             [=] {
               kernels::layernorm_backward_cpu(x->h(), g->h(), b->h(), mean->h(), rstd->h(), gy->h(), gx->h(),
                                               dg->h(), db->h(), kUpdateQRows, kCols, true);
               float* d = gx->h();
               const float* m = mask->h();
#pragma omp parallel for simd schedule(static)
               for (std::int64_t i = 0; i < n; ++i) d[i] *= m[i];
               float* bias = dbias->h();
#pragma omp parallel for schedule(static)
               for (std::int64_t j0 = 0; j0 < kCols; j0 += 64)
                 for (std::int64_t r = 0; r < kUpdateQRows; ++r)
                   for (std::int64_t j = j0; j < std::min(kCols, j0 + 64); ++j) bias[j] += d[r * kCols + j];
             },
             nullptr}));
    cases.push_back(std::make_shared<Case>(Case{"mlp_layer_backward_one_pass/768x512", bytes, 42.0 * n,
                                                [=] {
                                                  kernels::layernorm_backward_linear_cpu(
                                                      x->h(), g->h(), b->h(), mean->h(), rstd->h(), gy->h(),
                                                      gx->h(), mask->h(), dg->h(), db->h(), dbias->h(),
                                                      kUpdateQRows, kCols, true);
                                                },
                                                nullptr}));
  }
  {  // Q-ensemble hidden epilogue: 5 members x 512 rows x 512, bias + LN + Mish in one launch.
    const std::int64_t n = kHeads * kRows * kCols;
    auto x = std::make_shared<Array>(n, 11), y = std::make_shared<Array>(n, 12);
    auto bias = std::make_shared<Array>(kHeads * kCols, 13), g = std::make_shared<Array>(kHeads * kCols, 14);
    auto b = std::make_shared<Array>(kHeads * kCols, 15);
    auto mean = std::make_shared<Array>(kHeads * kRows, 16),
         rstd = std::make_shared<Array>(kHeads * kRows, 17);
    cases.push_back(std::make_shared<Case>(Case{
        "ensemble_bias_layernorm_mish_forward/5x512x512", 8.0 * n, 26.0 * n,
        [=] {
          for (std::int64_t e = 0; e < kHeads; ++e)
            kernels::layernorm_forward_cpu(x->h() + e * kRows * kCols, g->h() + e * kCols, b->h() + e * kCols,
                                           y->h() + e * kRows * kCols, mean->h() + e * kRows,
                                           rstd->h() + e * kRows, kRows, kCols, 1e-5f, true);
        },
        [=](cudaStream_t s) {
          kernels::ensemble_layernorm_forward_cuda(x->d(), bias->d(), g->d(), b->d(), y->d(), mean->d(),
                                                   rstd->d(), kHeads, kRows, kCols, 1e-5f, true, s);
        }}));
  }
  {  // SimNorm over the 512-wide latent, groups of 8.
    auto x = std::make_shared<Array>(kRows * kCols, 20), y = std::make_shared<Array>(kRows * kCols, 21);
    const double n = kRows * kCols;
    cases.push_back(std::make_shared<Case>(
        Case{"simnorm_forward/512x512g8", 8 * n, 5 * n,
             [=] { kernels::softmax_forward_cpu(x->h(), y->h(), kRows * kCols / 8, 8, false); },
             [=](cudaStream_t s) { kernels::simnorm_forward_cuda(x->d(), y->d(), kRows, kCols, 8, s); }}));
  }
  {  // Two-hot soft cross-entropy (reward / Q losses), forward + backward, 256 rows x 101 bins.
    auto logits = std::make_shared<Array>(kUpdateRows * kBins, 30),
         target = std::make_shared<Array>(kUpdateRows, 31, -50.f, 50.f);
    auto loss = std::make_shared<Array>(kUpdateRows, 32), lse = std::make_shared<Array>(kUpdateRows, 33);
    auto gloss = std::make_shared<Array>(kUpdateRows, 34),
         gl = std::make_shared<Array>(kUpdateRows * kBins, 35);
    const double n = kUpdateRows * kBins;
    cases.push_back(std::make_shared<Case>(
        Case{"soft_ce_forward_backward/256x101", 12 * n, 12 * n,
             [=] {
               kernels::soft_ce_forward_cpu(logits->h(), target->h(), loss->h(), lse->h(), kUpdateRows, kBins,
                                            kVmin, kVmax);
               kernels::soft_ce_backward_cpu(logits->h(), target->h(), lse->h(), gloss->h(), gl->h(),
                                             kUpdateRows, kBins, kVmin, kVmax);
             },
             [=](cudaStream_t s) {
               kernels::soft_ce_forward_cuda(logits->d(), target->d(), loss->d(), lse->d(), kUpdateRows,
                                             kBins, kVmin, kVmax, s);
               kernels::soft_ce_backward_cuda(logits->d(), target->d(), lse->d(), gloss->d(), gl->d(),
                                              kUpdateRows, kBins, kVmin, kVmax, s);
             }}));
  }
  {  // Q output epilogue for planning: decode 2 of 5 heads, average; 512 rows.
    auto logits = std::make_shared<Array>(kHeads * kRows * kBins, 40),
         out = std::make_shared<Array>(kRows, 41);
    auto bias = std::make_shared<Array>(kHeads * kBins, 42),
         prob = std::make_shared<Array>(kRows * kBins, 43);
    const double n = 2.0 * kRows * kBins;
    cases.push_back(std::make_shared<Case>(
        Case{"q_head_decode_avg2/5x512x101", 4 * n, 6 * n,
             [=] {  // unfused CPU composition: softmax of each chosen head, expectation, symexp, mean
               std::vector<float> z(static_cast<std::size_t>(kRows * kBins));
               for (int head : {1, 3}) {
                 for (std::int64_t i = 0; i < kRows * kBins; ++i)
                   z[static_cast<std::size_t>(i)] =
                       logits->host[static_cast<std::size_t>(head * kRows * kBins + i)] +
                       bias->host[static_cast<std::size_t>(head * kBins + i % kBins)];
                 kernels::softmax_forward_cpu(z.data(), prob->h(), kRows, kBins, false);
                 for (std::int64_t r = 0; r < kRows; ++r) {
                   float m = 0.f;
                   for (std::int64_t k = 0; k < kBins; ++k)
                     m += prob->host[static_cast<std::size_t>(r * kBins + k)] * (kVmin + 0.2f * k);
                   const float v = std::copysign(std::expm1(std::fabs(m)), m);
                   out->host[static_cast<std::size_t>(r)] =
                       head == 1 ? 0.5f * v : out->host[static_cast<std::size_t>(r)] + 0.5f * v;
                 }
               }
             },
             [=](cudaStream_t s) {
               kernels::q_head_decode_forward_cuda(logits->d(), bias->d(), nullptr, out->d(), kHeads, kRows,
                                                   kBins, kVmin, kVmax, 1, 3, kernels::QCombine::kAvg, s);
             }}));
  }
  {  // Adam over a 5M-parameter arena (TD-MPC2 5M), one launch; and the Q-target EMA.
    const std::size_t n = 5'000'000;
    auto p = std::make_shared<Array>(n, 50), g = std::make_shared<Array>(n, 51);
    auto m = std::make_shared<Array>(n, 52, -0.01f, 0.01f), v = std::make_shared<Array>(n, 53, 0.f, 1e-4f);
    kernels::AdamGroups groups;
    groups.count = 2;  // encoder at 0.3 x lr, the rest at lr
    groups.offset[0] = 0, groups.size[0] = 400'000, groups.lr[0] = 0.3f * 3e-4f;
    groups.offset[1] = 400'000, groups.size[1] = n - 400'000, groups.lr[1] = 3e-4f;
    cases.push_back(std::make_shared<Case>(
        Case{"adam_arena_step/5M", 28.0 * n, 12.0 * n,
             [=] {
               kernels::adam_step_cpu(p->h(), g->h(), m->h(), v->h(), 400'000, 0.3f * 3e-4f, 0.9f, 0.999f,
                                      1e-8f, 0.1f, 0.001f);
               kernels::adam_step_cpu(p->h() + 400'000, g->h() + 400'000, m->h() + 400'000, v->h() + 400'000,
                                      n - 400'000, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.001f);
             },
             [=](cudaStream_t s) {
               kernels::adam_arena_step_cuda(p->d(), g->d(), m->d(), v->d(), groups, 0.9f, 0.999f, 1e-8f,
                                             0.1f, 0.001f, s);
             }}));
    cases.push_back(std::make_shared<Case>(
        Case{"ema_lerp/5M", 12.0 * n, 3.0 * n, [=] { kernels::ema_lerp_cpu(m->h(), p->h(), n, 0.01f); },
             [=](cudaStream_t s) { kernels::ema_lerp_cuda(m->d(), p->d(), n, 0.01f, s); }}));
  }
  {  // Dropout on the first Q layer's activations (p = 0.01), mask-free.
    const std::size_t n = kHeads * kRows * kCols;
    auto x = std::make_shared<Array>(n, 60), y = std::make_shared<Array>(n, 61),
         u = std::make_shared<Array>(n, 62);
    cases.push_back(std::make_shared<Case>(
        Case{"dropout_forward/5x512x512", 8.0 * n, 40.0 * n,
             [=] {  // CPU: the Rng's uniform draws (same Philox) then the select
               for (std::size_t b = 0; b < (n + 3) / 4; ++b) {
                 const hd::Philox4x32 r = hd::philox_block(7, 0, b);
                 for (std::size_t j = 0; j < 4 && 4 * b + j < n; ++j)
                   u->host[4 * b + j] = hd::philox_uniform(r.v[j]);
               }
               for (std::size_t i = 0; i < n; ++i)
                 y->host[i] = u->host[i] >= 0.01f ? x->host[i] / 0.99f : 0.f;
             },
             [=](cudaStream_t s) {
               kernels::dropout_forward_cuda(x->d(), y->d(), nullptr, n, 0.01f, 7, 0, 0, s);
             }}));
  }
  {  // GRU cell gates (Dreamer-sized: 200 units), 512 rows, forward.
    const std::int64_t hidden = 200;
    auto gi = std::make_shared<Array>(kRows * 3 * hidden, 70),
         gh = std::make_shared<Array>(kRows * 3 * hidden, 71);
    auto h = std::make_shared<Array>(kRows * hidden, 72), hn = std::make_shared<Array>(kRows * hidden, 73);
    const double n = kRows * hidden;
    cases.push_back(std::make_shared<Case>(
        Case{"gru_torch_forward/512x200", 32 * n, 30 * n,
             [=] { kernels::gru_torch_forward_cpu(gi->h(), gh->h(), h->h(), hn->h(), kRows, hidden); },
             [=](cudaStream_t s) {
               kernels::gru_torch_forward_cuda(gi->d(), gh->d(), h->d(), hn->d(), kRows, hidden, s);
             }}));
  }
  {  // Row max with arg (MPPI elite selection style) and the leading-dim sum (bias gradients).
    auto x = std::make_shared<Array>(kRows * kCols, 80), out = std::make_shared<Array>(kRows, 81);
    auto col = std::make_shared<Array>(kCols, 82);
    const double n = kRows * kCols;
    cases.push_back(std::make_shared<Case>(Case{
        "reduce_last_max/512x512", 4 * n, n,
        [=] { kernels::reduce_last_cpu(kernels::ReduceOp::kMax, x->h(), out->h(), nullptr, kRows, kCols); },
        [=](cudaStream_t s) {
          kernels::reduce_last_cuda(kernels::ReduceOp::kMax, x->d(), out->d(), nullptr, kRows, kCols, s);
        }}));
    cases.push_back(std::make_shared<Case>(
        Case{"reduce_leading_sum/512x512", 4 * n, n,
             [=] { kernels::reduce_leading_sum_cpu(x->h(), col->h(), kRows, kCols); },
             [=](cudaStream_t s) { kernels::reduce_leading_sum_cuda(x->d(), col->d(), kRows, kCols, s); }}));
  }
  {  // The whole Q ensemble for planning, 5 heads x (518 -> 512 -> 512 -> 101), 512 rows: per layer
     // one strided-batched GEMM + one fused epilogue, i.e. 2 launches per layer, 6 in all.
    constexpr std::int64_t kIn = 518;
    auto x = std::make_shared<Array>(kRows * kIn, 90);
    auto w1 = std::make_shared<Array>(kHeads * kCols * kIn, 91, -0.05f, 0.05f);
    auto w2 = std::make_shared<Array>(kHeads * kCols * kCols, 92, -0.05f, 0.05f);
    auto w3 = std::make_shared<Array>(kHeads * kBins * kCols, 93, -0.05f, 0.05f);
    auto bias = std::make_shared<Array>(kHeads * kCols, 94),
         gamma = std::make_shared<Array>(kHeads * kCols, 95, 0.9f, 1.1f);
    auto beta = std::make_shared<Array>(kHeads * kCols, 96), b3 = std::make_shared<Array>(kHeads * kBins, 97);
    auto h = std::make_shared<Array>(kHeads * kRows * kCols, 98),
         y = std::make_shared<Array>(kHeads * kRows * kCols, 99);
    auto mean = std::make_shared<Array>(kHeads * kRows, 100),
         rstd = std::make_shared<Array>(kHeads * kRows, 101);
    auto logits = std::make_shared<Array>(kHeads * kRows * kBins, 102),
         prob = std::make_shared<Array>(kRows * kBins, 103);
    auto out = std::make_shared<Array>(kRows, 104);
    const double flops = 2.0 * kHeads * kRows * (kIn * kCols + kCols * kCols + kCols * kBins);
    const double bytes = 4.0 * (kHeads * (kCols * kIn + kCols * kCols + kBins * kCols) + kRows * kIn + kRows);
    cases.push_back(std::make_shared<Case>(Case{
        "q_ensemble_forward/5x512x518-512-512-101", bytes, flops,
        [=] {
          for (std::int64_t e = 0; e < kHeads; ++e) {
            const std::int64_t p = e * kCols, a = e * kRows * kCols;
            kernels::gemm_cpu(false, true, kRows, kCols, kIn, 1.f, x->h(), kIn, w1->h() + e * kCols * kIn,
                              kIn, 0.f, h->h() + a, kCols);
            kernels::layernorm_forward_cpu(h->h() + a, gamma->h() + p, beta->h() + p, y->h() + a, mean->h(),
                                           rstd->h(), kRows, kCols, 1e-5f, true);
            kernels::gemm_cpu(false, true, kRows, kCols, kCols, 1.f, y->h() + a, kCols,
                              w2->h() + e * kCols * kCols, kCols, 0.f, h->h() + a, kCols);
            kernels::layernorm_forward_cpu(h->h() + a, gamma->h() + p, beta->h() + p, y->h() + a, mean->h(),
                                           rstd->h(), kRows, kCols, 1e-5f, true);
            kernels::gemm_cpu(false, true, kRows, kBins, kCols, 1.f, y->h() + a, kCols,
                              w3->h() + e * kBins * kCols, kCols, 0.f, logits->h() + e * kRows * kBins,
                              kBins);
          }
          for (int head : {1, 3}) {
            kernels::softmax_forward_cpu(logits->h() + head * kRows * kBins, prob->h(), kRows, kBins, false);
            for (std::int64_t r = 0; r < kRows; ++r) {
              float m = 0.f;
              for (std::int64_t k = 0; k < kBins; ++k)
                m += prob->host[static_cast<std::size_t>(r * kBins + k)] *
                     (kVmin + 0.2f * static_cast<float>(k));
              const float v = 0.5f * std::copysign(std::expm1(std::fabs(m)), m);
              out->host[static_cast<std::size_t>(r)] =
                  head == 1 ? v : out->host[static_cast<std::size_t>(r)] + v;
            }
          }
        },
        [=](cudaStream_t s) {
          static cublasHandle_t blas = [] {
            cublasHandle_t b;
            LUCID_CUBLAS_CHECK(cublasCreate(&b));
            return b;
          }();
          LUCID_CUBLAS_CHECK(cublasSetStream(blas, s));
          const float one = 1.f, zero = 0.f;
          // Row-major H_e = X W_e^T is column-major H_e^T = W_e X^T; the input is shared (stride 0).
          LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, kCols, kRows, kIn,
                                                       &one, w1->d(), kIn, kCols * kIn, x->d(), kIn, 0, &zero,
                                                       h->d(), kCols, kRows * kCols, kHeads));
          kernels::ensemble_layernorm_forward_cuda(h->d(), bias->d(), gamma->d(), beta->d(), y->d(),
                                                   mean->d(), rstd->d(), kHeads, kRows, kCols, 1e-5f, true,
                                                   s);
          LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(
              blas, CUBLAS_OP_T, CUBLAS_OP_N, kCols, kRows, kCols, &one, w2->d(), kCols, kCols * kCols,
              y->d(), kCols, kRows * kCols, &zero, h->d(), kCols, kRows * kCols, kHeads));
          kernels::ensemble_layernorm_forward_cuda(h->d(), bias->d(), gamma->d(), beta->d(), y->d(),
                                                   mean->d(), rstd->d(), kHeads, kRows, kCols, 1e-5f, true,
                                                   s);
          LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(
              blas, CUBLAS_OP_T, CUBLAS_OP_N, kBins, kRows, kCols, &one, w3->d(), kCols, kBins * kCols,
              y->d(), kCols, kRows * kCols, &zero, logits->d(), kBins, kRows * kBins, kHeads));
          kernels::q_head_decode_forward_cuda(logits->d(), b3->d(), nullptr, out->d(), kHeads, kRows, kBins,
                                              kVmin, kVmax, 1, 3, kernels::QCombine::kAvg, s);
        }}));
  }
  {  // The engine's generic device ops (kernels/cuda/elementwise.cu, copy.cu, loss.cu, gemm.cu), at
     // the 5M model's update shapes: what an op that has no fused kernel costs.
    using kernels::Dims4;
    const std::int64_t n = kRows * kCols;
    auto x = std::make_shared<Array>(n, 60), y = std::make_shared<Array>(n, 61),
         gy = std::make_shared<Array>(n, 62);
    auto b = std::make_shared<Array>(kCols, 63), gb = std::make_shared<Array>(kCols, 64);
    const Dims4 xd{{1, 1, kRows, kCols}}, bd{{1, 1, 1, kCols}};
    cases.push_back(std::make_shared<Case>(
        Case{"mish_forward/512x512", 8.0 * n, 12.0 * n,
             [=] { kernels::unary_forward_cpu(kernels::UnaryOp::kMish, x->h(), y->h(), n, 0.f, 0.f); },
             [=](cudaStream_t s) {
               kernels::unary_forward_cuda(kernels::UnaryOp::kMish, x->d(), y->d(), n, 0.f, 0.f, s);
             }}));
    cases.push_back(std::make_shared<Case>(
        Case{"mul_broadcast_backward/512x512*512", 16.0 * n, 4.0 * n,
             [=] {
               kernels::binary_backward_cpu(kernels::BinaryOp::kMul, x->h(), xd, b->h(), bd, gy->h(), xd,
                                            y->h(), gb->h());
             },
             [=](cudaStream_t s) {
               kernels::binary_backward_cuda(kernels::BinaryOp::kMul, x->d(), xd, b->d(), bd, gy->d(), xd,
                                             y->d(), gb->d(), s);
             }}));
    auto w = std::make_shared<Array>(kCols * kCols, 65);
    cases.push_back(std::make_shared<Case>(
        Case{"linear_bias_forward/512x512x512", 4.0 * (2 * n + kCols * kCols), 2.0 * n * kCols,
             [=] {
               for (std::int64_t r = 0; r < kRows; ++r) std::copy(b->h(), b->h() + kCols, y->h() + r * kCols);
               kernels::gemm_cpu(false, true, kRows, kCols, kCols, 1.f, x->h(), kCols, w->h(), kCols, 1.f,
                                 y->h(), kCols);
             },
             [=](cudaStream_t s) {  // the engine's linear: bias broadcast, then one GEMM accumulating on it
               kernels::expand_cuda(b->d(), bd, y->d(), xd, 1.f, s);
               kernels::gemm_cuda(false, true, kRows, kCols, kCols, 1.f, x->d(), kCols, w->d(), kCols, 1.f,
                                  y->d(), kCols, s);
             }}));
    auto a = std::make_shared<Array>(kRows * 6, 66), za = std::make_shared<Array>(kRows * (kCols + 6), 67);
    cases.push_back(std::make_shared<Case>(
        Case{"concat_last/512x(512+6)", 8.0 * kRows * (kCols + 6), 0.0,
             [=] {
               for (std::int64_t r = 0; r < kRows; ++r) {
                 std::copy(x->h() + r * kCols, x->h() + (r + 1) * kCols, za->h() + r * (kCols + 6));
                 std::copy(a->h() + r * 6, a->h() + (r + 1) * 6, za->h() + r * (kCols + 6) + kCols);
               }
             },
             [=](cudaStream_t s) {
               kernels::copy_rows_cuda(x->d(), kCols, za->d(), kCols + 6, kRows, kCols, s);
               kernels::copy_rows_cuda(a->d(), 6, za->d() + kCols, kCols + 6, kRows, 6, s);
             }}));
    auto loss = std::make_shared<Array>(1, 68);
    cases.push_back(std::make_shared<Case>(
        Case{"mse_forward/512x512", 8.0 * n, 3.0 * n,
             [=] { loss->host[0] = kernels::mse_forward_cpu(x->h(), y->h(), n); },
             [=](cudaStream_t s) { kernels::mse_forward_cuda(x->d(), y->d(), n, loss->d(), s); }}));
  }
  add_planning_and_update_cases(cases);
  add_backward_cases(cases);
  return cases;
}

const bool kRegistered = [] {
  for (const std::shared_ptr<Case>& c : make_cases()) {
    benchmark::RegisterBenchmark((c->name + "/cpu").c_str(), run_cpu, c)->Unit(benchmark::kMicrosecond);
    if (!c->gpu) continue;  // a CPU-only comparison
#if defined(LUCID_EMU)
    // One emulated call is enough to count its launches; timing the emulator means nothing.
    benchmark::RegisterBenchmark((c->name + "/emu").c_str(), run_gpu, c)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
#else
    benchmark::RegisterBenchmark((c->name + "/cuda").c_str(), run_gpu, c)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
#endif
  }
  return true;
}();

}  // namespace
}  // namespace lucid

BENCHMARK_MAIN();
