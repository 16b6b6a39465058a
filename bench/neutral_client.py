#!/usr/bin/env python3
"""A neutral Mirai-style telnet client for comparing sensors: stdlib Python, none of
busybait's code, the same script for every target.

Each session logs in (root/xc3511), sends Mirai's `enable`/`system`/`shell`/`sh`,
probes with `/bin/busybox ECCHI`, reads `/proc/mounts`, appends three `echo -ne`
lines to a file and `cat`s `/bin/echo`, each command followed by the ECCHI probe whose
"applet not found" answer says it is done (as Mirai's loader waits). It prints the
target's CPU time per session, read from /proc/PID/stat before and after.

Loopback only: the target must be 127.0.0.0/8 (it refuses anything else).

Usage: neutral_client.py --target 127.0.0.1:PORT --pid PID [--sessions N]
       [--concurrency C] [--timeout S]
"""

import argparse
import asyncio
import ipaddress
import os
import sys
import time

TOKEN = b"ECCHI: applet not found"
# Three 16-byte appends (an ELF header's start and filler), as the echo dropper writes.
APPENDS = [
    "echo -ne '\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00' > .n",
    "echo -ne '\\x02\\x00\\x28\\x00\\x01\\x00\\x00\\x00\\x54\\x80\\x00\\x00\\x34\\x00\\x00\\x00' >> .n",
    "echo -ne '\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41' >> .n",
]


class Session:
    def __init__(self, reader, writer, deadline):
        self.reader = reader
        self.writer = writer
        self.deadline = deadline
        self.buf = bytearray()

    async def until(self, needle):
        scanned = 0
        while True:
            i = self.buf.find(needle, scanned)
            if i >= 0:
                del self.buf[: i + len(needle)]
                return
            scanned = max(0, len(self.buf) - len(needle))
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waiting for {needle!r}")
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise ConnectionError(f"closed while waiting for {needle!r}")
            self.buf += data
            # Only the tail can still hold the start of a match.
            if len(self.buf) > 1 << 20 and needle not in self.buf:
                keep = len(needle)
                del self.buf[:-keep]
                scanned = 0

    async def send(self, line):
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def cmd(self, line):
        await self.send(f"{line}; /bin/busybox ECCHI")
        await self.until(TOKEN)


def source(i):
    """Session i's source address, spread over 127.1.0.0 and up, so that per-address
    caps apply as they would to many bots."""
    i += 2
    return f"127.{1 + (i >> 16) % 254}.{(i >> 8) % 256}.{i % 256}"


async def one(host, port, i, timeout):
    reader, writer = await asyncio.open_connection(
        host, port, limit=1 << 20, local_addr=(source(i), 0)
    )
    s = Session(reader, writer, time.monotonic() + timeout)
    try:
        await s.until(b"ogin: ")
        await s.send("root")
        await s.until(b"assword: ")
        await s.send("xc3511")
        for word in ("enable", "system", "shell", "sh"):
            await s.send(word)
        await s.send("/bin/busybox ECCHI")
        await s.until(TOKEN)
        await s.cmd("cat /proc/mounts")
        await s.cmd("cd /tmp")
        for line in APPENDS:
            await s.cmd(line)
        await s.cmd("cat /bin/echo")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15, counted from after the command name.
    return int(fields[11]) + int(fields[12])


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="127.0.0.1:PORT")
    p.add_argument("--pid", type=int, required=True, help="the target's process id")
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per session")
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit(f"neutral_client.py: {host} is not a loopback address")
    hz = os.sysconf("SC_CLK_TCK")
    queue = asyncio.Queue()
    for i in range(a.sessions):
        queue.put_nowait(i)
    ok = errors = 0
    first_error = None

    async def worker():
        nonlocal ok, errors, first_error
        while not queue.empty():
            i = queue.get_nowait()
            try:
                await one(host, int(port), i, a.timeout)
                ok += 1
            except (OSError, TimeoutError, ConnectionError, asyncio.TimeoutError) as e:
                errors += 1
                first_error = first_error or repr(e)

    ticks = cpu_ticks(a.pid)
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    wall = time.monotonic() - started
    ticks = cpu_ticks(a.pid) - ticks
    ms = ticks * 1000 / hz
    print(f"sessions {ok} ok, {errors} errors" + (f" (first: {first_error})" if first_error else ""))
    print(f"rate {ok / wall:.1f} sessions/s over {wall:.1f} s")
    print(f"target cpu {ms:.0f} ms ({ms / max(ok, 1):.3f} ms per session)")
    # Errors are reported, not fatal (a slow target times some out); none working is.
    if ok == 0:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
