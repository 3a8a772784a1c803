// Small-batch GEMM: B packing, the register-blocked micro-kernels and the packed-weight cache
// (contract in lucid/kernels/gemm_small.h).
//
// Blocking: C is cut into 16-column panels (outer loop, split over OpenMP threads) and, within a
// panel, into row blocks (inner loop), so each thread streams its share of the packed weights
// once per call while the rows of A stay in L1. Two tiles, chosen once at run time:
// - AVX-512: MR x 16 in MR zmm accumulators (MR <= 12), one k step = 1 load of B and MR FMAs
//   whose A operand is an embedded broadcast from memory. On the Xeons this runs on, 512-bit FMAs
//   do twice the work per cycle of 256-bit ones (measured 128 vs 57 GFLOP/s per core), and a
//   16-column panel is exactly one zmm, so the packed layout is the same for both tiles.
// - AVX2/FMA: MR x 16 as 2*MR ymm accumulators (MR <= 6: 12 + 2 for B + 1 broadcast = 15 of 16
//   ymm), one k step = 2 loads of B, MR broadcasts and 2*MR FMAs.
// Row blocks are balanced (AVX2: m = 8 -> 4 + 4, not 6 + 2) because a tile needs >= 8
// independent accumulators to hide the FMA latency; only small m runs below that.
#include "lucid/kernels/gemm_small.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "lucid/error.h"
#include "lucid/kernels/cpu_features.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {

constexpr int kNr = kGemmPanelWidth;
constexpr int kMaxMr = 6;            // AVX2 and portable tiles
constexpr int kMaxMrAvx512 = 12;     // 12 accumulators + B: more rows per tile measured no faster
constexpr int kPrefetchSteps = 64;   // 16 floats per k-step: 4 KiB ahead (measured best of 16..192)
constexpr int kPrefetchMaxRows = 6;  // every tile: no cost at 256 rows, 2x at 5 rows

struct TileArgs {
  int k;
  const float* a;
  int lda;
  const float* panel;
  float alpha, beta;
  float* c;
  int ldc;
  const float* bias;  // already offset to the panel's first column, or null
  int cols;           // valid columns of this tile: 1..16, or 17..32 for a two-panel tile
};

// ---- AVX2/FMA tile: compiled for those extensions only, called only when the CPU has them ----
template <int MR>
__attribute__((target("avx2,fma"))) void tile_avx2(const TileArgs& t) {
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  const float* bp = t.panel;
  for (int p = 0; p < t.k; ++p, bp += kNr) {
    // With few rows the tile is bound by streaming the panel in from memory: ask for the line
    // kPrefetchSteps k-steps ahead so more misses are in flight than the hardware prefetcher keeps.
    if (MR <= kPrefetchMaxRows)
      _mm_prefetch(reinterpret_cast<const char*>(bp + kPrefetchSteps * kNr), _MM_HINT_T0);
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(t.a + static_cast<std::ptrdiff_t>(r) * t.lda + p);
      lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
    }
  }
  const __m256 alpha = _mm256_set1_ps(t.alpha), beta = _mm256_set1_ps(t.beta);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.cols), lane);
  const __m256i mask_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.cols - 8), lane);
  const __m256 bias_lo = t.bias ? _mm256_maskload_ps(t.bias, mask_lo) : _mm256_setzero_ps();
  const __m256 bias_hi = t.bias ? _mm256_maskload_ps(t.bias + 8, mask_hi) : _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* crow = t.c + static_cast<std::ptrdiff_t>(r) * t.ldc;
    __m256 v0 = _mm256_fmadd_ps(alpha, lo[r], bias_lo), v1 = _mm256_fmadd_ps(alpha, hi[r], bias_hi);
    if (t.beta != 0.0f) {  // C is not read when beta == 0, so it may hold garbage (even NaN)
      v0 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(crow, mask_lo), v0);
      v1 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(crow + 8, mask_hi), v1);
    }
    if (t.cols == kNr) {
      _mm256_storeu_ps(crow, v0);
      _mm256_storeu_ps(crow + 8, v1);
    } else {
      _mm256_maskstore_ps(crow, mask_lo, v0);
      _mm256_maskstore_ps(crow + 8, mask_hi, v1);
    }
  }
}

