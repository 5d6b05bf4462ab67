#!/usr/bin/env bash
# Installs the Debian packages the build needs, configures and builds the tools (train, prepare,
# generate, export) into ./build; with --tests also the test-only packages, every target and the
# tests' Python virtual environment.
# Safe to run again: installed packages are skipped and the virtual environment is reused.
#
# Exit codes: 0 done; 3 no Debian package index could be fetched (no mirror reachable: CI then
# runs on the host instead of a fresh machine); anything else is a real failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# ocl-icd-opencl-dev: oneDNN's CMake config insists on OpenCL, which libdnnl-dev only recommends.
packages=(cmake ninja-build g++ libgtest-dev libtomlplusplus-dev libdnnl-dev ocl-icd-opencl-dev
  nlohmann-json3-dev libcli11-dev openmpi-bin libopenmpi-dev libhdf5-dev libxxhash-dev libpcre2-dev
  python3-matplotlib)  # build/launch/report's charts
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(python3-torch python3-numpy python3-h5py python3-venv hdf5-tools slurm-wlm munge curl
    chromium  # report_cli renders the report's page
    iproute2  # tests/multinode: hosts as network namespaces (ip netns)
    make  # layering_makefiles configures the tree with CMake's default generator, Unix Makefiles
    clang-format)  # the format test
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  if ! "${sudo_cmd[@]}" apt-get update -qq -o APT::Update::Error-Mode=any; then
    echo "error: setup: apt-get update failed: no Debian package mirror reachable" >&2
    exit 3
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' build treats warnings as errors (the tree builds without any on Debian 12's GCC 12 and
# nvcc); GPT_WERROR=OFF bash tests/run.sh turns that off. The tools alone build without it.
werror=OFF
[[ "${1:-}" == "--tests" ]] && werror=${GPT_WERROR:-ON}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPT_WERROR="$werror" >/dev/null
if [[ "${1:-}" == "--tests" ]]; then
  cmake --build build -j "$(nproc)"
  bash tests/python/make_venv.sh build/venv
else
  # What the quickstart runs; build/launch/report is written by the configure step above.
  cmake --build build -j "$(nproc)" --target train prepare generate export
fi
echo "setup: done in ${SECONDS} s"
