#!/usr/bin/env bash
# Prints why tests were skipped, one line per distinct reason: "Skipped: REASON (N tests, e.g.
# NAME)". ctest's console output says which tests were skipped; the reason is in each test's
# output in LastTest.log: the line after GoogleTest's "FILE:LINE: Skipped", or a script's
# "skipped: REASON" line (exit 77).
#
#   tests/skip_reasons.sh CTEST_CONSOLE_LOG LAST_TEST_LOG
set -uo pipefail
console=$1 last=$2
[[ -f "$console" && -f "$last" ]] || exit 0
awk '
  FNR == NR { if ($0 ~ /\*\*\*Skipped/ && match($0, /Test +#[0-9]+: [^ ]+/)) {
                name = substr($0, RSTART, RLENGTH); sub(/Test +#[0-9]+: /, "", name); skipped[name] = 1 }
              next }
  /^[0-9]+\/[0-9]+ Test: / { name = $3; take_next = 0; next }
  take_next { if (!(name in reason)) reason[name] = $0; take_next = 0; next }
  / Skipped$/ { take_next = 1; next }
  tolower($0) ~ /^skipped: / && !(name in reason) { reason[name] = substr($0, 10) }
  END {
    for (n in skipped) { r = (n in reason) ? reason[n] : "(no reason printed)"; count[r]++; if (!(r in example)) example[r] = n }
    for (r in count) printf "Skipped: %s (%d test%s, e.g. %s)\n", r, count[r], count[r] == 1 ? "" : "s", example[r]
  }' "$console" "$last" | sort
