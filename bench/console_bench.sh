#!/usr/bin/env bash
# The console under load (BENCHMARKS.md): a data dir of SESSIONS synthetic sessions
# spread over DAYS days (busybait-consolegen, through the store's own recorder;
# cached in target/console-bench/), `busybait web` on 127.0.0.1, CLIENTS concurrent
# clients (busybait-webload, after a warm-up round) on the overview for the last
# 24 hours and for all time, the session list (plain, one source, one family, one
# credential, a page deep), a session's page and the indicators; then the console's
# peak memory and what one uncached count of each overview span costs. Loopback only.
#
# Usage: bench/console_bench.sh [SESSIONS] [DAYS] [CLIENTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-1000000}
days=${2:-30}
clients=${3:-4}
rounds=${4:-25}

cargo build --release -q -p busybait -p busybait-bench
bin=target/release
dir=target/console-bench/$sessions-$days
if [ ! -f "$dir/busybait.db" ]; then
  rm -rf "$dir"
  "$bin/busybait-consolegen" --data-dir "$dir" --sessions "$sessions" --days "$days"
fi
du -sh "$dir/busybait.db"

out=$(mktemp)
"$bin/busybait" web --data-dir "$dir" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^listening web ' "$out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening web //p' "$out")
[ -n "$addr" ] || { echo "the console did not start" >&2; exit 1; }

first=$("$bin/busybait" sessions --data-dir "$dir" --limit 1 --json | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["session"], r["start_time"], r["src_ip"])')
read -r session start src <<<"$first"
"$bin/busybait-webload" --addr "$addr" --clients "$clients" --rounds "$rounds" \
  "/?span=24h" "/?span=all" "/sessions" "/sessions?src=$src" "/sessions?family=gafgyt" \
  "/sessions?user=admin&password=admin" "/sessions?before=2026-11-20T00:00:00.000000Z+ffffffffffff" \
  "/sessions/$session" "/indicators?span=24h"
echo "console peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"

# What the pages above mostly got from the console's counted summaries: one count
# of each span, uncached (`busybait report`, the same store query, in a process of
# its own; the best of three).
for span in 24h 7d 30d all; do
  args=()
  [ "$span" = all ] || args=(--since "$span")
  best=
  for _ in 1 2 3; do
    s=$(date +%s%N)
    "$bin/busybait" report --data-dir "$dir" "${args[@]}" --json >/dev/null
    ms=$(( ($(date +%s%N) - s) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "count of $span: $best ms"
done
