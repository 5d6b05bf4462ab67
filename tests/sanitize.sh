#!/usr/bin/env bash
# The unit label (every unit test, and the CUDA backend's kernels and glue under the host
# emulation where nvcc is found) built with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DGPT_SANITIZE=ON) into build-sanitize/, and run there. Any report fails its test: ASan stops
# the process, and undefined behaviour is not recovered from. CI runs it after the README's tests.
# Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh --tests >/dev/null  # the packages (and the ordinary build)
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPT_SANITIZE=ON >/dev/null
targets=(unit_tests)
cmake --build build-sanitize --target help | grep -q '^emulated_cuda_tests:' && targets+=(emulated_cuda_tests)
cmake --build build-sanitize -j "$(nproc)" --target "${targets[@]}"
cd build-sanitize
# allocator_may_return_null: HDF5 asks malloc for sizes read from a damaged file and handles a
# NULL (CheckpointFuzz feeds it such files); without it ASan aborts where the real malloc fails.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest -L unit -j 2 --timeout 900 --output-on-failure "$@"
