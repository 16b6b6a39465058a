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
# At the end it checks that the data dir never went over its budget, that RSS stayed
# flat over the last quarter, that the database (the read side) holds every event from
# the oldest it keeps to the last written, none missing, and every JSON line still kept
# from that point on, and that it kept at least RETAIN of them (unless the budget was
# reached, which takes event rows first); it exits non-zero if not. And it reports
# bytes written to disk per million events (/proc/PID/io).
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
    "$(awk '/VmRSS/{print $2}' "/proc/$pid/status")" "$(metric busybait_events_written_total)" | tee -a "$work/samples"
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
python3 - "$work/data" "$events" "$work/samples" "$budget" "$retain" <<'PY'
import glob, gzip, json, os, re, sqlite3, sys
from datetime import datetime, timedelta
d, written = sys.argv[1], int(float(sys.argv[2]))
samples = [[int(float(x)) for x in l.split()] for l in open(sys.argv[3]) if l.strip()]
budget = int(sys.argv[4])
m = re.fullmatch(r"(\d+)(s|m|h)", sys.argv[5])
retain = int(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]
failed = []
# The data dir, sampled every 10 s, never over its budget.
biggest = max(s[1] for s in samples)
print(f"data dir: at most {biggest} bytes of {budget} ({100 * biggest / budget:.1f} %)")
if biggest > budget:
    failed.append("the data dir went over its budget")
# Memory flat once the per-source caps are full: the last quarter's RSS within a
# tenth of where it stood at three quarters.
at = samples[len(samples) * 3 // 4][2]
last = max(s[2] for s in samples[len(samples) * 3 // 4:])
print(f"RSS: {at} KiB at three quarters of the run, at most {last} KiB after")
if last > at * 1.1:
    failed.append("RSS grew in the last quarter")
near_budget = biggest * 100 >= budget * 95
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
if hi != written or missing:
    failed.append("the read side lacks events it keeps")
# Retention keeps at least `retain` of events (a pass every 20 s removes what is
# older), unless the budget had to take event rows first.
span = (datetime.fromisoformat(t_hi.replace("Z", "+00:00"))
        - datetime.fromisoformat(t_lo.replace("Z", "+00:00"))).total_seconds()
print(f"the database's window: {span:.1f} s (retention keeps {retain} s"
      + ("; the budget was reached and takes event rows first)" if near_budget else ")"))
if span < retain and not near_budget:
    failed.append("retention kept less than it was told to")
for f in failed:
    print(f"FAILED: {f}")
sys.exit(1 if failed else 0)
PY
