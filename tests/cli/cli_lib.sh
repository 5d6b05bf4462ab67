# Sourced by the cli tests (tests/cli/*_test.sh): counting failures, and the check every tool's
# refusal of bad input must pass.
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_refusal WHAT FRAGMENT... -- COMMAND [ARG...]
# COMMAND must exit 2 with exactly one stderr line, "error: ...", containing every FRAGMENT. Its
# output is left in stdout.txt and stderr.txt of the current folder.
expect_refusal() {
  local what="$1" fragments=() rc=0
  shift
  while [[ $# -gt 0 && $1 != -- ]]; do
    fragments+=("$1")
    shift
  done
  if [[ $# -eq 0 ]]; then fail "$what: expect_refusal was given no -- COMMAND"; return; fi
  shift
  "$@" >stdout.txt 2>stderr.txt || rc=$?
  if [[ $rc -ne 2 ]]; then fail "$what: exit code $rc, not 2: $(cat stderr.txt)"; return; fi
  if [[ $(wc -l <stderr.txt) -ne 1 ]] || ! grep -q '^error: ' stderr.txt; then
    fail "$what: stderr is not one 'error:' line: $(cat stderr.txt)"; return
  fi
  local fragment
  for fragment in "${fragments[@]}"; do
    grep -qF -- "$fragment" stderr.txt || fail "$what: the error does not mention '$fragment': $(cat stderr.txt)"
  done
}
