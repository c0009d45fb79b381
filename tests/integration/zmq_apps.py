"""Small ZeroMQ applications the integration tests start as subprocesses.

    python zmq_apps.py ROLE [options]

Each prints 'ready' (and a JSON line with what the test needs) once its sockets
are bound or connected, then runs until killed (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

import zmq


def announce(**extra: object) -> None:
    print(json.dumps({"ready": True, "pid": os.getpid(), **extra}), flush=True)


def sub(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A SUB that connects and either drains everything or never reads.

    (A SUB that binds gets nothing from a connecting PUB with libzmq 4.3.5 here:
    its subscription is never sent, so the tests use the usual PUB-binds shape.)"""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, args.hwm)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(args.connect[0])
    announce()
    while True:
        if args.never:
            time.sleep(3600)
        else:
            sock.recv()


def pub(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A PUB that binds and publishes steadily."""
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, args.hwm)
    sock.bind(args.endpoint)
    announce(endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    payload = b"x" * args.size
    while True:
        for _ in range(50):
            sock.send(payload)
        time.sleep(0.005)


def pull(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A PULL that binds, reads --read messages, then stops reading."""
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, args.hwm)
    sock.bind(args.endpoint)
    announce(endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    for _ in range(args.read):
        sock.recv()
    print(json.dumps({"stopped": True}), flush=True)
    time.sleep(3600)


def push(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A PUSH that connects and sends whenever the pipe has room."""
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, args.hwm)
    sock.connect(args.connect[0])
    announce()
    payload = b"x" * args.size
    while True:
        try:
            sock.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("sub", "pub", "pull", "push"))
    parser.add_argument("--endpoint")
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--hwm", type=int, default=100)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--read", type=int, default=0)
    parser.add_argument("--never", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ctx = zmq.Context()
    ctx.setsockopt(zmq.LINGER, 0)  # exit at once when killed
    {"sub": sub, "pub": pub, "pull": pull, "push": push}[args.role](args, ctx)


if __name__ == "__main__":
    main()