// ---- AVX-512 tiles: NP adjacent panels (NP = 2: MR x 32, 2*MR zmm accumulators, so each
// broadcast of A feeds two FMAs and a row block re-reads A half as often; NP = 1 for the last
// panel of an odd count). Masks handle partial columns. ----
template <int MR, int NP>
__attribute__((target("avx512f"))) void tile_avx512(const TileArgs& t) {
  __m512 acc[NP][MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q) acc[q][r] = _mm512_setzero_ps();
  const std::ptrdiff_t panel_stride = static_cast<std::ptrdiff_t>(kNr) * t.k;
  const float* bp = t.panel;
  for (int p = 0; p < t.k; ++p, bp += kNr) {
    if (MR <= kPrefetchMaxRows) {  // see tile_avx2: few rows means bound by streaming the panel
      for (int q = 0; q < NP; ++q)
        _mm_prefetch(reinterpret_cast<const char*>(bp + q * panel_stride + kPrefetchSteps * kNr),
                     _MM_HINT_T0);
    }
    __m512 b[NP];
    for (int q = 0; q < NP; ++q) b[q] = _mm512_loadu_ps(bp + q * panel_stride);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(t.a[static_cast<std::ptrdiff_t>(r) * t.lda + p]);
      for (int q = 0; q < NP; ++q) acc[q][r] = _mm512_fmadd_ps(av, b[q], acc[q][r]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(t.alpha), beta = _mm512_set1_ps(t.beta);
  __mmask16 mask[NP];
  __m512 bias[NP];
  for (int q = 0; q < NP; ++q) {
    const int cols = std::clamp(t.cols - q * kNr, 0, kNr);
    mask[q] = static_cast<__mmask16>((1u << cols) - 1u);
    bias[q] = t.bias ? _mm512_maskz_loadu_ps(mask[q], t.bias + q * kNr) : _mm512_setzero_ps();
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* crow = t.c + static_cast<std::ptrdiff_t>(r) * t.ldc;
    for (int q = 0; q < NP; ++q) {
      __m512 v = _mm512_fmadd_ps(alpha, acc[q][r], bias[q]);
      if (t.beta != 0.0f)  // see tile_avx2
        v = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[q], crow + q * kNr), v);
      _mm512_mask_storeu_ps(crow + q * kNr, mask[q], v);
    }
  }
}

// ---- portable tile: the same blocking in plain loops (the compiler vectorizes the j loops) ----
template <int MR>
void tile_generic(const TileArgs& t) {
  float acc[MR][kNr] = {};
  const float* bp = t.panel;
  for (int p = 0; p < t.k; ++p, bp += kNr) {
    for (int r = 0; r < MR; ++r) {
      const float av = t.a[static_cast<std::ptrdiff_t>(r) * t.lda + p];
      for (int j = 0; j < kNr; ++j) acc[r][j] += av * bp[j];
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* crow = t.c + static_cast<std::ptrdiff_t>(r) * t.ldc;
    for (int j = 0; j < t.cols; ++j) {
      float v = t.alpha * acc[r][j] + (t.bias ? t.bias[j] : 0.0f);
      if (t.beta != 0.0f) v += t.beta * crow[j];
      crow[j] = v;
    }
  }
}

using TileFn = void (*)(const TileArgs&);
// One kernel's tiles: wide[mr] covers `panels` panels (mr = 1..max_mr); narrow[mr] covers one,
// for the last panel when the panel count is not a multiple of `panels`.
struct Tiles {
  int max_mr, panels;
  TileFn wide[kMaxMrAvx512 + 1], narrow[kMaxMrAvx512 + 1];
};
template <int NP, int... MR>
constexpr std::array<TileFn, sizeof...(MR) + 1> avx512_tiles(std::integer_sequence<int, MR...>) {
  return {nullptr, tile_avx512<MR + 1, NP>...};
}
constexpr auto kAvx512Wide = avx512_tiles<2>(std::make_integer_sequence<int, kMaxMrAvx512>{});
constexpr auto kAvx512Narrow = avx512_tiles<1>(std::make_integer_sequence<int, kMaxMrAvx512>{});
constexpr Tiles kAvx512Tiles = [] {
  Tiles t{kMaxMrAvx512, 2, {}, {}};
  for (int mr = 0; mr <= kMaxMrAvx512; ++mr) {
    t.wide[mr] = kAvx512Wide[mr];
    t.narrow[mr] = kAvx512Narrow[mr];
  }
  return t;
}();
constexpr Tiles kAvx2Tiles{
    kMaxMr,
    1,
    {nullptr, tile_avx2<1>, tile_avx2<2>, tile_avx2<3>, tile_avx2<4>, tile_avx2<5>, tile_avx2<6>},
    {}};
constexpr Tiles kGenericTiles{kMaxMr,
                              1,
                              {nullptr, tile_generic<1>, tile_generic<2>, tile_generic<3>, tile_generic<4>,
                               tile_generic<5>, tile_generic<6>},
                              {}};

std::atomic<GemmIsa> g_isa_cap{GemmIsa::avx512};

const Tiles& tiles() {
  switch (gemm_small_isa_in_use()) {
    case GemmIsa::avx512:
      return kAvx512Tiles;
    case GemmIsa::avx2:
      return kAvx2Tiles;
    case GemmIsa::generic:
      break;
  }
  return kGenericTiles;
}

void* aligned_floats(std::size_t n) {
  const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  LUCID_CHECK(p != nullptr) << "out of memory packing a " << bytes << "-byte GEMM operand";
  return p;
}

// ---- the packed-weight cache ----
struct CacheKey {
  const float* b;
  bool trans_b;
  int n, k, ldb;
  bool operator==(const CacheKey&) const = default;
};
struct CacheKeyHash {
  std::size_t operator()(const CacheKey& key) const {
    std::size_t h = std::hash<const void*>()(key.b);
    for (std::size_t v :
         {std::size_t(key.trans_b), std::size_t(key.n), std::size_t(key.k), std::size_t(key.ldb)})
      h = h * 1000003u ^ v;
    return h;
  }
};
struct CacheEntry {
  std::uint64_t version, fingerprint;
  std::shared_ptr<const PackedB> packed;
  std::list<CacheKey>::iterator lru;  // position in Cache::lru (front = most recent)
};

// FNV-1a over 64 elements spread across the stored matrix plus its last element.
std::uint64_t fingerprint(bool trans_b, int n, int k, const float* b, int ldb) {
  const int rows = trans_b ? n : k, cols = trans_b ? k : n;
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](float v) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    h = (h ^ bits) * 1099511628211ull;
  };
  if (rows == 0 || cols == 0) return h;
  for (int s = 0; s < 64; ++s) {
    const std::int64_t r = static_cast<std::int64_t>(s) * rows / 64,
                       c = (static_cast<std::int64_t>(s) * 7919) % cols;
    mix(b[r * ldb + c]);
  }
  mix(b[static_cast<std::int64_t>(rows - 1) * ldb + cols - 1]);
  return h;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<CacheKey, CacheEntry, CacheKeyHash> entries;
  std::list<CacheKey> lru;
  std::size_t bytes = 0;
  std::size_t capacity = std::size_t(512) << 20;

  void erase(std::unordered_map<CacheKey, CacheEntry, CacheKeyHash>::iterator it) {
    bytes -= gemm_packed_b_floats(it->first.n, it->first.k) * sizeof(float);
    lru.erase(it->second.lru);
    entries.erase(it);
  }
  void evict_to(std::size_t limit) {
    while (bytes > limit && !lru.empty()) erase(entries.find(lru.back()));
  }
};
Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

