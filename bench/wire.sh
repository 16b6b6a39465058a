#!/usr/bin/env bash
# The wire at speed: `busybait watch` against Suricata 7 and a plain pcap reader, each
# single-threaded on the same core, over one generated capture of SIZE MiB (default
# 1024) with ground truth. Prints packets/s, Gbit/s, peak RSS and, per detection,
# what each tool found of the labelled attacks. Run as root (installs packages).
#
#   bench/wire.sh [SIZE_MIB]
#
# Installs: Suricata 7 from Debian's bookworm-backports (the suite is added to apt's
# sources from the existing Debian entry), tcpdump, GNU time. Reads and writes only
# files under $WORK (default /tmp/busybait-wire-bench); nothing is sent anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
work=${WORK:-/tmp/busybait-wire-bench}
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/wire.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it installs Suricata and tcpdump)"

# Disk: the capture, Suricata's logs and some room.
mkdir -p "$work"
need_kib=$(( size_mib * 1024 * 2 + 512 * 1024 ))
free_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
[ "$free_kib" -ge "$need_kib" ] || die "need $((need_kib / 1024)) MiB free in $work, have $((free_kib / 1024)) MiB"

# Suricata 7 from bookworm-backports.
if ! command -v suricata >/dev/null 2>&1 || ! suricata -V 2>/dev/null | grep -q 'version 7'; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    src=$(grep -rls '^URIs: *http://deb.debian.org/debian/\?$' /etc/apt/sources.list.d/ | head -1 || true)
    if [ -n "$src" ]; then
      say "adding bookworm-backports (from $src)"
      awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm/ && /deb\.debian\.org\/debian\/?\n/ {
             sub(/Suites:[^\n]*/, "Suites: bookworm-backports"); print; exit }' "$src" \
        > /etc/apt/sources.list.d/busybait-backports.sources
    else
      line=$(grep -hE '^deb .*deb\.debian\.org/debian/? bookworm ' /etc/apt/sources.list | head -1 || true)
      [ -n "$line" ] || die "no Debian bookworm entry in apt's sources to derive bookworm-backports from"
      say "adding bookworm-backports (from /etc/apt/sources.list)"
      echo "$line" | sed 's/ bookworm / bookworm-backports /' > /etc/apt/sources.list.d/busybait-backports.list
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports suricata >/dev/null
fi
command -v tcpdump >/dev/null 2>&1 || apt-get install -y -qq tcpdump >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
suricata_version=$(suricata -V 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p')
[[ "$suricata_version" == 7.* ]] || die "Suricata 7 is needed, have ${suricata_version:-none}"

say "building (release)"
cargo build --release --locked -p busybait -p busybait-bench >&2
bin=target/release

capture="$work/mixed-${size_mib}mib.pcap"
if [ ! -s "$capture" ] || [ ! -s "${capture%.pcap}.truth.tsv" ]; then
  say "generating $capture"
  "$bin/busybait-gen-capture" --out "$capture" --mib "$size_mib"
fi
bytes=$(stat -c %s "$capture")
packets=$(tcpdump -r "$capture" -w /dev/null --count 2>/dev/null | awk '{print $1}' || true)
[ -n "$packets" ] || packets=$("$bin/busybait" watch --no-store --json --pcap "$capture" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["counters"]["frames"])')

# Each tool: wall seconds and peak RSS (KiB) from GNU time, pinned to core 0.
measure() {
  local name=$1; shift
  local tlog="$work/$name.time"
  taskset -c 0 /usr/bin/time -f '%e %M' -o "$tlog" "$@" >"$work/$name.out" 2>"$work/$name.err" \
    || die "$name failed: $(tail -5 "$work/$name.err")"
  read -r secs rss <"$tlog"
  printf '%s %s %s\n' "$name" "$secs" "$rss"
}

# Suricata: the default config, our rules only, alerts only in EVE, no checksum
# validation (generated packets carry right checksums; it is the same work), one
# worker thread.
suri_dir="$work/suricata"
rm -rf "$suri_dir"; mkdir -p "$suri_dir"
cat >"$suri_dir/only-alerts.yaml" <<'YAML'
%YAML 1.1
---
include: /etc/suricata/suricata.yaml
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
YAML

say "floor: tcpdump -r (no analysis)"
r_floor=$(measure tcpdump tcpdump -r "$capture" -w /dev/null)
say "busybait watch"
r_busy=$(measure busybait "$bin/busybait" watch --no-store --json --eve "$work/busybait-eve.json" --pcap "$capture")
say "suricata $suricata_version (single runmode)"
r_suri=$(measure suricata suricata -c "$suri_dir/only-alerts.yaml" --runmode single -k none \
  -S "$PWD/bench/suricata/busybait.rules" -l "$suri_dir" -r "$capture")
[ -s "$suri_dir/eve.json" ] || touch "$suri_dir/eve.json"

python3 - "$capture" "$bytes" "$packets" "$work" "$suri_dir/eve.json" "$suricata_version" \
  "$r_floor" "$r_busy" "$r_suri" <<'PY'
import collections, json, sys
capture, nbytes, packets, work, suri_eve, suri_version = sys.argv[1:7]
nbytes, packets = int(nbytes), int(packets)
runs = [r.split() for r in sys.argv[7:]]
print(f"capture: {capture}: {nbytes / 2**20:.0f} MiB, {packets} packets")
print(f"{'tool':<28} {'seconds':>8} {'packets/s':>12} {'Gbit/s':>7} {'peak RSS MiB':>13}")
for name, secs, rss in runs:
    secs, rss = float(secs), int(rss)
    label = {"tcpdump": "tcpdump -r (floor)", "busybait": "busybait watch",
             "suricata": f"Suricata {suri_version}"}[name]
    print(f"{label:<28} {secs:>8.2f} {packets / secs:>12,.0f} {nbytes * 8 / secs / 1e9:>7.2f} {rss / 1024:>13.1f}")
times = {n: float(s) for n, s, _ in runs}
print(f"busybait / Suricata packets/s: {times['suricata'] / times['busybait']:.1f}x; "
      f"busybait / floor: {times['tcpdump'] / times['busybait']:.2f}")

truth = collections.defaultdict(set)
for line in open(capture[:-len(".pcap")] + ".truth.tsv"):
    det, src = line.split()
    truth[det].add(src)
ours = collections.defaultdict(set)
for a in json.load(open(f"{work}/busybait.out"))[0]["alerts"]:
    ours[a["id"]].add(a["src"])
names = {9100001: "mirai-syn-scan", 9100002: "telnet-scan", 9100003: "telnet-bruteforce",
         9100004: "mirai-telnet-client", 9100005: "mirai-shell-content", 9100006: "mirai-report",
         9100007: "mirai-c2-handshake", 9100008: "mirai-bins-download", 9100009: "mirai-vse-flood",
         9100010: "mirai-syn-flood", 9100011: "mirai-ack-flood", 9100012: "udp-flood",
         9100013: "mirai-gre-flood", 9100014: "mirai-http-flood", 9100015: "dns-water-torture",
         9100016: "dns-direct-8888"}
theirs = collections.defaultdict(set)
for line in open(suri_eve):
    e = json.loads(line)
    if e.get("event_type") != "alert":
        continue
    sid = e["alert"]["signature_id"]
    # Extra rules of one detection (9100105, 9100114, ...) end in its number.
    det = names.get(9100000 + sid % 100, str(sid))
    # Which side is the attacker: busybait names the source of the attack; for the
    # failed-login rule (server to client) that is the destination.
    src = e["dest_ip"] if det == "telnet-bruteforce" else e["src_ip"]
    theirs[det].add(src)
print()
print(f"{'detection':<22} {'labelled':>8} {'busybait':>9} {'extra':>6} {'Suricata':>9} {'extra':>6}")
for det in sorted(set(truth) | set(ours) | set(theirs)):
    t = truth[det]
    print(f"{det:<22} {len(t):>8} {len(ours[det] & t):>9} {len(ours[det] - t):>6} "
          f"{len(theirs[det] & t):>9} {len(theirs[det] - t):>6}")
PY
