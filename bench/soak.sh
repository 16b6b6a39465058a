#!/usr/bin/env bash
# The soak: a day of a busy sensor's traffic compressed into minutes, with rotation
# and retention accelerated to match, to show that a sensor left alone stays inside
# its disk budget with flat memory and loses nothing it was told to keep.
#
# busybait (release, recordings on, JSON lines + SQLite) takes SESSIONS Mirai loader
# sessions (about 12 events each: 140,000 sessions is the ~1.4 M events a day a
# public T-Pot reports) from busybait-loadgen on 127.0.0.1, with:
#   events.jsonl rotated every ROTATE_BYTES, gzipped;
#   retention: recordings and event rows RETAIN, rotated files and session rows
#   twice that, pruned every 20 s;
#   max_data_bytes BUDGET, checked every 5 s.
# Every 10 s it samples the data dir's size, the sensor's RSS and its events written.
# At the end it checks that the database (the read side) holds every event from the
# oldest it keeps to the last written, none missing, and every JSON line still kept
# from that point on; and reports bytes written to disk per million events
# (/proc/PID/io).
#
# Usage: bench/soak.sh        (numbers go in BENCHMARKS.md)
# Environment: SESSIONS [140000] CONCURRENCY [64] RETAIN [30s] ROTATE_BYTES [16777216]
#              BUDGET [1073741824]
# Nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-140000}
concurrency=${CONCURRENCY:-64}
retain=${RETAIN:-30s}
rotate_bytes=${ROTATE_BYTES:-16777216}
budget=${BUDGET:-1073741824}
for tool in python3; do command -v "$tool" >/dev/null || { echo "soak.sh: $tool is missing" >&2; exit 1; }; done
cargo build --release --locked -p busybait -p busybait-bench >/dev/null
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
double() { python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([a-z]+)','$1'); print(f'{int(m[1])*2}{m[2]}')"; }
cat >"$work/soak.toml" <<CONF
download_tools = []
metrics = "127.0.0.1:0"
[limits]
max_unauthenticated = 20000
[store]
jsonl_rotate_bytes = $rotate_bytes
[retention]
recordings = "$retain"
event_rows = "$retain"
event_files = "$(double "$retain")"
session_rows = "$(double "$retain")"
interval = "20s"
max_data_bytes = $budget
budget_interval = "5s"
CONF
mkdir "$work/data"
./target/release/busybait serve --config "$work/soak.toml" --data-dir "$work/data" \
  --telnet 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
  addr=$(sed -n 's/^listening telnet //p' "$work/out"); metrics=$(sed -n 's/^listening metrics //p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/err" >&2; exit 1; }
metric() { python3 - "$metrics" "$1" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(sys.argv[2] + " ") or line.startswith(sys.argv[2] + "{"):
        print(line.split()[-1]); break
else:
    print(0)
PY
}
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | sed -n 1p)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "sessions $sessions at $concurrency, retain $retain, rotate every $rotate_bytes bytes, budget $budget bytes"
./target/release/busybait-loadgen --target "$addr" --pid "$pid" --scenario loader \
  --sessions "$sessions" --concurrency "$concurrency" >"$work/load" 2>&1 &
load=$!
started=$(date +%s)
printf '%8s %14s %10s %12s\n' seconds data_bytes rss_kib events
while kill -0 "$load" 2>/dev/null; do
  sleep 10
  printf '%8s %14s %10s %12s\n' "$(( $(date +%s) - started ))" "$(du -sb "$work/data" 2>/dev/null | cut -f1)" \
    "$(awk '/VmRSS/{print $2}' "/proc/$pid/status")" "$(metric busybait_events_written_total)"
done
wait "$load" || { cat "$work/load" >&2; exit 1; }
cat "$work/load"
# Let the writers and one retention pass settle, then stop the sensor cleanly.
sleep 25
written=$(awk '$1 == "write_bytes:" {print $2}' "/proc/$pid/io")
events=$(metric busybait_events_written_total)
peak=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
pruned=$(metric 'busybait_pruned_total{class="recordings"}')
kill -TERM "$pid"; wait "$pid" || true; pid=
echo "data dir at the end: $(du -sb "$work/data" | cut -f1) bytes (budget $budget); peak RSS $peak KiB"
echo "recordings pruned: $pruned"
echo "disk written: $written bytes for $events events: $(( written / (events / 1000000 + 1) )) bytes per million (rounded up)"
# The read side (the database) holds every event of the window retention keeps: each
# JSON line still kept whose time is past the oldest row's by a second (events are
# numbered as they are written, not quite in time order, so the window's edge is
# ragged by a fraction of a second) is a row, and the newest row is the last event
# written.
python3 - "$work/data" "$events" <<'PY'
import glob, gzip, json, os, sqlite3, sys
from datetime import datetime, timedelta
d, written = sys.argv[1], int(float(sys.argv[2]))
db = sqlite3.connect(os.path.join(d, "busybait.db"))
lo, hi, n = db.execute("SELECT min(seq), max(seq), count(*) FROM events").fetchone()
t_lo, t_hi = db.execute("SELECT min(timestamp), max(timestamp) FROM events").fetchone()
rows = {r[0] for r in db.execute("SELECT seq FROM events")}
edge = (datetime.fromisoformat(t_lo.replace("Z", "+00:00")) + timedelta(seconds=1)).isoformat()
window, kept = set(), 0
for path in sorted(glob.glob(os.path.join(d, "events.jsonl*"))):
    if path.endswith(".tmp") or path.endswith(".torn"):
        continue
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            e = json.loads(line)
            kept += 1
            t = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).isoformat()
            if t >= edge:
                window.add(e["seq"])
missing = window - rows
print(f"read side: {n} rows, seq {lo}..{hi}, {t_lo} .. {t_hi}; newest row is the last event "
      f"written ({written}): {hi == written}; JSON lines kept {kept}, {len(window)} of them "
      f"a second or more inside the window, missing from the database: {len(missing)}")
sys.exit(0 if hi == written and not missing else 1)
PY
