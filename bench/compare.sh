#!/usr/bin/env bash
# Side by side, in one run: the null sensor (the same bytes, no emulation: this
# machine's limit), busybait, and Cowrie 3.1.4 from PyPI, all on 127.0.0.1, loaded by
# busybait-loadgen with the Mirai scanner dialogue, the Mirai loader's echo path and
# idle logged-in sessions, and by bench/neutral_client.py (stdlib Python, none of
# busybait's code: login, enable/system/shell/sh, ECCHI, /proc/mounts, three echo -ne
# appends, cat /bin/echo; 50 at once). The target runs on core 0, the load generator on core 1.
# Prints one table with ratios, then the memory measurements. Numbers go in
# BENCHMARKS.md.
#
# Usage (as root: it creates the unprivileged user Cowrie runs as):
#   bench/compare.sh
# Environment (defaults in brackets):
#   SESSIONS [2000]        scanner and loader sessions against the null sensor and busybait
#   CONCURRENCY [64]       sessions at once
#   COWRIE_SESSIONS [100]  scanner, loader and neutral sessions against Cowrie (about 1 loader/s)
#   NEUTRAL_CONCURRENCY [50] neutral client sessions at once
#   IDLE [19900]           idle sessions busybait holds at once (see the fd note below)
#   COWRIE_IDLE [200]      idle sessions Cowrie holds at once (its listen backlog is 50)
#   WORK [mktemp -d]       where Cowrie's venv and every data dir go
#
# Nothing here leaves loopback: every listener is 127.0.0.1, the load generator and
# the null sensor refuse anything else, and the scripts played contain no URL (so
# Cowrie, which really fetches, has nothing to fetch).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sessions=${SESSIONS:-2000}
concurrency=${CONCURRENCY:-64}
cowrie_sessions=${COWRIE_SESSIONS:-100}
idle=${IDLE:-19900}
cowrie_idle=${COWRIE_IDLE:-200}
neutral_concurrency=${NEUTRAL_CONCURRENCY:-50}
cowrie_version=3.1.4
bench_user=busybait-bench

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: Cowrie refuses root, so this creates the user $bench_user to run it"
[ "$(nproc)" -ge 2 ] || die "needs two cores (target and load generator pinned apart)"
for tool in taskset setpriv ss python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (Cowrie's venv must be readable by $bench_user)"

# Every session is a socket: 20,000 open files is this machine's hard limit.
ulimit -n "$(ulimit -Hn)"
fds=$(ulimit -n)
[ "$fds" -ge $((idle + 64)) ] || die "open-file limit $fds is below IDLE=$idle plus the sensor's own files; lower IDLE"

work=${WORK:-$(mktemp -d /tmp/busybait-compare.XXXXXX)}
mkdir -p "$work"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | sed -n 1p)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), open files $fds"
echo "-- building"
cargo build --release --locked -p busybait -p busybait-bench >/dev/null 2>&1 \
  || cargo build --release --locked -p busybait -p busybait-bench

echo "-- installing Cowrie $cowrie_version into $work/cowrie"
id "$bench_user" >/dev/null 2>&1 \
  || useradd --system --no-create-home --shell /usr/sbin/nologin "$bench_user"
if [ ! -x "$work/cowrie/venv/bin/cowrie" ]; then
  mkdir -p "$work/cowrie"
  /usr/bin/python3 -m venv "$work/cowrie/venv"
  "$work/cowrie/venv/bin/pip" install -q "cowrie==$cowrie_version"
fi
"$work/cowrie/venv/bin/python" -c "import importlib.metadata as m; v=m.version('cowrie'); assert v=='$cowrie_version', v"

# --- helpers ---------------------------------------------------------------------

# Starts a target pinned to core 0; sets $pid. Remaining args: the command.
start_pinned() {
  local log=$1; shift
  taskset -c 0 "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  pids+=("$pid")
}

