// CPU instruction-set checks (lucid/kernels/cpu_features.h), from GCC/Clang's cpuid builtins.
#include "lucid/kernels/cpu_features.h"

namespace lucid::kernels {

bool cpu_has_avx2_fma() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}

bool cpu_has_avx512f() {
  static const bool yes = cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
  return yes;
}

}  // namespace lucid::kernels
