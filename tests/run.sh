#!/usr/bin/env bash
# Sets up (packages, build) and runs every test that this machine can run. GPU tests skip with a
# reason where no GPU is present; the PyTorch parity tests skip if python3-torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --tests
cd build
# ctest -j 2 runs two multi-threaded processes on two cores: threads that wait at a barrier
# should sleep, not spin on a core the other process needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --output-on-failure --timeout 600 -j 2 "$@"
