#!/usr/bin/env bash
# Instructions per request of a release `bgops`, counted by callgrind (valgrind), which counts
# the same for the same binary and input whatever else loads the machine: the per-request
# figures in BENCHMARKS.md that a shared two-core machine cannot give as rates.
#
#   scripts/callgrind-requests.sh poll|submit [N] [extra serve flags…]
#
# poll:   N status monitor GETs of one finished operation, one keep-alive connection.
# submit: N background submissions of bgops_Echo with every worker held by a bgops_Delay, so
#         only the submission path is counted (one connection: each is its own commit).
# BGOPS_CALLGRIND_DATABASE=postgres://… counts against that database instead of a new SQLite
# file (give each run a fresh database or schema: `?options=-csearch_path%3Dx`).
# Counters are zeroed after 300 warm-up requests. Prints the total and the per-request count;
# `callgrind_annotate --inclusive=yes FILE` shows where they go.
set -euo pipefail
mode=${1:?poll or submit}
n=${2:-2000}
shift $(( $# >= 2 ? 2 : 1 ))
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release/bgops"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p bgops" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" "$bin" serve \
    --listen "127.0.0.1:$port" --database "${BGOPS_CALLGRIND_DATABASE:-sqlite://$dir/bgops.db}" --admin-token callgrind-token \
    --workers 4 "$@" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 1; done
drive() {
    python3 - "$port" "$1" "$2" <<'PY'
import http.client, json, sys, time
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
auth = {"Authorization": "Bearer callgrind-token"}
def post(api, body):
    c.request("POST", "/api/data/v9.2/" + api, body=json.dumps(body),
              headers={**auth, "Content-Type": "application/json", "Prefer": "respond-async"})
    r = c.getresponse(); r.read()
    assert r.status == 202, r.status
    return r.getheader("x-ms-dyn-backgroundoperationid")
if mode == "hold":
    for _ in range(4): post("bgops_Delay", {"DelayMs": 3600000})
    time.sleep(2)
elif mode == "poll":
    c.request("GET", "/api/data/v9.2/backgroundoperations?$select=backgroundoperationid&$top=1", headers=auth)
    r = c.getresponse(); body = json.loads(r.read())
    if body["value"]:
        op = body["value"][0]["backgroundoperationid"]
    else:
        op = post("bgops_Echo", {"Text": "callgrind"}); time.sleep(2)
    for _ in range(n):
        c.request("GET", "/api/backgroundoperation/" + op, headers=auth)
        r = c.getresponse(); r.read(); assert r.status == 200, r.status
elif mode == "submit":
    for _ in range(n): post("bgops_Echo", {"Text": "callgrind", "Number": 42})
PY
}
case "$mode" in
    poll) drive poll 300 ;;
    submit) drive hold 0; drive submit 300 ;;
    *) echo "poll or submit" >&2; exit 2 ;;
esac
callgrind_control -z "$pid" >/dev/null
drive "$mode" "$n"
callgrind_control -d "$pid" >/dev/null
file=$(ls -t "$dir"/callgrind.out.*.* | head -1)
total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "$mode: $total instructions for $n requests = $(( total / n )) per request"
echo "profile: $file"
