#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the locked dependencies; does nothing when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.xiaoan-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
else
  py=$(scripts/find-python.sh)
  echo "==> creating .venv with $py"
  rm -rf .venv
  "$py" -m venv .venv
fi
echo "==> installing locked dependencies (requirements.lock)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pipq() {  # quiet pip; its output is shown only when it fails
  if ! .venv/bin/python -m pip install --quiet "$@" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2; echo "pip install $* failed" >&2; exit 1
  fi
}
pipq --upgrade "pip>=24"
pipq -r requirements.lock
pipq --no-deps -e .
.venv/bin/python -m pip check
echo "$want" > "$stamp"
echo "==> .venv is ready"
