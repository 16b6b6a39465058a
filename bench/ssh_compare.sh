#!/usr/bin/env bash
# SSH side by side, in one run: the null SSH server (busybait-ssh's key exchange and
# ciphers, any password, a fixed answer: this machine's limit), busybait's SSH door
# (the `oracle` profile: Dropbear 2022.83, the device behind it, events and
# recordings), and Cowrie 3.1.4's SSH from PyPI, all on 127.0.0.1, loaded by
# bench/ssh_client.py (paramiko: password login, pty shell, `uname -a`, `exit`;
# curve25519, ssh-ed25519, aes128-ctr and hmac-sha2-256 pinned for all three: an
# RSA signature in pure Rust would cost milliseconds). The target runs on core 0,
# the client on core 1. Prints one table with ratios; numbers go in BENCHMARKS.md.
#
# Usage (as root: Cowrie refuses root, so this runs it as an unprivileged user):
#   bench/ssh_compare.sh
# Environment (defaults in brackets):
#   SESSIONS [1000]        sessions against the null server and busybait
#   COWRIE_SESSIONS [300]  sessions against Cowrie
#   CONCURRENCY [8]        sessions at once
#   REFUSED_CONCURRENCY [64] refused logins at once (each waits out the failure delay)
#   HOLD [500]             idle pty sessions busybait holds at once, for memory
#   ROUNDS [3]             full sessions against the null server and busybait, taking
#                          turns this many times; the table shows each one's median
#   COWRIE_HOLD [100]      idle pty sessions Cowrie holds at once
#   WORK [mktemp -d]       where Cowrie's venv and the data dirs go (reuse one to skip the install)
#   DATA_FS [fresh]        fresh: busybait's data dirs on a new loop-mounted ext4; host: in WORK
#
# Nothing leaves loopback: every listener is 127.0.0.1 and the client refuses others.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-1000}
cowrie_sessions=${COWRIE_SESSIONS:-300}
concurrency=${CONCURRENCY:-8}
refused_concurrency=${REFUSED_CONCURRENCY:-64}
hold=${HOLD:-500}
rounds=${ROUNDS:-3}
cowrie_hold=${COWRIE_HOLD:-100}
cowrie_version=3.1.4
bench_user=busybait-bench

die() { echo "ssh_compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: Cowrie refuses root, so this creates the user $bench_user to run it"
[ "$(nproc)" -ge 2 ] || die "needs two cores (target and client pinned apart)"
for tool in taskset setpriv; do command -v "$tool" >/dev/null || die "$tool is missing"; done
ulimit -n "$(ulimit -Hn)"

work=${WORK:-$(mktemp -d /tmp/busybait-ssh-compare.XXXXXX)}
stamp=$(date +%s)
mkdir -p "$work"
chmod 755 "$work"
pids=()
data_root=$work
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -u "$bench_user" -f twistd 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$data_root" != "$work" ]; then
    umount "$data_root" 2>/dev/null || true
    rm -f "$work/data.img"
  fi
  # Data dirs go only now (a reused WORK keeps this run's): see DATA_FS.
  if [ -n "${WORK:-}" ]; then
    find "$work" -maxdepth 1 -name 'data-*' ! -name "data-$stamp-*" -exec rm -rf {} +
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# busybait's data dirs go on a fresh ext4 (made by mkfs, with its journal, as on a
# sensor), loop-mounted, unless DATA_FS=host. A file system's history changes what
# making a file costs: ext4 without a journal (this machine's root) skips every
# inode freed in the last 12 hours (dirtytime_expire_seconds) when it makes a new
# one, and after a day of test runs each recording cost several times more.
if [ "${DATA_FS:-fresh}" = fresh ]; then
  command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing (e2fsprogs), or set DATA_FS=host"
  truncate -s 4G "$work/data.img"
  # Initialised whole now: a lazily initialised one makes its first files pay.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/data.img"
  mkdir -p "$work/fs"
  mount -o loop "$work/data.img" "$work/fs" || die "cannot loop-mount a fresh ext4 (set DATA_FS=host)"
  data_root=$work/fs
fi

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | sed -n 1p)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "-- building"
cargo build --release --locked -p busybait -p busybait-bench >/dev/null 2>&1 \
  || cargo build --release --locked -p busybait -p busybait-bench

echo "-- the client's venv (paramiko) and Cowrie $cowrie_version in $work"
if [ ! -x "$work/client/bin/python" ]; then
  /usr/bin/python3 -m venv "$work/client"
  "$work/client/bin/pip" install -q paramiko==3.5.1
