#!/usr/bin/env bash
# check_layering.py on a build configured with CMake's default generator, Unix Makefiles, whose
# compile_commands.json passes nvcc its include folders in a response file (`--options-file
# CMakeFiles/<target>.dir/includes_CUDA.rsp`, relative to the entry's directory) instead of on the
# command line. Configure only, into a temporary folder removed afterwards: the configure step
# writes compile_commands.json and the response files, nothing is built.
#   layering_makefiles_test.sh CMAKE SOURCE_DIR PYTHON CXX_COMPILER [CMAKE_ARG ...]
# The CMake arguments repeat the parent build's settings (compilers, GPT_CUDA, staged
# dependencies) so that the same sources, the .cu one included, are in the file. 77: no make.
set -euo pipefail
cmake="$1" source="$2" python="$3" cxx="$4"
shift 4
if ! command -v make >/dev/null; then
  echo "skipped: no make, which the Unix Makefiles generator needs (apt-get install make)"
  exit 77
fi
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# The tests' folder is not needed for the libraries' compile commands, and configures slowest.
if ! "$cmake" -S "$source" -B "$build" -G "Unix Makefiles" -DGPT_BUILD_TESTS=OFF "$@" >"$build/configure.log" 2>&1; then
  echo "FAIL: configuring with Unix Makefiles failed:"
  tail -20 "$build/configure.log"
  exit 1
fi
echo "compile_commands.json: $(grep -c '"file"' "$build/compile_commands.json") entries," \
  "$(grep -c -e '--options-file\| @' "$build/compile_commands.json" || true) with a response file"
"$python" "$(dirname "$0")/check_layering.py" "$build" "$source" "$cxx"
