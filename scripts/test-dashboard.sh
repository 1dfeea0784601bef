#!/usr/bin/env bash
# The dashboard in a real browser: builds the binary, installs tests/dashboard from its lock file
# (playwright-core, which downloads no browser), and drives Debian's Chromium (/usr/bin/chromium,
# or $CHROMIUM) headless with node's test runner. A failing test leaves a screenshot in
# tests/dashboard/artifacts/.
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build -p bgops --locked  # into $CARGO_TARGET_DIR when set; the suite looks there
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install chromium" >&2
    exit 1
fi

cd "$root/tests/dashboard"
npm ci --no-audit --no-fund
echo "== dashboard suite, headless Chromium"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test
