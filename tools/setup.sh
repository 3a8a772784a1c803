#!/usr/bin/env bash
# Installs what lucid needs from Debian's packages, and nothing else. Idempotent: when everything
# is present it prints nothing and exits 0. When it cannot install, it prints one line saying what
# is missing and exits 1. The CUDA toolkit is optional (the build finds nvcc on PATH if present).
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git
  libgtest-dev libgmock-dev libbenchmark-dev
  libmujoco-dev libqhull-dev          # mujoco's CMake config names libqhull_r's include dir
  libopenblas-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libboost-context-dev                # fibers for the CUDA emulator
  libpng-dev libosmesa6-dev libegl-dev  # offscreen rendering
  ffmpeg                              # videos of episodes
  librsvg2-bin                        # rsvg-convert: PNG copies of the report's SVG figures
  python3                             # tools/ scripts (plots need nothing beyond the stdlib)
)
[[ "${LUCID_SETUP_TORCH:-0}" == 1 ]] && packages+=(python3-torch)  # only for golden files and peers

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/lucid-setup.log 2>&1; then
  echo "setup: apt-get could not install ${missing[*]} (log: /tmp/lucid-setup.log)" >&2
  exit 1
fi
