#!/usr/bin/env bash
# Installs the Debian packages the build needs (and, with --tests, the test-only ones), then
# configures and builds into ./build. Safe to run again: installed packages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ libgtest-dev libtomlplusplus-dev libdnnl-dev nlohmann-json3-dev libcli11-dev
  openmpi-bin libopenmpi-dev libhdf5-dev)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(python3-torch python3-numpy slurm-wlm munge hdf5-tools python3-h5py)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${GPT_DATA_DIR:+-DGPT_DATA_DIR="$GPT_DATA_DIR"} >/dev/null
cmake --build build -j "$(nproc)"
