"""Hostile ZMTP peers for the issue 18 tests, run as an unprivileged user (nobody).

    /usr/bin/python3 hostile_peers.py ROLE ENDPOINT [ARG]

Standard library only, and ZMTP written out byte by byte here rather than taken from
nagios_ipc.zmqhwm.zmtp: the attacker must not share a bug with the code it attacks.
Each role prints one JSON line when it is ready (servers) or done (clients).

Clients (against the helper in an application):
  more-flood ENDPOINT MBYTES   one request of endless 1000-byte MORE frames (each frame
                               under the old per-frame limit of 1 KiB) until MBYTES are
                               sent or the helper closes the connection
  pipeline-flood ENDPOINT SECS 'stats' requests pipelined 200 at a time without reading,
                               reconnecting whenever dropped, for SECS seconds
Servers (in place of the helper, against the check):
  fake-rep ENDPOINT FILE       answers every request with the bytes of FILE (its own
                               pid for a "pid": 0 at the end)
  endless-rep ENDPOINT frames  answers every request with MORE frames of 64 KiB for ever
  endless-rep ENDPOINT huge    answers with one frame announced as 1 TiB, streamed
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from typing import Tuple


def greeting(as_server: bool) -> bytes:
    return (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x01" + b"NULL" + b"\0" * 16
            + (b"\x01" if as_server else b"\x00") + b"\0" * 31)


def frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return struct.pack(">BQ", flags | 2, len(body)) + body
    return struct.pack(">BB", flags, len(body)) + body


def ready(kind: bytes) -> bytes:
    return frame(b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(kind)) + kind,
                 command=True)


def address(endpoint: str) -> Tuple[int, object]:
    transport, _, rest = endpoint.partition("://")
    if transport == "ipc":
        return socket.AF_UNIX, rest
    host, _, port = rest.rpartition(":")
    return socket.AF_INET, (host, int(port))


def connect(endpoint: str) -> socket.socket:
    family, target = address(endpoint)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(target)
    sock.sendall(greeting(False) + ready(b"REQ"))
    got = b""
    while b"READY" not in got:  # libzmq wants its READY sent before our first message
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("closed in the handshake")
        got += chunk
    return sock


def more_flood(endpoint: str, mbytes: float) -> None:
    sock = connect(endpoint)
    part = frame(b"m" * 1000, more=True)
    chunk = frame(b"", more=True) + part * 64
    sent, closed, limit = 0, False, int(mbytes * 1024 * 1024)
    try:
        while sent < limit:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        closed = True  # the helper dropped us
    print(json.dumps({"sent": sent, "closed": closed}), flush=True)
    sock.close()


def pipeline_flood(endpoint: str, seconds: float) -> None:
    request = (frame(b"", more=True) + frame(b"stats")) * 200
    end = time.monotonic() + seconds
    connections = sent = answered_bytes = 0
    while time.monotonic() < end:
        try:
            sock = connect(endpoint)
            connections += 1
            sock.settimeout(0.2)
            while time.monotonic() < end:
                sock.sendall(request)
                sent += 200
                try:
                    answered_bytes += len(sock.recv(65536))
                except socket.timeout:
                    pass
        except OSError:
            time.sleep(0.001)
    print(json.dumps({"connections": connections, "requests": sent,
                      "answer_bytes": answered_bytes}), flush=True)


def serve(endpoint: str, answer: object) -> None:
    family, target = address(endpoint)
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(target)  # type: ignore[arg-type]
    listener.listen(8)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    while True:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            conn.sendall(greeting(True) + ready(b"REP"))
            got = b""
            while b"stats" not in got:  # the check's request, after its READY
                chunk = conn.recv(4096)
                if not chunk:
                    raise ConnectionResetError
                got += chunk
            if isinstance(answer, bytes):
                conn.sendall(frame(b"", more=True) + frame(answer))
            elif answer == "frames":
                conn.sendall(frame(b"", more=True))
                big = frame(b"e" * 65536, more=True)
                while True:  # until the check gives up and closes
                    conn.sendall(big)
            else:  # one frame announced as 1 TiB, its body streamed for ever
                conn.sendall(frame(b"", more=True) + struct.pack(">BQ", 2, 1 << 40))
                body = b"e" * 65536
                while True:
                    conn.sendall(body)
        except OSError:
            pass
        finally:
            conn.close()


def main() -> None:
    role, endpoint = sys.argv[1], sys.argv[2]
    if role == "more-flood":
        more_flood(endpoint, float(sys.argv[3]))
    elif role == "pipeline-flood":
        pipeline_flood(endpoint, float(sys.argv[3]))
    elif role == "fake-rep":  # a snapshot with "pid": 0 gets this process's pid
        with open(sys.argv[3], "rb") as handle:
            reply = handle.read().replace(b'"pid": 0}', f'"pid": {os.getpid()}}}'.encode())
        serve(endpoint, reply)
    elif role == "endless-rep":
        serve(endpoint, sys.argv[3])
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
