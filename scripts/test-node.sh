#!/usr/bin/env bash
# Drives the real bgops server with the npm package dynamics-web-api (pinned 2.5.0):
# builds the binary, installs tests/node from its lock file, runs node's test runner.
set -euo pipefail

# dynamics-web-api sends every request through $http_proxy/$https_proxy and ignores NO_PROXY.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build -p bgops --locked

cd "$root/tests/node"
npm ci --no-audit --no-fund
# TAP output, so the run ends with node's summary lines (# pass N, # fail N, ...) even on a terminal.
NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test
