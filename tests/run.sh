#!/usr/bin/env bash
# Sets up (packages, build) and runs every test that this machine can run. GPU tests skip with a
# reason where no GPU is present; the PyTorch parity tests skip if python3-torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --tests
cd build
ctest --output-on-failure --timeout 600 -j 2 "$@"
