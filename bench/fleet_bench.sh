#!/usr/bin/env bash
# The fleet's throughput: SENSORS sensors (real `busybait serve` shippers, their
# spools fed by busybait-fleetload at RATE events/s each) through a 3-node JetStream
# cluster (stream replicas 3, TLS for clients and routes) and two collectors into
# PostgreSQL, everything on this machine's 127.0.0.1. Reports the end-to-end rate,
# the p50/p99 delay from an event's timestamp to its row, and (phase B) how fast one
# sensor catches up after an outage of OUTAGE seconds while the others go on.
#
#   bench/fleet_bench.sh [SENSORS] [RATE] [SECONDS] [OUTAGE]      (as root: PostgreSQL
#                                                                  runs as `postgres`)
#   Environment: OUTAGE_RATE [1000] (sensor 1's events/s while away), AFTER [60] (the
#   others' seconds of traffic after it is back)
set -euo pipefail
cd "$(dirname "$0")/.."
sensors=${1:-4}
rate=${2:-5000}
seconds=${3:-60}
outage=${4:-120}
root=$PWD
cargo build --release --locked -q -p busybait -p busybait-bench
bin=$root/target/release
work=$(mktemp -d /tmp/busybait-fleet-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Certificates: a CA and one certificate for 127.0.0.1 (clients and routes).
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
  -subj /CN=busybait-bench-ca -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
  -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
  -extfile san.ext 2>/dev/null
tls="tls { cert_file: \"$work/server.pem\", key_file: \"$work/server.key\", ca_file: \"$work/ca.pem\" }"

# Three NATS nodes.
ports=() cports=() urls=()
for i in 0 1 2; do ports+=("$(free_port)"); cports+=("$(free_port)"); done
routes=$(for c in "${cports[@]}"; do printf 'nats-route://127.0.0.1:%s, ' "$c"; done)
for i in 0 1 2; do
  mkdir -p "n$i"
  cat > "n$i/nats.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${ports[$i]}
jetstream { store_dir: "$work/n$i/js" }
$tls
cluster { name: bench, listen: 127.0.0.1:${cports[$i]}, routes: [${routes%, }], $tls }
CONF
  nats-server -c "n$i/nats.conf" -l "n$i/log" &
  pids+=($!)
  urls+=("nats://127.0.0.1:${ports[$i]}")
done
url=$(IFS=,; echo "${urls[*]}")
for _ in $(seq 100); do grep -q "metadata leader" n*/log 2>/dev/null && break; sleep 0.1; done

# PostgreSQL.
pgport=$(free_port)
mkdir pg pgrun && chown postgres pg pgrun
runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$work/pg" -U busybait --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -l "$work/pgrun/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $work/pgrun" start >/dev/null
psql -q -h 127.0.0.1 -p "$pgport" -U busybait -d postgres -c "CREATE DATABASE fleet"
pg="postgres://busybait@127.0.0.1:$pgport/fleet"
q() { psql -tA -h 127.0.0.1 -p "$pgport" -U busybait -d fleet -c "$1"; }

# Two collectors (the first makes the R3 stream).
printf '[fleet]\nca_file = "%s/ca.pem"\n' "$work" > collect.toml
for c in 1 2; do
  "$bin/busybait" collect --config collect.toml --fleet "$url" --store "$pg" --replicas 3 > "collect$c.out" 2> "collect$c.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q collecting "collect$c.out" && break; sleep 0.1; done
done

# The sensors.
spools=() sensor_pids=()
for s in $(seq "$sensors"); do
  printf 'profile = "oracle"\n[fleet]\nurl = "%s"\nca_file = "%s/ca.pem"\n' "$url" "$work" > "s$s.toml"
  "$bin/busybait" serve --config "s$s.toml" --data-dir "$work/s$s" --telnet 127.0.0.1:0 > "s$s.out" 2> "s$s.log" &
  pids+=($!)
  sensor_pids+=($!)
  for _ in $(seq 100); do grep -q listening "s$s.out" && break; sleep 0.1; done
  spools+=(--spool "$work/s$s")
done

printf '== fleet benchmark: %s sensors x %s events/s for %s s (3 nodes, R3, TLS, 2 collectors) on %s\n' \
  "$sensors" "$rate" "$seconds" "$(nproc) cores"
start=$(date +%s.%N)
appended=$("$bin/busybait-fleetload" "${spools[@]}" --rate "$rate" --seconds "$seconds" | awk '{print $2}')
fed=$(date +%s.%N)
for _ in $(seq 1200); do
  [ "$(q 'SELECT count(*) FROM events')" -ge "$appended" ] && break
  sleep 0.5
done
done_at=$(date +%s.%N)
stored=$(q 'SELECT count(*) FROM events')
python3 - "$start" "$fed" "$done_at" "$appended" "$stored" <<'PY'
import sys
start, fed, done, appended, stored = map(float, sys.argv[1:6])
print(f"appended {int(appended)} in {fed-start:.1f} s ({appended/(fed-start):.0f}/s offered); "
      f"all {int(stored)} stored after {done-start:.1f} s: {stored/(done-start):.0f} events/s end to end")
PY
q "SELECT 'delay from event to row: p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 3)
          || ' s, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 3)
          || ' s, max ' || round(max(d)::numeric, 3) || ' s'
   FROM (SELECT extract(epoch FROM stored_at - timestamp::timestamptz) AS d FROM events) x"

# Phase B: sensor 1 away for OUTAGE s (its process stopped) while its spool grows at
# OUTAGE_RATE events/s (1,000 by default; a 30-minute outage's 1.8 M events can be
# made in 90 s at 20,000/s); the others go on at RATE through the outage and for
# AFTER s more, so their delay is measured while sensor 1 catches up too.
[ "$outage" -gt 0 ] || exit 0
outage_rate=${OUTAGE_RATE:-1000}
after=${AFTER:-60}
first=${sensor_pids[0]}
before=$(q "SELECT now()")
kill -STOP "$first"
"$bin/busybait-fleetload" "${spools[@]:0:2}" --rate "$outage_rate" --seconds "$outage" > /dev/null &
feeder1=$!
if [ "$sensors" -gt 1 ]; then
  "$bin/busybait-fleetload" "${spools[@]:2}" --rate "$rate" --seconds "$((outage + after))" > /dev/null &
  feeder2=$!
fi
wait "$feeder1"
id1=$(sed -n 's/^uuid = "\(.*\)"/\1/p' "$work/s1/sensor.toml")
local1=$(sqlite3 "$work/s1/busybait.db" 'SELECT max(seq) FROM events' 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT max(seq) FROM events').fetchone()[0])" "$work/s1/busybait.db")
backlog=$(( local1 - $(q "SELECT COALESCE(max(seq),0) FROM events WHERE sensor = '$id1'") ))
back=$(date +%s.%N)
kill -CONT "$first"
for _ in $(seq 2400); do
  [ "$(q "SELECT COALESCE(max(seq),0) FROM events WHERE sensor = '$id1'")" -ge "$local1" ] && break
  sleep 0.25
done
caught=$(date +%s.%N)
python3 - "$back" "$caught" "$backlog" <<'PY'
import sys
back, caught, backlog = map(float, sys.argv[1:4])
print(f"outage backlog {int(backlog)} events caught up in {caught-back:.1f} s: {backlog/(caught-back):.0f} events/s")
PY
[ -n "${feeder2:-}" ] && wait "$feeder2"
back_at=$(q "SELECT to_timestamp($back)")
caught_at=$(q "SELECT to_timestamp($caught)")
q "SELECT 'others during the outage: p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 3) || ' s'
   FROM (SELECT extract(epoch FROM stored_at - timestamp::timestamptz) AS d FROM events
         WHERE sensor <> '$id1' AND stored_at > '$before' AND timestamp::timestamptz < '$back_at') x"
q "SELECT 'others while it caught up: ' || count(*) || ' events, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 3) || ' s'
   FROM (SELECT extract(epoch FROM stored_at - timestamp::timestamptz) AS d FROM events
         WHERE sensor <> '$id1' AND timestamp::timestamptz BETWEEN '$back_at' AND '$caught_at') x"
