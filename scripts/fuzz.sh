#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (libFuzzer; see docs/testing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20)
#   FUZZ_TARGETS="prefer fetchxml" scripts/fuzz.sh 60     (only these targets)
#
# Builds all targets once with the nightly toolchain, then runs each from its committed seeds
# (fuzz/corpus/<target>) plus what earlier runs found (fuzz/work/<target>, not committed). Any
# crash (a panic, an overflow, a failed invariant, an out-of-memory) fails the script, leaves the
# input in fuzz/artifacts/<target>/ and prints how to reproduce it; each run's libFuzzer output
# is in fuzz/work/<target>.log.
set -euo pipefail

seconds="${1:-20}"
rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}"
# The largest input libFuzzer makes, in bytes: query strings, headers and bodies fit easily.
max_len="${FUZZ_MAX_LEN:-4096}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi

# Safe Rust: no sanitizer (panics, overflow checks and debug assertions are what we look for),
# which builds faster and runs several times more inputs per second than AddressSanitizer.
build_flags=(--sanitizer none --debug-assertions)
echo "== building fuzz targets"
cargo +nightly fuzz build "${build_flags[@]}"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
failed=()
for target in $targets; do
    work="fuzz/work/$target"
    seeds="fuzz/corpus/$target"
    mkdir -p "$work" "$seeds" "fuzz/artifacts/$target"
    dict=()
    if [[ -f "fuzz/dict/$target.dict" ]]; then
        dict=(-dict="fuzz/dict/$target.dict")
    fi
    echo "== $target: ${seconds}s"
    # Not in artifacts/: cargo-fuzz reports the newest file there as the failing input.
    log="fuzz/work/$target.log"
    if cargo +nightly fuzz run "${build_flags[@]}" "$target" "$work" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" -max_len="$max_len" \
        -timeout=10 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "$log" | tr '\n' ' '
        echo
    else
        failed+=("$target")
        tail -n 60 "$log"
        echo "!! $target crashed; full log: $log"
    fi
done

if ((${#failed[@]})); then
    echo
    echo "FUZZING FOUND CRASHES in: ${failed[*]}"
    for target in "${failed[@]}"; do
        for input in fuzz/artifacts/"$target"/{crash,oom,timeout,leak}-*; do
            [[ -e "$input" ]] || continue
            echo "  reproduce: cargo +nightly fuzz run ${build_flags[*]} $target $input"
            echo "  minimise:  cargo +nightly fuzz tmin ${build_flags[*]} $target $input"
        done
    done
    exit 1
fi
echo "== every target ran ${seconds}s without a crash"
