#!/usr/bin/env bash
# Installs what the browser checks of tests/test_maps.py need and are not Python packages: Debian's
# headless Chromium and a font with Chinese glyphs (for the maps' 中文 and the PNG charts).
# Never fails: where it cannot install (not root, no apt-get, no network), the browser tests skip and
# say why. Playwright (the Python package that drives Chromium) comes with the `test` extra; its own
# browser download (`playwright install`) is never used.
set -u
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: ${need[*]} missing and apt-get cannot be used here; the browser tests will skip." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy "${need[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  timeout 300 apt-get update -q >/dev/null 2>&1 || true
fi
timeout 900 apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null >/dev/null 2>&1 \
  || echo "install_browser: apt-get could not install ${need[*]}; the browser tests will skip." >&2
exit 0