std::size_t gemm_packed_b_floats(int n, int k) {
  return static_cast<std::size_t>((n + kNr - 1) / kNr) * kNr * static_cast<std::size_t>(k);
}

void gemm_pack_b_cpu(bool trans_b, int n, int k, const float* b, int ldb, float* packed) {
  LUCID_CHECK_SHAPE(n >= 0 && k >= 0 && ldb >= (trans_b ? k : n))
      << "gemm_pack_b: n=" << n << " k=" << k << " ldb=" << ldb << " trans_b=" << trans_b;
  const int panels = (n + kNr - 1) / kNr;
  // A training step repacks every weight it reads this way once per update: split the panels
  // over the threads when the matrix is large (each panel is written by one thread).
#pragma omp parallel for schedule(static) if (std::int64_t{n} * k >= 8 * kParallelGrain)
  for (int pj = 0; pj < panels; ++pj) {
    float* dst = packed + static_cast<std::size_t>(pj) * kNr * k;
    const int j0 = pj * kNr, cols = std::min(kNr, n - j0);
    for (int p = 0; p < k; ++p) {
      for (int j = 0; j < kNr; ++j) {
        float v = 0.0f;
        if (j < cols)
          v = trans_b ? b[static_cast<std::ptrdiff_t>(j0 + j) * ldb + p]
                      : b[static_cast<std::ptrdiff_t>(p) * ldb + j0 + j];
        dst[static_cast<std::size_t>(p) * kNr + j] = v;
      }
    }
  }
}