# Waits for "listening telnet ADDR" on the target's stdout; sets $addr.
await_listening() {
  local log=$1
  for _ in $(seq 200); do
    addr=$(sed -n 's/^listening telnet //p' "$log.out")
    [ -n "$addr" ] && return
    kill -0 "$pid" 2>/dev/null || { cat "$log.err" >&2; die "$log did not start"; }
    sleep 0.05
  done
  die "$log did not start listening"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# Runs the load generator on core 1; its report goes to $work/<label>.load.
load() {
  local label=$1; shift
  taskset -c 1 ./target/release/busybait-loadgen --target "$addr" --pid "$pid" "$@" \
    >"$work/$label.load" 2>&1 || { cat "$work/$label.load" >&2; die "load $label failed"; }
}

# Runs the neutral client on core 1 (against $addr and $pid); its report goes to
# $work/<label>.load in the load generator's format.
neutral() {
  local label=$1 n=$2
  taskset -c 1 /usr/bin/python3 bench/neutral_client.py --target "$addr" --pid "$pid" \
    --sessions "$n" --concurrency "$neutral_concurrency" --timeout 300 \
    >"$work/$label.load" 2>&1 || { cat "$work/$label.load" >&2; die "neutral client against $label failed"; }
}

# Fields of a load report.
field() {
  local label=$1 what=$2 f=$work/$1.load
  case $what in
    rate) sed -n 's/^rate *\([0-9.]*\).*/\1/p' "$f" ;;
    cpu) sed -n 's/.*(\([0-9.]*\) ms per session).*/\1/p' "$f" ;;
    ok) sed -n 's/^sessions *\([0-9]*\) ok.*/\1/p' "$f" ;;
    errors) sed -n 's/.* ok, \([0-9]*\) errors.*/\1/p' "$f" ;;
    before) sed -n 's/.*before \([0-9]*\) KiB.*/\1/p' "$f" ;;
    peak) sed -n 's/.*peak \([0-9]*\) KiB.*/\1/p' "$f" ;;
    p99) sed -n 's/.*p99 \([0-9.]*\).*/\1/p' "$f" ;;
  esac
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else if (a / b < 10) printf "%.2f", a / b; else printf "%.1f", a / b }'; }

# --- the null sensor -------------------------------------------------------------

echo "-- null sensor"
start_pinned "$work/null" ./target/release/busybait-null-sensor 127.0.0.1:0
await_listening "$work/null"
load null-scanner --scenario scanner --sessions "$sessions" --concurrency "$concurrency"
load null-loader --scenario loader --sessions "$sessions" --concurrency "$concurrency"
neutral null-neutral "$sessions"
stop "$pid"

# --- busybait --------------------------------------------------------------------

echo "-- busybait"
mkdir -p "$work/busybait"
cat >"$work/busybait.toml" <<EOF
# No download tools, so Mirai's loader takes its echo path; per-source state kept
# 10 s so the benchmark can see the memory come back.
download_tools = []
[limits]
max_unauthenticated = 20000
source_files_retention = "10s"
[auth]
retention = "10s"
EOF
start_pinned "$work/bb" ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$work/busybait" --telnet 127.0.0.1:0
await_listening "$work/bb"
load bb-scanner --scenario scanner --sessions "$sessions" --concurrency "$concurrency"
neutral bb-neutral "$sessions"
# A warm-up at the same concurrency, then the measured run: memory after it minus
# memory after the warm-up is what sessions leave behind (their files, per source).
load bb-warm --scenario loader --sessions 200 --concurrency "$concurrency"
sleep 12
bb_warm_rss=$(rss_kib "$pid")
load bb-loader --scenario loader --sessions "$sessions" --concurrency "$concurrency"
# Three seconds on (less than the 10 s retention): what the closed sessions keep is
# their files, per source; the allocator has given the rest back.
sleep 3
bb_after_rss=$(rss_kib "$pid")
sleep 15 # past the retention (10 s) and a sweep
bb_expired_rss=$(rss_kib "$pid")
# The same load again: a steady state grows no further.
load bb-loader2 --scenario loader --sessions "$sessions" --concurrency "$concurrency"
sleep 3
bb_after2_rss=$(rss_kib "$pid")
sleep 15
bb_expired2_rss=$(rss_kib "$pid")
bb_disk=$(du -sk "$work/busybait" | cut -f1)
stop "$pid"

# Idle sessions on a fresh sensor, so the count is theirs alone.
rm -rf "$work/busybait-idle"
start_pinned "$work/bb-idle" ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$work/busybait-idle" --telnet 127.0.0.1:0
await_listening "$work/bb-idle"
load bb-idle --scenario idle --hold 20 --sessions "$idle" --concurrency "$idle" --timeout 120
stop "$pid"

# --- Cowrie ----------------------------------------------------------------------

