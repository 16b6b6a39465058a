"""An SSH client on paramiko for the SSH door's tests: it talks only to the sensor
under test on 127.0.0.1 and prints what it saw as one JSON object.

Usage: paramiko_client.py JSON, where JSON has port, user, password and optionally
ident (the identification line to send), kex, ciphers, keys, digests, compression
(preferred lists), and
either "exec" (a command line) or "shell" (bytes typed into a pty shell).
"""
import base64
import json
import socket
import sys
import time

import paramiko


def main():
    args = json.loads(sys.argv[1])
    sock = socket.create_connection(("127.0.0.1", args["port"]), timeout=20)
    transport = paramiko.Transport(sock)
    if "ident" in args:
        transport.local_version = args["ident"]
    opts = transport.get_security_options()
    if "kex" in args:
        opts.kex = args["kex"]
    if "ciphers" in args:
        opts.ciphers = args["ciphers"]
    if "keys" in args:
        opts.key_types = args["keys"]
    if "digests" in args:
        opts.digests = args["digests"]
    if "compression" in args:
        opts.compression = args["compression"]
    result = {}
    try:
        transport.start_client(timeout=20)
        result["server_version"] = transport.remote_version
        result["kex"] = transport.kex_engine.__class__.__name__ if transport.kex_engine else None
        result["cipher"] = transport.remote_cipher
        # `none` first, as many clients do: the server lists its methods.
        try:
            transport.auth_none(args["user"])
        except paramiko.BadAuthenticationType as e:
            result["allowed"] = list(e.allowed_types)
        try:
            transport.auth_password(args["user"], args["password"])
        except paramiko.AuthenticationException:
            result["auth"] = "failed"
            print(json.dumps(result))
            return
        result["auth"] = "ok"
        channel = transport.open_session(timeout=20)
        if "exec" in args:
            channel.exec_command(args["exec"])
            out = b""
            while True:
                data = channel.recv(65536)
                if not data:
                    break
                out += data
            result["exit_status"] = channel.recv_exit_status()
            result["stdout"] = base64.b64encode(out).decode()
        else:
            channel.get_pty(term="vt100", width=80, height=24)
            channel.invoke_shell()
            out = b""
            channel.sendall(args["shell"].encode())
            deadline = time.time() + 20
            while time.time() < deadline:
                data = channel.recv(65536)
                if not data:
                    break
                out += data
            result["exit_status"] = channel.recv_exit_status()
            result["stdout"] = base64.b64encode(out).decode()
    finally:
        transport.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