void gemm_packed_cpu(int m, int n, int k, float alpha, const float* a, int lda, const float* packed_b,
                     float beta, float* c, int ldc, const float* bias) {
  LUCID_CHECK_SHAPE(m >= 0 && n >= 0 && k >= 0 && lda >= k && ldc >= n)
      << "gemm_packed: m=" << m << " n=" << n << " k=" << k << " lda=" << lda << " ldc=" << ldc;
  if (m == 0 || n == 0) return;
  const Tiles& tile = tiles();
  // Balanced row blocks of at most tile.max_mr rows.
  const int blocks = (m + tile.max_mr - 1) / tile.max_mr, base = m / blocks, extra = m % blocks;
  const int panels = (n + kNr - 1) / kNr, groups = (panels + tile.panels - 1) / tile.panels;
  const bool parallel = static_cast<std::int64_t>(m) * n * k >= kGemmParallelMacs && groups > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int g = 0; g < groups; ++g) {
    const int pj = g * tile.panels, j0 = pj * kNr;
    const bool wide = pj + tile.panels <= panels;
    const TileFn* fn = wide ? tile.wide : tile.narrow;
    TileArgs t{k,
               nullptr,
               lda,
               packed_b + static_cast<std::size_t>(pj) * kNr * k,
               alpha,
               beta,
               nullptr,
               ldc,
               bias ? bias + j0 : nullptr,
               std::min((wide ? tile.panels : 1) * kNr, n - j0)};
    int row = 0;
    for (int blk = 0; blk < blocks; ++blk) {
      const int mr = base + (blk < extra ? 1 : 0);
      t.a = a + static_cast<std::ptrdiff_t>(row) * lda;
      t.c = c + static_cast<std::ptrdiff_t>(row) * ldc + j0;
      fn[mr](t);
      row += mr;
    }
  }
}

std::shared_ptr<const PackedB> gemm_pack_cached(bool trans_b, int n, int k, const float* b, int ldb,
                                                std::uint64_t version) {
  const CacheKey key{b, trans_b, n, k, ldb};
  const std::uint64_t fp = fingerprint(trans_b, n, k, b, ldb);
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  auto it = cc.entries.find(key);
  if (it != cc.entries.end()) {
    CacheEntry& e = it->second;
    if (e.version == version && e.fingerprint == fp) {
      cc.lru.splice(cc.lru.begin(), cc.lru, e.lru);
      return e.packed;
    }
    if (e.packed.use_count() == 1) {
      // One version per matrix, and nobody holds the old panels: repack into the same block.
      // Training bumps the version every update, and a fresh block each time would be fresh
      // pages from the kernel (a page fault and a zeroing per 4 KiB) every step.
      gemm_pack_b_cpu(trans_b, n, k, b, ldb, e.packed->data.get());
      e.version = version;
      e.fingerprint = fp;
      cc.lru.splice(cc.lru.begin(), cc.lru, e.lru);
      return e.packed;
    }
    cc.erase(it);  // still held by a caller: leave those panels to it and pack a new block
  }
  auto packed = std::make_shared<PackedB>();
  packed->n = n;
  packed->k = k;
  packed->data = std::unique_ptr<float[], void (*)(void*)>(
      static_cast<float*>(aligned_floats(gemm_packed_b_floats(n, k))), std::free);
  gemm_pack_b_cpu(trans_b, n, k, b, ldb, packed->data.get());
  const std::size_t bytes = gemm_packed_b_floats(n, k) * sizeof(float);
  cc.evict_to(cc.capacity > bytes ? cc.capacity - bytes : 0);
  cc.lru.push_front(key);
  cc.entries.emplace(key, CacheEntry{version, fp, packed, cc.lru.begin()});
  cc.bytes += bytes;
  return packed;
}

void gemm_pack_cache_clear() {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  cc.entries.clear();
  cc.lru.clear();
  cc.bytes = 0;
}

std::size_t gemm_pack_cache_bytes() {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  return cc.bytes;
}

void gemm_pack_cache_set_capacity(std::size_t bytes) {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  cc.capacity = bytes;
  cc.evict_to(bytes);
}

void gemm_small_cpu(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, std::uint64_t b_version, float beta, float* c, int ldc, const float* bias) {
  LUCID_CHECK_SHAPE(ldb >= (trans_b ? k : n))
      << "gemm_small: ldb=" << ldb << " too small for n=" << n << " k=" << k;
  if (m == 0 || n == 0) return;
  const std::shared_ptr<const PackedB> packed = gemm_pack_cached(trans_b, n, k, b, ldb, b_version);
  gemm_packed_cpu(m, n, k, alpha, a, lda, packed->data.get(), beta, c, ldc, bias);
}

bool gemm_small_cpu_has(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512:
      return cpu_has_avx512f();
    case GemmIsa::avx2:
      return cpu_has_avx2_fma();
    case GemmIsa::generic:
      break;
  }
  return true;
}

GemmIsa gemm_small_isa_in_use() {
  const GemmIsa cap = g_isa_cap.load(std::memory_order_relaxed);
  for (GemmIsa isa : {GemmIsa::avx512, GemmIsa::avx2})
    if (isa <= cap && gemm_small_cpu_has(isa)) return isa;
  return GemmIsa::generic;
}

const char* gemm_small_isa() {
  switch (gemm_small_isa_in_use()) {
    case GemmIsa::avx512:
      return "avx512";
    case GemmIsa::avx2:
      return "avx2-fma";
    case GemmIsa::generic:
      break;
  }
  return "generic";
}

void gemm_small_cap_isa(GemmIsa cap) { g_isa_cap.store(cap); }

}  // namespace lucid::kernels
