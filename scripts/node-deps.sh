#!/usr/bin/env bash
# npm packages the tests load in the browser (package.json + package-lock.json, pinned): the real
# Segment and RudderStack browser SDKs, and axe-core for the accessibility checks. `npm ci` installs exactly the lockfile, and only when it
# changed since the last install (npm keeps a copy of it in node_modules/.package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian packages for the tests: nodejs npm…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "npm is missing (apt-get install nodejs npm)." >&2
    exit 1
  fi
fi
stamp=node_modules/.clarm-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
