#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 runs on 3.8-3.10 only), or explains what is missing.
set -euo pipefail
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for d in "$root"/versions/3.10*; do [ -x "$d/bin/python3.10" ] && candidates+=("$d/bin/python3.10"); done
fi
for d in "$HOME"/.pyenv/versions/3.10* /usr/local/bin /usr/bin; do
  [ -x "$d/bin/python3.10" ] && candidates+=("$d/bin/python3.10")
  [ -x "$d/python3.10" ] && candidates+=("$d/python3.10")
done
for c in "${candidates[@]}"; do
  # pyenv's shim exists even when 3.10 is not the active version: check it really runs 3.10.
  if "$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    echo "$c"; exit 0
  fi
done
cat >&2 <<'MSG'
Python 3.10 was not found. Rasa 3.6 needs Python 3.10 (3.11 is not supported).
Install it, then run the command again, for example:
  - Debian/Ubuntu:  sudo apt-get install python3.10 python3.10-venv   (or use the deadsnakes PPA)
  - pyenv:          pyenv install 3.10
  - or point PYTHON310=/path/to/python3.10 at an existing interpreter.
MSG
exit 1
