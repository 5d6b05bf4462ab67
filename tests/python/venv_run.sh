#!/usr/bin/env bash
# Runs a Python test with the tests' virtual environment (tests/python/make_venv.sh), or skips
# it (exit 77) with the reason when that environment is missing or its install failed.
#
#   tests/python/venv_run.sh VENV SCRIPT [ARGS...]
set -uo pipefail
venv="$1"
shift
if [[ -f "$venv/INSTALL_FAILED" ]]; then
  echo "skipped: the test venv's install failed: $(head -n 1 "$venv/INSTALL_FAILED") (see $venv.log)"
  exit 77
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "skipped: no test venv at $venv (tests/run.sh makes it: bash tests/python/make_venv.sh $venv)"
  exit 77
fi
exec "$venv/bin/python" "$@"