fi
id "$bench_user" >/dev/null 2>&1 \
  || useradd --system --no-create-home --shell /usr/sbin/nologin "$bench_user"
if [ ! -x "$work/cowrie/venv/bin/cowrie" ]; then
  mkdir -p "$work/cowrie"
  /usr/bin/python3 -m venv "$work/cowrie/venv"
  "$work/cowrie/venv/bin/pip" install -q "cowrie==$cowrie_version"
fi

start_pinned() {
  local log=$1; shift
  taskset -c 0 "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  pids+=("$pid")
}

await_ssh() {
  local log=$1
  for _ in $(seq 200); do
    addr=$(sed -n 's/^listening ssh //p' "$log.out")
    [ -n "$addr" ] && return
    kill -0 "$pid" 2>/dev/null || { cat "$log.err" >&2; die "$log did not start"; }
    sleep 0.05
  done
  die "$log did not start listening"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

client() {
  local label=$1; shift
  taskset -c 1 "$work/client/bin/python" bench/ssh_client.py --target "$addr" --pid "$pid" "$@" \
    >"$work/$label.load" 2>&1 || { cat "$work/$label.load" >&2; die "client $label failed"; }
}

field() {
  local f=$work/$1.load
  case $2 in
    rate) sed -n 's/^rate *\([0-9.]*\).*/\1/p' "$f" ;;
    cpu) sed -n 's/.*(\([0-9.]*\) ms per session).*/\1/p' "$f" ;;
    ok) sed -n 's/^sessions *\([0-9]*\) ok.*/\1/p' "$f" ;;
    errors) sed -n 's/.* ok, \([0-9]*\) errors.*/\1/p' "$f" ;;
    before) sed -n 's/.*before \([0-9]*\) KiB.*/\1/p' "$f" ;;
    peak) sed -n 's/.*peak \([0-9]*\) KiB.*/\1/p' "$f" ;;
  esac
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else if (a / b < 10) printf "%.2f", a / b; else printf "%.1f", a / b }'; }
median_cpu() {
  for l in "$@"; do field "$l" cpu; done | sort -n |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
per_session() { awk -v b="$(field "$1" before)" -v p="$(field "$1" peak)" -v n="$(field "$1" ok)" 'BEGIN{printf "%.1f", (p-b)/n}'; }

echo "-- null SSH server"
start_pinned "$work/null" ./target/release/busybait-null-ssh 127.0.0.1:0
await_ssh "$work/null"
client null --sessions "$sessions" --concurrency "$concurrency"
client null-refused --refused --sessions "$sessions" --concurrency "$refused_concurrency"
client null-hold --hold "$hold"
stop "$pid"

echo "-- busybait"
cat >"$work/busybait.toml" <<CONF
profile = "oracle"
[limits]
max_unauthenticated = 20000
CONF
start_pinned "$work/bb" ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$data_root/data-$stamp-busybait" --telnet 127.0.0.1:0 --ssh 127.0.0.1:0
await_ssh "$work/bb"
client bb --sessions "$sessions" --concurrency "$concurrency"
client bb-refused --refused --password not-a-device-password --sessions "$sessions" --concurrency "$refused_concurrency"
stop "$pid"
# The same without session recordings: what the two files per session cost.
printf '[store]\nrecordings = false\n' >>"$work/busybait.toml"
start_pinned "$work/bb-norec" ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$data_root/data-$stamp-norec" --telnet 127.0.0.1:0 --ssh 127.0.0.1:0
await_ssh "$work/bb-norec"
client bb-norec --sessions "$sessions" --concurrency "$concurrency"
stop "$pid"
sed -i '/^\[store\]/,$d' "$work/busybait.toml"
start_pinned "$work/bb-hold" ./target/release/busybait serve --config "$work/busybait.toml" \
  --data-dir "$data_root/data-$stamp-hold" --telnet 127.0.0.1:0 --ssh 127.0.0.1:0
await_ssh "$work/bb-hold"
client bb-hold --hold "$hold"
stop "$pid"
# One run's CPU per session moves by a fifth on this kind of machine, the null
# server's as much as busybait's: more rounds, taking turns, and the median.
null_runs=(null)
bb_runs=(bb)
for r in $(seq 2 "$rounds"); do
  echo "-- round $r of $rounds: the null SSH server and busybait again"
  start_pinned "$work/null" ./target/release/busybait-null-ssh 127.0.0.1:0
  await_ssh "$work/null"
  client "null-r$r" --sessions "$sessions" --concurrency "$concurrency"
  stop "$pid"
  start_pinned "$work/bb" ./target/release/busybait serve --config "$work/busybait.toml" \
    --data-dir "$data_root/data-$stamp-r$r" --telnet 127.0.0.1:0 --ssh 127.0.0.1:0
  await_ssh "$work/bb"
  client "bb-r$r" --sessions "$sessions" --concurrency "$concurrency"
  stop "$pid"
  null_runs+=("null-r$r")
  bb_runs+=("bb-r$r")
done

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
    COWRIE_SSH_ENABLED=yes COWRIE_TELNET_ENABLED=no \
    COWRIE_SSH_LISTEN_ENDPOINTS="tcp:$cowrie_port:interface=127.0.0.1" \
    setpriv --reuid="$bench_user" --regid="$bench_user" --clear-groups \
    "$work/cowrie/venv/bin/cowrie" start
  addr=127.0.0.1:$cowrie_port
  for _ in $(seq 300); do
    grep -q "Ready to accept SSH connections" "$work/cowrie-$1.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/cowrie-$1.out" "$work/cowrie-$1.err" >&2; die "Cowrie did not start"; }
    sleep 0.1
  done
  # The twistd process (cowrie start execs it) is the one measured.
  pid=$(pgrep -u "$bench_user" -f twistd | head -1)
  [ -n "$pid" ] || die "no Cowrie process"
}
start_cowrie run
client cowrie --sessions "$cowrie_sessions" --concurrency "$concurrency"
# Cowrie's default user database refuses root's password "root".
client cowrie-refused --refused --password root --sessions "$cowrie_sessions" --concurrency "$refused_concurrency"
pkill -u "$bench_user" -f twistd || true
sleep 1
start_cowrie hold
client cowrie-hold --hold "$cowrie_hold"
pkill -u "$bench_user" -f twistd || true

