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

# The same suite over HTTPS (--tls-cert/--tls-key), with a throw-away self-signed certificate
# that node trusts through NODE_EXTRA_CA_CERTS.
if ! command -v openssl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq openssl
fi
tls_dir="$(mktemp -d)"
pg="${BGOPS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
cleanup() {
    rm -rf "$tls_dir"
    psql "$pg" -qAt -c "SELECT 'DROP SCHEMA ' || quote_ident(nspname) || ' CASCADE;' \
        FROM pg_namespace WHERE nspname LIKE 'bgops_node_%'" 2>/dev/null | psql "$pg" -q >/dev/null 2>&1 || true
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null
echo "== Node suite, bgops over https"
BGOPS_NODE_TLS_CERT="$tls_dir/cert.pem" BGOPS_NODE_TLS_KEY="$tls_dir/key.pem" \
    NODE_EXTRA_CA_CERTS="$tls_dir/cert.pem" \
    NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test

# The same suite against bgops on PostgreSQL (the test server, BGOPS_TEST_POSTGRES): each server
# gets a schema of its own, dropped at the end.
echo "== Node suite, bgops on PostgreSQL (BGOPS_TEST_POSTGRES)"
BGOPS_NODE_POSTGRES="$pg" NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--test-reporter=tap" npm test
