#!/usr/bin/env bash
# One command, one run: bench_engine and the PyTorch peer on the same shapes and thread count,
# then a table of lucid vs PyTorch, the share of the measured OpenBLAS sgemm peak, and the
# issue's bars (MLP train step at batch 1024: >= 1.3x PyTorch and >= 60% of peak; small linear
# M=8: >= 2.5x a plain cblas_sgemm call).
#
#   bench/peers/compare_engine.sh [build-dir] [threads] [wall|cpu]    (defaults: build, 2, wall)
#
# wall is what the bars are defined on and needs an otherwise idle machine; cpu (with threads=1)
# compares the work each side does and stays meaningful on a loaded machine.
#
# Threads: lucid runs OpenMP with N threads and OpenBLAS with 1 inside its own ops (BLAS gets N
# only in the benchmarks that time BLAS alone); PyTorch gets torch.set_num_threads(N) and its
# OpenBLAS N threads (without OPENBLAS_NUM_THREADS it would spawn one per core regardless).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../build}"
threads="${2:-2}"
clock="${3:-wall}"
bin="$build/bench/engine/bench_engine"
[[ -x "$bin" ]] || { echo "no $bin: build the bench_engine target first" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; threads=$threads" >&2
LUCID_THREADS="$threads" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 \
  "$bin" --benchmark_filter='BM_(SgemmPeak|SmallLinear|SmallLinearBlas|MlpTrainStep|EnsembleQForward)/|BM_DropoutMaskDraw' \
  --benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json --benchmark_out="$out/lucid.json" --benchmark_out_format=json >/dev/null
# PyTorch's own pool and the OpenBLAS under Debian's torch both get N threads.
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
  /usr/bin/python3 "$here/torch_engine.py" --threads "$threads" > "$out/torch.json"
/usr/bin/python3 "$here/compare_engine.py" "$out/lucid.json" "$out/torch.json" "$clock"
