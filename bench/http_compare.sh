#!/usr/bin/env bash
# The HTTP door under its load, beside the null HTTP server: one connection per
# exploit request, as bots send them (busybait-loadgen --scenario http-exploit: the
# JAWS /shell line of a dropper that writes and runs a file; about ten events per
# request on busybait), then idle half-sent requests held open for memory per
# connection. The target runs on core 0, the load on core 1. Prints one table;
# numbers go in BENCHMARKS.md. (Cowrie has no HTTP service to compare with.)
#
# Usage: bench/http_compare.sh
# Environment (defaults in brackets):
#   REQUESTS [20000]   exploit requests per target
#   CONCURRENCY [8]    requests at once
#   HOLD [2000]        idle connections held at once, for memory
#
# Nothing leaves loopback: every listener is 127.0.0.1 and the load generator
# refuses other targets.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${REQUESTS:-20000}
concurrency=${CONCURRENCY:-8}
hold=${HOLD:-2000}

die() { echo "http_compare.sh: $*" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || die "needs two cores (target and load pinned apart)"
command -v taskset >/dev/null || die "taskset is missing"
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/busybait-http-compare.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | sed -n 1p)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "-- building"
cargo build --release --locked -p busybait -p busybait-bench >/dev/null 2>&1 \
  || cargo build --release --locked -p busybait -p busybait-bench

# start_pinned NAME CMD...: runs CMD on core 0; sets $pid and $addr (its "listening http" line).
start_pinned() {
  local log=$work/$1; shift
  taskset -c 0 "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  pids+=("$pid")
  addr=
  for _ in $(seq 200); do
    addr=$(sed -n 's/^listening http //p' "$log.out" | head -1)
    [ -n "$addr" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log.err" >&2; die "$log did not start"; }
    sleep 0.05
  done
  die "$log printed no http listener"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
load() {
  local name=$1; shift
  taskset -c 1 ./target/release/busybait-loadgen --target "$addr" --pid "$pid" "$@" | tee "$work/$name.txt"
}

cat >"$work/busybait.toml" <<TOML
profile = "xiongmai-dvr"
[limits]
max_unauthenticated = $((hold + 100))
max_sessions_per_source = 64
TOML

echo "-- null HTTP server: $requests exploit requests"
start_pinned null ./target/release/busybait-null-http 127.0.0.1:0
load null --scenario http-exploit --sessions "$requests" --concurrency "$concurrency"
echo "-- null HTTP server: $hold idle requests"
load null-hold --scenario http-idle --sessions "$hold" --concurrency "$hold" --hold 5
stop "$pid"

echo "-- busybait --http (xiongmai-dvr): $requests exploit requests"
start_pinned bb ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$work/bb" --telnet 127.0.0.1:0 --http 127.0.0.1:0
load bb --scenario http-exploit --sessions "$requests" --concurrency "$concurrency"
events=$(wc -l <"$work/bb/events.jsonl")
stop "$pid"
echo "-- busybait --http: $hold idle requests"
start_pinned bb-hold ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$work/bb-hold" --telnet 127.0.0.1:0 --http 127.0.0.1:0
load bb-hold --scenario http-idle --sessions "$hold" --concurrency "$hold" --hold 5
stop "$pid"

field() { sed -n "s/^$2 *//p" "$work/$1.txt"; }
rate() { field "$1" rate | awk '{print $1}'; }
cpu() { field "$1" 'target cpu' | sed -n 's/.*(\([0-9.]*\) ms per session).*/\1/p'; }
peak_per() { # KiB per held connection: (peak - before) / held
  field "$1" 'target rss' | awk -v n="$hold" '{print int(($8 - $2) / n * 10) / 10}'
}
echo
echo "| $requests requests, concurrency $concurrency | null HTTP server | busybait |"
echo "|---|---|---|"
echo "| requests/s | $(rate null) | $(rate bb) |"
echo "| target CPU ms per request | $(cpu null) | $(cpu bb) |"
echo "| events per request | 0 | $(awk -v e="$events" -v n="$requests" 'BEGIN{printf "%.1f", e/n}') |"
echo "| KiB per idle half-sent request ($hold held) | $(peak_per null-hold) | $(peak_per bb-hold) |"