echo "-- Cowrie $cowrie_version"
cowrie_port=$((20000 + RANDOM % 10000))
start_cowrie() {
  local state=$work/cowrie/$1
  rm -rf "$state"
  mkdir -p "$state"
  (cd "$state" && "$work/cowrie/venv/bin/python" -c \
    "from cowrie.scripts.cowrie import cowrie_init; cowrie_init()" >/dev/null)
  chown -R "$bench_user:" "$state"
  start_pinned "$work/cowrie-$1" env -C "$state" -i \
    PATH="$work/cowrie/venv/bin:/usr/bin:/bin" HOME="$state" COWRIE_STDOUT=yes \
    COWRIE_SSH_ENABLED=no COWRIE_TELNET_ENABLED=yes \
    COWRIE_TELNET_LISTEN_ENDPOINTS="tcp:$cowrie_port:interface=127.0.0.1" \
    setpriv --reuid="$bench_user" --regid="$bench_user" --clear-groups \
    "$work/cowrie/venv/bin/cowrie" start
  addr=127.0.0.1:$cowrie_port
  for _ in $(seq 300); do
    grep -q "Ready to accept Telnet connections" "$work/cowrie-$1.out" 2>/dev/null && return
    kill -0 "$pid" 2>/dev/null || { cat "$work/cowrie-$1.out" "$work/cowrie-$1.err" >&2; die "Cowrie did not start"; }
    sleep 0.1
  done
  die "Cowrie did not start listening"
}
start_cowrie run
load cowrie-scanner --scenario scanner --sessions "$cowrie_sessions" --concurrency 8 --timeout 120
cw_before_rss=$(rss_kib "$pid")
load cowrie-loader --scenario loader --sessions "$cowrie_sessions" --concurrency 8 --timeout 300
sleep 3
cw_after_rss=$(rss_kib "$pid")
sleep 15
cw_expired_rss=$(rss_kib "$pid")
neutral cowrie-neutral "$cowrie_sessions"
stop "$pid"
start_cowrie idle
load cowrie-idle --scenario idle --hold 20 --sessions "$cowrie_idle" --concurrency "$cowrie_idle" --timeout 120
stop "$pid"

# --- report ----------------------------------------------------------------------

echo
echo "| scenario | null sensor | busybait | Cowrie $cowrie_version | busybait / null | busybait / Cowrie |"
echo "|---|---|---|---|---|---|"
for s in scanner loader neutral; do
  n=$(field "null-$s" rate); b=$(field "bb-$s" rate); c=$(field "cowrie-$s" rate)
  echo "| $s sessions/s | $n | $b | $c | $(ratio "$b" "$n") | $(ratio "$b" "$c")× |"
  n=$(field "null-$s" cpu); b=$(field "bb-$s" cpu); c=$(field "cowrie-$s" cpu)
  echo "| $s CPU ms/session | $n | $b | $c | $(ratio "$b" "$n")× | $(ratio "$c" "$b")× less |"
done
for l in null-scanner null-loader null-neutral bb-scanner bb-loader bb-neutral bb-idle \
  cowrie-scanner cowrie-loader cowrie-neutral cowrie-idle; do
  e=$(field "$l" errors)
  [ "$e" = 0 ] || echo "note: $l had $e errors (see $work/$l.load)"
done

# Per session held: peak RSS growth over the sessions that were logged in.
bb_idle_ok=$(field bb-idle ok)
cw_idle_ok=$(field cowrie-idle ok)
bb_idle_per=$(awk -v b="$(field bb-idle before)" -v p="$(field bb-idle peak)" -v n="$bb_idle_ok" 'BEGIN{printf "%.1f", (p-b)/n}')
cw_idle_per=$(awk -v b="$(field cowrie-idle before)" -v p="$(field cowrie-idle peak)" -v n="$cw_idle_ok" 'BEGIN{printf "%.1f", (p-b)/n}')
bb_file_per=$(awk -v w="$bb_warm_rss" -v a="$bb_after_rss" -v n="$sessions" 'BEGIN{printf "%.1f", (a-w)/n}')
cw_file_per=$(awk -v w="$cw_before_rss" -v a="$cw_after_rss" -v n="$cowrie_sessions" 'BEGIN{printf "%.1f", (a-w)/n}')
echo
echo "| memory | busybait | Cowrie $cowrie_version | ratio |"
echo "|---|---|---|---|"
echo "| per idle logged-in session (KiB, peak RSS growth / sessions) | $bb_idle_per | $cw_idle_per | $(ratio "$cw_idle_per" "$bb_idle_per")× less |"
echo "| idle sessions held at once, peak RSS (MiB) | $bb_idle_ok of $idle, $(( $(field bb-idle peak) / 1024 )) | $cw_idle_ok of $cowrie_idle, $(( $(field cowrie-idle peak) / 1024 )) | |"
echo "| per loader session that wrote a 1,280-byte file (KiB kept after it closed) | $bb_file_per | $cw_file_per | $(ratio "$cw_file_per" "$bb_file_per")× less |"
echo "| RSS after a warm-up / 3 s after the load / 18 s after (KiB) | $bb_warm_rss / $bb_after_rss / $bb_expired_rss (retention 10 s) | $cw_before_rss / $cw_after_rss / $cw_expired_rss | |"
echo "| the same load again: 3 s / 18 s after (KiB) | $bb_after2_rss / $bb_expired2_rss | | |"
echo "| busybait data dir after $((sessions + 200)) loader + $sessions scanner sessions | $((bb_disk / 1024)) MiB | | |"
echo "| busybait loader sessions/s, second run | $(field bb-loader2 rate) | | |"
echo
echo "Raw reports: $work/*.load"
