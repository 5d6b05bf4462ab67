#!/usr/bin/env bash
# Creates (once) the tests' Python virtual environment: /usr/bin/python3 -m venv
# --system-site-packages VENV, then pip installs tests/python/requirements.txt (pinned). A venv
# whose recorded requirements match is reused as it is. If pip fails (no package index, say),
# the reason goes to VENV.log and VENV/INSTALL_FAILED, setup carries on, and the tests that need
# these packages skip, naming the reason.
#
#   tests/python/make_venv.sh VENV
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$1"
log="$venv.log"
requirements="$here/requirements.txt"
stamp="$venv/requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup: test venv $venv is up to date"
  exit 0
fi

give_up() {
  mkdir -p "$venv"
  { echo "$1"; tail -n 5 "$log" 2>/dev/null; } >"$venv/INSTALL_FAILED"
  echo "warning: setup: $1 (see $log); tests that need tiktoken, tensorboard or transformers will skip" >&2
  tail -n 3 "$log" | sed 's/^/warning: setup:   /' >&2
  exit 0
}

echo "setup: creating the test venv $venv (pinned packages from tests/python/requirements.txt)"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv" >"$log" 2>&1 ||
  give_up "could not create a venv with /usr/bin/python3 (is python3-venv installed?)"
"$venv/bin/pip" install --disable-pip-version-check --no-input --timeout 30 --retries 2 \
  -r "$requirements" >>"$log" 2>&1 || give_up "pip could not install tests/python/requirements.txt"
echo "$want" >"$stamp"
echo "setup: test venv ready"
