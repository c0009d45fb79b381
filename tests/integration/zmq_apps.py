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


def set_name(name: str) -> None:
    """Name this process (/proc/PID/comm) as a daemon would, through prctl(PR_SET_NAME)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:  # 15: PR_SET_NAME
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def announce(**extra: object) -> None:
    print(json.dumps({"ready": True, "pid": os.getpid(), **extra}), flush=True)


def sub(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A SUB that connects and either drains everything or never reads.

    (A SUB that binds gets nothing from a connecting PUB with libzmq 4.3.5 here:
    its subscription is never sent, so the tests use the usual PUB-binds shape.)"""
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, args.hwm)
    if args.rcvbuf:  # a small kernel buffer: the window closes at once (growth tests)
        sock.setsockopt(zmq.RCVBUF, args.rcvbuf)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(args.connect[0])
    announce()
    while True:
        if args.never:
            time.sleep(3600)
        else:
            sock.recv()


def pub(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A PUB that binds and publishes steadily (with --rate: that many messages a
    second, on an absolute schedule)."""
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, args.hwm)
    if args.sndbuf:
        sock.setsockopt(zmq.SNDBUF, args.sndbuf)
    if args.ipv6:  # tcp://[::]:P binds only with it (then IPv4 too: IPV6_V6ONLY off)
        sock.setsockopt(zmq.IPV6, 1)
    sock.bind(args.endpoint)
    announce(endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    payload = b"x" * args.size
    if args.rate:
        start, sent = time.monotonic(), 0
        while True:
            sock.send(payload)
            sent += 1
            time.sleep(max(start + sent / args.rate - time.monotonic(), 0))
    while True:
        for _ in range(50):
            sock.send(payload)
        time.sleep(0.005)


def pull(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """A PULL that binds, reads --read messages, then stops reading (with --rate: keeps
    reading that many messages a second, a slow but living consumer)."""
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, args.hwm)
    sock.bind(args.endpoint)
    announce(endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    for _ in range(args.read):
        sock.recv()
    if args.rate:
        start, read = time.monotonic(), 0
        while True:
            sock.recv()
            read += 1
            time.sleep(max(start + read / args.rate - time.monotonic(), 0))
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


def fan(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """--count idle PUSH sockets, each with its own connection to --connect."""
    ctx.set(zmq.MAX_SOCKETS, args.count + 100)
    socks = []
    for _ in range(args.count):
        sock = ctx.socket(zmq.PUSH)
        sock.connect(args.connect[0])
        socks.append(sock)
    announce(count=len(socks))
    time.sleep(3600)


def stats_app(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """An application using the helper: an XPUB with XPUB_NODROP (SNDHWM --hwm), a
    PUSH with no peer (every NOBLOCK send would block), and a CURVE ROUTER whose ZAP
    handler allows one client key. Commands on stdin: 'burst N' sends N messages
    on each, then prints what the application itself counted."""
    from nagios_ipc.zmqhwm.helper import StatsServer

    curve: dict = {}
    if args.stats_keys:
        public, secret = (open(f"{args.stats_keys}.{k}").read().strip().encode()
                          for k in ("public", "secret"))
        curve = {"curve_secret_key": secret, "curve_public_key": public}
        if args.allow:
            curve["allowed_client_keys"] = [args.allow.encode()]
    stats = StatsServer(args.stats, context=ctx, **curve)
    xpub = stats.register(ctx.socket(zmq.XPUB), name="ticks")
    xpub.setsockopt(zmq.XPUB_NODROP, 1)
    xpub.setsockopt(zmq.SNDHWM, args.hwm)
    xpub.bind(args.endpoint)
    push = stats.register(ctx.socket(zmq.PUSH), name="jobs")
    push.connect(f"tcp://127.0.0.1:{args.dead_port}")  # nothing listens there
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    server_public, server_secret = zmq.curve_keypair()
    client_public, _ = zmq.curve_keypair()
    auth.configure_curve_callback("*", credentials_provider=_Allow(client_public))
    router = stats.register(ctx.socket(zmq.ROUTER), name="secure")
    router.setsockopt(zmq.CURVE_SERVER, 1)
    router.setsockopt(zmq.CURVE_SECRETKEY, server_secret)
    router.setsockopt(zmq.CURVE_PUBLICKEY, server_public)
    router.bind("tcp://127.0.0.1:0")
    stats.start()
    announce(endpoint=xpub.getsockopt_string(zmq.LAST_ENDPOINT),
             secure=router.getsockopt_string(zmq.LAST_ENDPOINT),
             secure_key=server_public.decode())
    if args.subscribers:
        for _ in range(args.subscribers):
            xpub.recv()  # a subscription: a SUB is connected
        print(json.dumps({"subscribed": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["burst"]:
            counted = {"sent": 0, "again": 0, "push_again": 0}
            for _ in range(int(words[1])):
                try:
                    xpub.send(b"y" * args.size, zmq.NOBLOCK)
                    counted["sent"] += 1
                except zmq.Again:
                    counted["again"] += 1
                try:
                    push.send(b"job", zmq.NOBLOCK)
                except zmq.Again:
                    counted["push_again"] += 1
            print(json.dumps({"burst": counted}), flush=True)
    if args.hold:
        time.sleep(3600)  # stdin closed at once (a daemon): keep serving until killed
    stats.close()  # the documented order: the helper, then the sockets, then ctx.term()
    auth.stop()
    for sock in (xpub, push, router):
        sock.close(0)
    ctx.term()
    print(json.dumps({"terminated": True}), flush=True)


def busy(args: argparse.Namespace, ctx: zmq.Context) -> None:
    """An application with the helper on --stats that publishes as fast as it can (a
    PUB with no peer: the cost is the send call itself, CPU-bound like a busy feed).
    Command on stdin: 'rate SECONDS' prints the sends per second over that time and the
    process's RSS (KiB), measured by the application itself."""
    import threading

    from nagios_ipc.zmqhwm.helper import StatsServer

    extra: dict = {} if args.ipc_mode is None else {"ipc_mode": int(args.ipc_mode, 8)}
    if args.ipc_group:
        extra["ipc_group"] = args.ipc_group
    stats = StatsServer(args.stats, context=ctx, **extra)
    pub = stats.register(ctx.socket(zmq.PUB), name="feed")
    pub.bind("tcp://127.0.0.1:0")
    stats.start()
    counter = [0]

    def commands() -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["rate"]:
                seconds = float(words[1])
                before, began = counter[0], time.monotonic()
                time.sleep(seconds)
                rate = (counter[0] - before) / (time.monotonic() - began)
                dropped = getattr(stats, "dropped_peers", None)  # None: an older helper
                print(json.dumps({"rate": rate, "rss_kb": rss_kb(), "dropped_peers": dropped}),
                      flush=True)

    threading.Thread(target=commands, daemon=True).start()
    announce(stats=getattr(stats, "endpoint", args.stats), rss_kb=rss_kb())
    payload = b"p" * 100
    while True:
        pub.send(payload)
        counter[0] += 1


def rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Allow:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.key


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("sub", "pub", "pull", "push", "stats", "fan", "busy"))
    parser.add_argument("--name", help="the process's name (comm, as ps shows it)")
    parser.add_argument("--ipc-mode", help="busy: the helper's ipc socket mode (octal)")
    parser.add_argument("--ipc-group", help="busy: the helper's ipc socket group")
    parser.add_argument("--stats", help="the helper's stats endpoint")
    parser.add_argument("--stats-keys", help="PREFIX: CURVE keys in PREFIX.public/.secret")
    parser.add_argument("--allow", help="the one client key the stats endpoint allows")
    parser.add_argument("--dead-port", type=int, default=9)
    parser.add_argument("--subscribers", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--endpoint")
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--hwm", type=int, default=100)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--read", type=int, default=0)
    parser.add_argument("--never", action="store_true")
    parser.add_argument("--ipv6", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--sndbuf", type=int, default=0)
    parser.add_argument("--rcvbuf", type=int, default=0)
    args = parser.parse_args()
    if args.name:
        set_name(args.name)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ctx = zmq.Context()
    ctx.setsockopt(zmq.LINGER, 0)  # exit at once when killed
    roles = {"sub": sub, "pub": pub, "pull": pull, "push": push, "stats": stats_app, "fan": fan,
             "busy": busy}
    roles[args.role](args, ctx)


if __name__ == "__main__":
    main()
