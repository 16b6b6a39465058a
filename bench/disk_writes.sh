#!/usr/bin/env bash
# Bytes written to disk per million events, by what is on: busybait (release) takes
# SESSIONS Mirai loader sessions from busybait-loadgen on 127.0.0.1 with the default
# store (JSON lines + SQLite + recordings), then without recordings, then with only
# the JSON lines, then only SQLite; /proc/PID/io's write_bytes after a clean stop.
# No retention passes or budget run in these (the defaults prune hourly, nothing is
# old enough). Usage: bench/disk_writes.sh   Environment: SESSIONS [20000]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-20000}
command -v sqlite3 >/dev/null || { echo "disk_writes.sh: sqlite3 is missing (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release --locked -p busybait -p busybait-bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $sessions loader sessions each"
printf '| store | events | bytes written | per million events | per event |\n|---|---|---|---|---|\n'
for setting in "default:" "no recordings:recordings = false" \
  "JSON lines only:recordings = false\nsqlite = false" "SQLite only:recordings = false\njsonl = false"; do
  label=${setting%%:*}
  printf 'download_tools = []\n[limits]\nmax_unauthenticated = 20000\n[store]\n%b\n' "${setting#*:}" >"$work/c.toml"
  rm -rf "$work/data"
  ./target/release/busybait serve --config "$work/c.toml" --data-dir "$work/data" \
    --telnet 127.0.0.1:0 >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 100); do addr=$(sed -n 's/^listening telnet //p' "$work/out"); [ -n "$addr" ] && break; sleep 0.1; done
  ./target/release/busybait-loadgen --target "$addr" --scenario loader --sessions "$sessions" \
    --concurrency 64 >"$work/load" 2>&1
  # Written by the process so far (its threads too), read just before it exits.
  kill -TERM "$pid"
  written=0
  while kill -0 "$pid" 2>/dev/null; do
    w=$(awk '$1 == "write_bytes:" {print $2}' "/proc/$pid/io" 2>/dev/null || true)
    [ -n "$w" ] && written=$w
    sleep 0.05
  done
  wait "$pid" || true
  if [ -f "$work/data/busybait.db" ]; then
    events=$(sqlite3 "$work/data/busybait.db" 'SELECT max(seq) FROM events')
  else
    events=$(wc -l <"$work/data/events.jsonl")
  fi
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$events" "$written" \
    "$(( written * 1000000 / events ))" "$(( written / events ))"
done
