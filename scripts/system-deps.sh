#!/usr/bin/env bash
# Debian packages the tests use: chromium (Playwright drives it; its own browser download cannot
# work here) and poppler-utils (pdftotext/pdftoppm read the weekly summary PDF).
set -euo pipefail
# npm packages of the tests (package.json, pinned by package-lock.json): axe-core for the browser tests.
if [ ! -f node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages for the tests: ${missing[*]}…"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Missing Debian packages for the tests: ${missing[*]} (apt-get install ${missing[*]})." >&2
  exit 1
fi
