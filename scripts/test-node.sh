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
echo "== Node suite, bgops on SQLite"
NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test

# The same suite against bgops on PostgreSQL (the test server, BGOPS_TEST_POSTGRES): each server
# gets a schema of its own, dropped at the end.
pg="${BGOPS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
drop_schemas() {
    psql "$pg" -qAt -c "SELECT 'DROP SCHEMA ' || quote_ident(nspname) || ' CASCADE;' \
        FROM pg_namespace WHERE nspname LIKE 'bgops_node_%'" | psql "$pg" -q >/dev/null
}
trap drop_schemas EXIT
echo "== Node suite, bgops on PostgreSQL (BGOPS_TEST_POSTGRES)"
BGOPS_NODE_POSTGRES="$pg" NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test
