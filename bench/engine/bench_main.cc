// bench_engine's main: applies lucid's thread policy before any benchmark runs, and prints it,
// so every number in the output is taken under the same, stated thread counts.
#include <benchmark/benchmark.h>

#include "lucid/kernels/threading.h"

int main(int argc, char** argv) {
  lucid::kernels::init_threads();
  benchmark::AddCustomContext("lucid_threads", std::to_string(lucid::kernels::num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
