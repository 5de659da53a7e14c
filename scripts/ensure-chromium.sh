#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it (and a Chinese font) where it is missing.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qiE "wqy|noto.*cjk" || need+=(fonts-wqy-zenhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing ${need[*]} from Debian's packages (browser tests)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
elif [ ! -x /usr/bin/chromium ]; then
  echo "Chromium is missing: install Debian's 'chromium' package (sudo apt-get install chromium)." >&2
  echo "Browser tests will be skipped outside CI." >&2
fi
