#!/usr/bin/env python3
"""SSH load for bench/ssh_compare.sh: paramiko sessions against one target on
127.0.0.1, each logging in with a password, opening a pty shell, running `uname -a`
and `exit`. The algorithms are pinned (curve25519, ssh-ed25519, aes128-ctr,
hmac-sha2-256) so that every target does the same cryptography. Reports in
busybait-loadgen's format: rate, the target's CPU per session (from /proc/PID/stat),
and, with --hold, the target's RSS with that many sessions open at once.

Loopback only: the target must be 127.0.0.1.
"""
import argparse
import itertools
import logging
import os
import socket
import sys
import threading
import time

import paramiko

TICKS = os.sysconf("SC_CLK_TCK")
# Failures are counted and summed up; paramiko's own tracebacks would drown them.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
COUNTER = itertools.count()


def source():
    """The next session's source address, spread over 127.1.0.0 and up (as
    neutral_client.py does), so that per-address limits do not get in the way."""
    i = next(COUNTER)
    return f"127.{1 + (i >> 16) % 254}.{(i >> 8) % 256}.{i % 256}"


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based), 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) * 1000.0 / TICKS


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_until(chan, needle, deadline):
    got = b""
    while needle not in got:
        if time.time() > deadline:
            raise TimeoutError(f"no {needle!r} in {got[-200:]!r}")
        chunk = chan.recv(65536)
        if not chunk:
            raise EOFError(f"closed before {needle!r}")
        got += chunk
    return got


def open_session(host, port, user, password, timeout):
    sock = socket.create_connection((host, port), timeout=timeout, source_address=(source(), 0))
    t = paramiko.Transport(sock)
    opts = t.get_security_options()
    opts.kex = ["curve25519-sha256@libssh.org"]
    opts.key_types = ["ssh-ed25519"]
    opts.ciphers = ["aes128-ctr"]
    opts.digests = ["hmac-sha2-256"]
    t.start_client(timeout=timeout)
    t.auth_password(user, password)
    chan = t.open_session(timeout=timeout)
    chan.get_pty(term="vt100", width=80, height=24)
    chan.invoke_shell()
    deadline = time.time() + timeout
    read_until(chan, b"# ", deadline)
    return t, chan


def refused(host, port, user, password, timeout):
    """A brute-forcer's attempt: key exchange, one wrong password, gone."""
    sock = socket.create_connection((host, port), timeout=timeout, source_address=(source(), 0))
    t = paramiko.Transport(sock)
    opts = t.get_security_options()
    opts.kex = ["curve25519-sha256@libssh.org"]
    opts.key_types = ["ssh-ed25519"]
    opts.ciphers = ["aes128-ctr"]
    opts.digests = ["hmac-sha2-256"]
    try:
        t.start_client(timeout=timeout)
        try:
            t.auth_password(user, password)
        except paramiko.AuthenticationException:
            pass
    finally:
        t.close()


def one(host, port, user, password, timeout):
    t, chan = open_session(host, port, user, password, timeout)
    try:
        deadline = time.time() + timeout
        chan.sendall(b"uname -a\r")
        read_until(chan, b"# ", deadline)
        chan.sendall(b"exit\r")
        while chan.recv(65536):
            if time.time() > deadline:
                raise TimeoutError("no close after exit")
    finally:
        t.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--user", default="root")
    ap.add_argument("--password", default="xc3511")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--hold", type=int, default=0, help="open this many sessions at once, report RSS, close them")
    ap.add_argument("--refused", action="store_true", help="each session: one wrong password, then gone")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    if host != "127.0.0.1":
        sys.exit("ssh_client.py: the target must be on 127.0.0.1")
    port = int(port)
    if a.hold:
        before = rss_kib(a.pid)
        held, errors = [], 0
        for _ in range(a.hold):
            try:
                held.append(open_session(host, port, a.user, a.password, a.timeout))
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                if errors <= 5:
                    print(f"error: {e!r}", file=sys.stderr)
        time.sleep(2)
        peak = rss_kib(a.pid)
        for t, _ in held:
            t.close()
        print(f"sessions {len(held)} ok, {errors} errors")
        print(f"memory before {before} KiB, peak {peak} KiB")
        return
    lock = threading.Lock()
    todo = list(range(a.sessions))
    ok, errors = [0], [0]

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            try:
                if a.refused:
                    refused(host, port, a.user, a.password, a.timeout)
                else:
                    one(host, port, a.user, a.password, a.timeout)
                with lock:
                    ok[0] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors[0] += 1
                    if errors[0] <= 5:
                        print(f"error: {e!r}", file=sys.stderr)

    cpu0, t0 = cpu_ms(a.pid), time.time()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall, cpu = time.time() - t0, cpu_ms(a.pid) - cpu0
    print(f"sessions {ok[0]} ok, {errors[0]} errors")
    print(f"rate {ok[0] / wall:.1f} sessions/s")
    print(f"cpu {cpu:.0f} ms ({cpu / max(ok[0], 1):.2f} ms per session)")


if __name__ == "__main__":
    main()
