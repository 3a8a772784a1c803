#!/usr/bin/env bash
# README command (2): set everything up on a fresh Debian machine, build once, run every test that
# is not labelled `slow`. Usage: tools/test_all.sh [extra ctest args, e.g. -L cuda_emu]
#   LUCID_BUILD_DIR   build folder (default: build)
#   LUCID_TEST_ALL=1  also run the `slow` tests
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

build=${LUCID_BUILD_DIR:-build}
jobs=$(nproc)
# Warnings are errors here. The native CUDA build (when nvcc is on PATH) is compiled for the two
# architectures CI must cover; users get the full list by default.
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLUCID_WERROR=ON -DLUCID_CUDA_EMU=ON \
      "-DLUCID_CUDA_ARCHITECTURES=${LUCID_CUDA_ARCHITECTURES:-80;90}" >"$build/configure.log" 2>&1 ||
  { tail -30 "$build/configure.log"; echo "test_all: cmake configure failed (log: $build/configure.log)" >&2; exit 1; }
cmake --build "$build" -j"$jobs"

# One BLAS/OpenMP thread per test process: ctest runs $jobs of them at once (tests/CMakeLists.txt).
label_args=(-LE slow)
[[ "${LUCID_TEST_ALL:-0}" == 1 ]] && label_args=()
cd "$build"
ctest -j"$jobs" --output-on-failure --timeout 600 "${label_args[@]}" "$@"