echo
echo "| SSH: login, pty shell, uname -a, exit | null SSH server | busybait | Cowrie $cowrie_version | busybait / null | busybait / Cowrie |"
echo "|---|---|---|---|---|---|"
n=$(field null rate); b=$(field bb rate); c=$(field cowrie rate)
echo "| sessions/s (client-bound: paramiko on one core) | $n | $b | $c | $(ratio "$b" "$n") | $(ratio "$b" "$c")× |"
n=$(median_cpu "${null_runs[@]}"); b=$(median_cpu "${bb_runs[@]}"); c=$(field cowrie cpu)
echo "| server CPU ms/session (median of $rounds) | $n | $b | $c | $(ratio "$n" "$b") (sessions per CPU-second) | $(ratio "$c" "$b")× less |"
n=$(field null-refused cpu); b=$(field bb-refused cpu); c=$(field cowrie-refused cpu)
echo "| refused logins/s ($refused_concurrency at once) | $(field null-refused rate) | $(field bb-refused rate) | $(field cowrie-refused rate) | | |"
echo "| server CPU ms per refused login (key exchange, one wrong password; the null server accepts it) | $n | $b | $c | $(ratio "$n" "$b") | $(ratio "$c" "$b")× less |"
n=$(field null cpu); b=$(field bb-norec cpu); c=$(field cowrie cpu)
echo "| server CPU ms/session, busybait without recordings | $n | $b | $c | $(ratio "$n" "$b") | $(ratio "$c" "$b")× less |"
n=$(per_session null-hold); b=$(per_session bb-hold); c=$(per_session cowrie-hold)
echo "| KiB per idle pty session ($(field bb-hold ok) / $(field cowrie-hold ok) held) | $n | $b | $c | | $(ratio "$c" "$b")× less |"
for l in "${null_runs[@]}" null-refused null-hold "${bb_runs[@]}" bb-refused bb-norec bb-hold cowrie cowrie-refused cowrie-hold; do
  e=$(field "$l" errors)
  [ "$e" = 0 ] || echo "note: $l had $e errors (see $work/$l.load)"
done
echo
echo "CPU ms per session, each round: null $(for l in "${null_runs[@]}"; do printf '%s ' "$(field "$l" cpu)"; done)/ busybait $(for l in "${bb_runs[@]}"; do printf '%s ' "$(field "$l" cpu)"; done)"
echo "Raw reports: $work/*.load"
