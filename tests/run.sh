#!/usr/bin/env bash
# Sets up (packages, build, the tests' Python venv) and runs every test that this machine can
# run, then says why each skipped test was skipped. GPU tests skip with a reason where no GPU is
# present; tests that need a missing package skip likewise. Arguments go to ctest (-L mpi, -R ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --tests
cd build
# ctest -j 2 runs two multi-threaded processes on two cores: threads that wait at a barrier
# should sleep, not spin on a core the other process needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
console=Testing/ctest-console.log
mkdir -p Testing
set +e
ctest --output-on-failure --timeout 600 -j 2 "$@" 2>&1 | tee "$console"
rc=${PIPESTATUS[0]}
set -e
bash ../tests/skip_reasons.sh "$console" Testing/Temporary/LastTest.log
exit "$rc"
