#!/usr/bin/env bash
# The C++ and CUDA sources are formatted as .clang-format says, by Debian 12's clang-format (14):
# fails naming each file that `clang-format -i FILE` would change, with the first lines of the
# difference. Another clang-format version formats some constructs differently, so it skips.
#
#   tests/format/check_format.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
if ! command -v clang-format >/dev/null; then
  echo "skipped: no clang-format (apt-get install clang-format; bash launch/setup.sh --tests does)"
  exit 77
fi
version=$(clang-format --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
if [[ "$version" != 14 ]]; then
  echo "skipped: clang-format $version is not Debian 12's 14, which the sources are formatted with"
  exit 77
fi
if [[ -e .git ]]; then
  mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.cu' '*.cuh')
else  # a source tree without its history (a release archive)
  mapfile -t files < <(find core data dist train launch tests \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
fi
((${#files[@]} > 0)) || { echo "error: no C++ sources found under $PWD"; exit 1; }
bad=0
for f in "${files[@]}"; do
  if ! diff=$(clang-format --style=file "$f" | diff -u "$f" - --label "$f" --label "$f (clang-format)"); then
    echo "not formatted: $f (clang-format -i $f)"
    head -n 12 <<<"$diff" | sed 's/^/  /'
    bad=$((bad + 1))
  fi
done
echo "${#files[@]} files checked, $bad not formatted"
((bad == 0))
