"""asyncssh and libssh2 (the ssh2-python wheel) against the SSH door under test on
127.0.0.1: `exec` (output and exit status) and a pty shell with each, with their
default algorithms; then one `exec` with each client per pinned combination given.
Prints one JSON object per client.

Usage: more_clients.py PORT [COMBOS]
COMBOS: a JSON list of {"kex", "key", "cipher", "mac", "comp"} objects ("comp" is
for asyncssh only: libssh2 has no compression here).
"""
import asyncio
import json
import socket
import sys
import time


async def with_asyncssh(port):
    out = {}
    async with asyncssh.connect(
        "127.0.0.1", port, username="root", password="xc3511",
        known_hosts=None, client_keys=None,
    ) as conn:
        out["server_version"] = conn.get_extra_info("server_version")
        r = await conn.run("echo from-asyncssh; exit 6")
        out["exec_stdout"] = r.stdout
        out["exec_status"] = r.exit_status
        proc = await conn.create_process(term_type="vt100", term_size=(80, 24))
        proc.stdin.write("echo $((2*21))\r")
        got = ""
        deadline = time.time() + 20
        while "42\r\n" not in got and time.time() < deadline:
            got += await asyncio.wait_for(proc.stdout.read(4096), 20)
        proc.stdin.write("exit\r")
        await asyncio.wait_for(proc.wait(), 20)
        out["shell"] = got
        out["shell_status"] = proc.exit_status
    return out


async def pinned_asyncssh(port, combo):
    async with asyncssh.connect(
        "127.0.0.1", port, username="root", password="xc3511",
        known_hosts=None, client_keys=None,
        kex_algs=[combo["kex"]], server_host_key_algs=[combo["key"]],
        encryption_algs=[combo["cipher"]], mac_algs=[combo["mac"]],
        compression_algs=[combo.get("comp", "none")],
    ) as conn:
        r = await conn.run("echo pinned-asyncssh")
        return r.stdout


def pinned_libssh2(port, combo):
    import ssh2.session as ss
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = Session()
    for method, name in [
        (ss.LIBSSH2_METHOD_KEX, "kex"), (ss.LIBSSH2_METHOD_HOSTKEY, "key"),
        (ss.LIBSSH2_METHOD_CRYPT_CS, "cipher"), (ss.LIBSSH2_METHOD_CRYPT_SC, "cipher"),
        (ss.LIBSSH2_METHOD_MAC_CS, "mac"), (ss.LIBSSH2_METHOD_MAC_SC, "mac"),
    ]:
        s.method_pref(method, combo[name])
    s.handshake(sock)
    s.userauth_password("root", "xc3511")
    return libssh2_exec(s, "echo pinned-libssh2")[0]


def libssh2_exec(s, command):
    """Runs `command` on a channel of its own: (stdout, exit status)."""
    chan = s.open_session()
    chan.execute(command)
    data = b""
    while True:
        size, chunk = chan.read()
        if size <= 0:
            break
        data += chunk
    chan.wait_eof()
    chan.close()
    chan.wait_closed()
    return data.decode(), chan.get_exit_status()


def with_libssh2(port):
    out = {}
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = Session()
    s.handshake(sock)
    s.userauth_password("root", "xc3511")
    out["exec_stdout"], out["exec_status"] = libssh2_exec(s, "echo from-libssh2; exit 7")
    chan = s.open_session()
    chan.pty("vt100")
    chan.shell()
    chan.write(b"echo $((3*14))\r")
    got = b""
    deadline = time.time() + 20
    while b"42\r\n" not in got and time.time() < deadline:
        size, chunk = chan.read()
        if size > 0:
            got += chunk
        else:
            time.sleep(0.01)
    chan.write(b"exit\r")
    chan.wait_eof()
    chan.close()
    chan.wait_closed()
    out["shell"] = got.decode(errors="replace")
    out["shell_status"] = chan.get_exit_status()
    return out


if __name__ == "__main__":
    import asyncssh
    from ssh2.session import Session

    port = int(sys.argv[1])
    combos = json.loads(sys.argv[2]) if len(sys.argv) > 2 else []
    out = {"asyncssh": asyncio.run(with_asyncssh(port)), "libssh2": with_libssh2(port)}
    out["asyncssh"]["pinned"] = [asyncio.run(pinned_asyncssh(port, c)) for c in combos]
    out["libssh2"]["pinned"] = [pinned_libssh2(port, c) for c in combos]
    print(json.dumps(out))
