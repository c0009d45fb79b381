"""Mode 2, the check's side: ask the application's helper for its snapshot.

Without CURVE the check speaks ZMTP itself (nagios_ipc.zmqhwm.zmtp): the whole
reply is bounded (MAX_REPLY bytes, handshake included; libzmq bounds only a
frame, and a fake server's endless multipart reply grew the check to 2.7 GB),
and who answers is asked of the kernel before a byte is read: an ipc://
socket's peer credentials (pid, uid), a local tcp:// socket's owner through
sock_diag. The snapshot's pid must be that process (ipc) or a process of that
user (tcp); --expect-user names the user the endpoint must belong to, and the
first line says when no one said who that is. A tcp:// endpoint on another
host cannot be checked this way: it needs CURVE (the server key authenticates
it) unless --unverified-ok. With CURVE a libzmq REQ socket (LINGER 0, own
deadline) asks; a failed handshake is UNKNOWN naming the key. Either way no
answer in time is UNKNOWN naming the endpoint, and the JSON is validated
strictly (any deviation: UNKNOWN, one line). Rates per minute come from the difference with the
previous run's totals (state file); an application restart (other pid or
start time, or counters going back) restarts the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import time

import nagiosplugin

from ..cli import remaining_time
from ..state import StateFile
from ..units import format_number, human_duration

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Dict, Generator, List, NamedTuple, Optional, Sequence, Tuple
else:
    from nagios_ipc.light import NamedTuple

SCHEMA = "nagios_ipc.zmq_stats/1"
MAX_REPLY = 4 * 1024 * 1024
MAX_SOCKETS = 10000
REFUSED_RETRIES = 3  # connect retries with no connection at all: nothing listens
RATES = (("drops", "drops_per_min"), ("wouldblock", "wouldblock_per_min"),
         ("disconnects", "disconnects_per_min"), ("retries", "retries_per_min"),
         ("auth_failures", "auth_failures_per_min"))
AUTH_EVENTS = ("handshake_failed_auth", "handshake_failed_protocol",
               "handshake_failed_no_detail")


class StatsError(nagiosplugin.CheckError):
    """No usable answer from the stats endpoint; the text names the cause and the fix."""


class SocketFigures(NamedTuple):
    name: str
    kind: str
    endpoints: Tuple[str, ...]
    sndhwm: int
    rcvhwm: int
    nodrop: bool
    sends: int
    wouldblock: int
    drops: int
    events: Dict[str, int]
    pipes: Optional[Tuple[Tuple[str, int, int], ...]]  # (peer, out, in)

    def totals(self) -> Dict[str, int]:
        return {"drops": self.drops, "wouldblock": self.wouldblock,
                "disconnects": self.events.get("disconnected", 0),
                "retries": self.events.get("connect_retried", 0),
                "auth_failures": sum(self.events.get(e, 0) for e in AUTH_EVENTS)}

    def hwm_fill(self) -> Optional[float]:
        if not self.pipes:
            return None
        fills = [100.0 * out / self.sndhwm for _, out, _ in self.pipes if self.sndhwm > 0]
        fills += [100.0 * inn / self.rcvhwm for _, _, inn in self.pipes if self.rcvhwm > 0]
        return max(fills) if fills else None

    def describe(self) -> str:
        where = ", ".join(self.endpoints[:3]) or "no endpoint"
        return f"socket '{self.name}' ({self.kind} {where}, SNDHWM {self.sndhwm})"


class Snapshot(NamedTuple):
    pid: int
    started: float
    now: float
    libzmq: str
    pipes_stats: bool
    pipes_note: str
    sockets: Tuple[SocketFigures, ...]


# --- validation --------------------------------------------------------------------------


def _get(obj: Dict[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in obj:
        raise StatsError(f"stats reply: {where} has no '{key}'")
    value = obj[key]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise StatsError(f"stats reply: {where} '{key}' is not a valid "
                         f"{getattr(kind, '__name__', kind)}")
    return value


def _text(value: Any, where: str, limit: int = 300) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise StatsError(f"stats reply: {where} is not a string of at most {limit} characters")
    return value


def parse_snapshot(data: bytes) -> Snapshot:
    """The helper's JSON reply, strictly validated; StatsError on any deviation."""
    if len(data) > MAX_REPLY:
        raise StatsError(f"stats reply of {len(data)} bytes is over {MAX_REPLY}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StatsError(f"stats reply is not JSON ({type(exc).__name__}); is a nagios_ipc "
                         f"helper listening there?") from None
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise StatsError(f"stats reply is not a {SCHEMA} snapshot; is a nagios_ipc helper "
                         f"listening there?")
    if "error" in obj:
        raise StatsError(f"the stats endpoint answered an error: {_text(obj['error'], 'error')}")
    sockets_raw = _get(obj, "sockets", list, "the snapshot")
    if len(sockets_raw) > MAX_SOCKETS:
        raise StatsError(f"stats reply: more than {MAX_SOCKETS} sockets")
    sockets = []
    names = set()
    for index, raw in enumerate(sockets_raw):
        where = f"socket #{index + 1}"
        if not isinstance(raw, dict):
            raise StatsError(f"stats reply: {where} is not an object")
        name = _text(_get(raw, "name", str, where), f"{where} name", 200)
        if name in names:
            raise StatsError(f"stats reply: two sockets are named '{name}'")
        names.add(name)
        endpoints = _get(raw, "endpoints", list, where)
        events = _get(raw, "events", dict, where)
        for key in events:
            _text(key, f"{where} event name", 60)
            _get(events, key, int, f"{where} events")
        pipes_raw = raw.get("pipes")
        pipes = None
        if pipes_raw is not None:
            if not isinstance(pipes_raw, list):
                raise StatsError(f"stats reply: {where} 'pipes' is not a list")
            pipes = tuple((_text(_get(p, "peer", str, f"{where} pipe"), "pipe peer"),
                           _get(p, "out", int, f"{where} pipe"),
                           _get(p, "in", int, f"{where} pipe"))
                          for p in pipes_raw if isinstance(p, dict) or _not_object(where))
        sockets.append(SocketFigures(
            name, _text(_get(raw, "type", str, where), f"{where} type", 20),
            tuple(_text(e, f"{where} endpoint") for e in endpoints[:100]),
            _get(raw, "sndhwm", int, where), _get(raw, "rcvhwm", int, where),
            _get(raw, "nodrop", bool, where), _get(raw, "sends", int, where),
            _get(raw, "wouldblock", int, where), _get(raw, "drops", int, where),
            dict(events), pipes))
    return Snapshot(_get(obj, "pid", int, "the snapshot"),
                    float(_get(obj, "started", float, "the snapshot")),
                    float(_get(obj, "now", float, "the snapshot")),
                    _text(_get(obj, "libzmq", str, "the snapshot"), "libzmq", 40),
                    _get(obj, "pipes_stats", bool, "the snapshot"),
                    _text(obj.get("pipes_stats_note", ""), "pipes_stats_note"),
                    tuple(sockets))


def _not_object(where: str) -> bool:
    raise StatsError(f"stats reply: a pipe of {where} is not an object")


# --- keys --------------------------------------------------------------------------------


def _z85_key(text: str, what: str) -> bytes:
    text = text.strip().strip('"')
    if len(text) != 40:
        raise StatsError(f"usage error: {what} must be a 40-character Z85 CURVE key, not "
                         f"{len(text)} characters")
    return text.encode("ascii", "replace")


KEY_TOOL = "python3 -m nagios_ipc.zmqhwm.keys DIR NAME"


def read_key_file(path: str, field: str) -> bytes:
    """A key from a zmq certificate file (``field = "..."``) or a file holding only the key.

    A file holding a secret key must not be readable by group or others (as ssh
    refuses such private keys): whoever reads it can pose as this check."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read(64 * 1024)
    except OSError as exc:
        raise StatsError(f"cannot read key file {path}: {exc.strerror}") from None
    text = raw.decode("utf-8", "replace")
    if "secret-key" in text and mode & 0o077:
        who = "others" if mode & 0o007 else "its group"
        raise StatsError(f"key file {path} holds a secret key and is readable by {who} "
                         f"(mode {stat.S_IMODE(mode):04o}); chmod 600 {path} (new key pairs: "
                         f"{KEY_TOOL})")
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == field:
            return _z85_key(value, f"{field} in {path}")
    stripped = [line.strip() for line in text.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    if field == "public-key" and len(stripped) == 1:
        return _z85_key(stripped[0], f"the key in {path}")
    raise StatsError(f"key file {path} has no {field} line (a zmq certificate file is "
                     f"expected, e.g. from {KEY_TOOL})")


class ClientOptions(NamedTuple):
    server_key: Optional[bytes]
    client_public: Optional[bytes]
    client_secret: Optional[bytes]
    timeout: Optional[float]
    expect_uid: Optional[int] = None
    expect_user: Optional[str] = None
    unverified_ok: bool = False


def user_uid(text: str) -> Tuple[int, str]:
    """(uid, name) of a user name or number; StatsError when there is none."""
    import pwd

    try:
        entry = pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except (KeyError, ValueError):
        if text.isdigit():
            return int(text), text
        raise StatsError(f"usage error: --expect-user {text[:40]!r}: no such user") from None
    return entry.pw_uid, entry.pw_name


def user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def client_options(args: argparse.Namespace) -> ClientOptions:
    server = None
    if args.curve_server_key and args.curve_server_key_file:
        raise StatsError("usage error: give --curve-server-key or --curve-server-key-file, "
                         "not both")
    if args.curve_server_key:
        server = _z85_key(args.curve_server_key, "--curve-server-key")
    elif args.curve_server_key_file:
        server = read_key_file(args.curve_server_key_file, "public-key")
    public = secret = None
    if args.curve_client_key_file:
        if server is None:
            raise StatsError("usage error: --curve-client-key-file needs the server's key "
                             "(--curve-server-key or --curve-server-key-file)")
        public = read_key_file(args.curve_client_key_file, "public-key")
        secret = read_key_file(args.curve_client_key_file, "secret-key")
    expect_uid = expect_name = None
    if getattr(args, "expect_user", None):
        expect_uid, expect_name = user_uid(args.expect_user)
    return ClientOptions(server, public, secret, args.stats_timeout, expect_uid, expect_name,
                         bool(getattr(args, "unverified_ok", False)))


# --- asking ------------------------------------------------------------------------------


class Answerer(NamedTuple):
    """Who holds the endpoint's socket, as the kernel says (None: not known)."""

    pid: Optional[int]
    uid: Optional[int]


def ask(endpoint: str, options: ClientOptions,
        timeout: float) -> Tuple[bytes, Optional[Answerer]]:
    """One ``stats`` request: (reply, who answered; None under CURVE); StatsError when
    nothing (usable) answers in *timeout*."""
    if endpoint.startswith("ipc://"):
        path = endpoint[6:]
        if not path.startswith("@") and not os.path.exists(path):
            raise StatsError(f"no stats endpoint at {endpoint}: {path} does not exist (is the "
                             f"application running with the nagios_ipc helper?)")
    if options.server_key is None:
        return ask_null(endpoint, options, timeout)
    return ask_curve(endpoint, options, timeout), None


def _connect(endpoint: str, timeout: float) -> Tuple[Any, Answerer]:
    """A connected socket to *endpoint* and its owner; StatsError naming the problem."""
    import _socket as socket

    transport, _, rest = endpoint.partition("://")
    try:
        if transport == "ipc":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            target: Any = "\0" + rest[1:] if rest.startswith("@") else rest
        elif transport == "tcp":
            host, _, port = rest.rpartition(":")
            host = host.strip("[]")
            if host == "localhost":
                host = "127.0.0.1"
            if not port.isdigit():
                raise StatsError(f"usage error: --stats-endpoint {endpoint}: no port")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            target = (host, int(port))
        else:
            raise StatsError(f"usage error: --stats-endpoint {endpoint}: tcp://IP:PORT or "
                             f"ipc:///path")
    except OSError as exc:
        raise StatsError(f"cannot open a socket for {endpoint}: {exc.strerror}") from None
    sock.settimeout(max(timeout, 0.1))
    try:
        sock.connect(target)
    except ConnectionRefusedError:
        sock.close()
        raise StatsError(f"nothing listens at the stats endpoint {endpoint} (connection "
                         f"refused); is the application running with the nagios_ipc helper "
                         f"there?") from None
    except PermissionError:
        sock.close()
        raise StatsError(f"permission denied connecting to the stats endpoint {endpoint} "
                         f"(uid {os.getuid()}): let this user connect: StatsServer(..., "
                         f"ipc_mode=0o660, ipc_group='GROUP') in the application") from None
    except socket.timeout:
        sock.close()
        raise StatsError(f"no answer from the stats endpoint {endpoint} within "
                         f"{format_number(round(timeout, 1))}s (connecting)") from None
    except OSError as exc:
        sock.close()
        if transport == "tcp" and exc.strerror is None:
            raise StatsError(f"cannot connect to {endpoint}: not an IP address (no host "
                             f"names)") from None
        raise StatsError(f"cannot connect to {endpoint}: {exc.strerror}") from None
    if transport == "ipc":
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET,
                                                            socket.SO_PEERCRED, 12))
        return sock, Answerer(pid if pid > 0 else None, uid)
    from .diag import tcp_owner

    local = sock.getsockname()
    owner = tcp_owner(family, target[0], target[1], local[0], local[1])
    return sock, Answerer(None, owner)


def ask_null(endpoint: str, options: ClientOptions,
             timeout: float) -> Tuple[bytes, Answerer]:
    """The ZMTP NULL exchange, bounded as a whole (see the module's note)."""
    import select

    from . import zmtp

    # poll, not select: select() refuses a descriptor numbered 1024 or more (a check run
    # inside a process with many files open, as the fuzz tests do)
    poller = select.poll()
    deadline = time.monotonic() + timeout
    sock, answerer = _connect(endpoint, timeout)
    try:
        if answerer.uid is None and not options.unverified_ok:
            raise StatsError(f"cannot tell who answers at {endpoint}: it is not a socket of "
                             f"this host (or of this network namespace); give CURVE keys "
                             f"(--curve-server-key) or --unverified-ok")
        if options.expect_uid is not None and answerer.uid is not None \
                and answerer.uid != options.expect_uid:
            raise StatsError(f"the stats endpoint {endpoint} belongs to {_who(answerer)}, not "
                             f"to {options.expect_user}: another process holds it (is the "
                             f"application down?)")
        reader = zmtp.Reader(MAX_REPLY, 4, ("REP", "ROUTER"))
        out = zmtp.greeting(False) + zmtp.ready("REQ")
        # the request only after the peer's READY: libzmq takes any frame before it has
        # sent its own READY for a handshake command, and drops the connection
        request = zmtp.frame(b"", zmtp.MORE) + zmtp.frame(b"stats")
        sock.setblocking(False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StatsError(f"no answer from the stats endpoint {endpoint} within "
                                 f"{format_number(round(timeout, 1))}s; is the application "
                                 f"running with the nagios_ipc helper there?")
            poller.register(sock, select.POLLIN | (select.POLLOUT if out else 0))
            events = dict(poller.poll(left * 1000))
            mask = events.get(sock.fileno(), 0)
            readable = mask & (select.POLLIN | select.POLLHUP | select.POLLERR)
            writable = mask & (select.POLLOUT | select.POLLERR)
            if writable:
                try:
                    out = out[sock.send(out):]
                except OSError:
                    out = b""  # the peer closed: what it said (or not) is read below
            if not readable:
                continue
            try:
                data = sock.recv(256 * 1024)
            except OSError as exc:
                if not reader.ready:  # libzmq resets a peer whose mechanism differs
                    raise StatsError(_handshake_text(endpoint, options)) from None
                raise StatsError(f"the stats endpoint {endpoint} closed the connection "
                                 f"({exc.strerror})") from None
            if not data:
                raise StatsError(_handshake_text(endpoint, options) if not reader.ready else
                                 f"the stats endpoint {endpoint} closed the connection "
                                 f"without an answer")
            try:
                messages = reader.feed(data)
            except zmtp.ProtocolError as exc:
                if "mechanism" in str(exc):
                    raise StatsError(_handshake_text(endpoint, options)) from None
                raise StatsError(f"stats endpoint {endpoint}: {exc}") from None
            if reader.ready and request:
                out, request = out + request, b""
            for message in messages:
                if len(message) != 2 or message[0] != b"":
                    raise StatsError(f"stats endpoint {endpoint}: the reply is not one "
                                     f"REP message")
                return message[1], answerer
    finally:
        sock.close()


def _who(answerer: Answerer) -> str:
    text = user_name(answerer.uid) if answerer.uid is not None else "an unknown user"
    if answerer.uid is not None and not text.startswith("uid "):
        text += f" (uid {answerer.uid})"
    return f"pid {answerer.pid} of {text}" if answerer.pid else text


def verify(endpoint: str, snap: Snapshot, answerer: Answerer) -> None:
    """The snapshot's pid must be the process the kernel says holds the endpoint."""
    if answerer.pid is not None:
        if snap.pid != answerer.pid:
            raise StatsError(f"the stats reply at {endpoint} claims pid {snap.pid}, but the "
                             f"socket belongs to {_who(answerer)}: not the application's "
                             f"helper")
        return
    if answerer.uid is None:
        return
    try:
        owner = os.stat(f"/proc/{snap.pid}").st_uid
    except OSError:
        raise StatsError(f"the stats reply at {endpoint} claims pid {snap.pid}, which does "
                         f"not exist (the endpoint belongs to {_who(answerer)})") from None
    if owner != answerer.uid:
        raise StatsError(f"the stats reply at {endpoint} claims pid {snap.pid} of "
                         f"{user_name(owner)}, but the endpoint belongs to "
                         f"{_who(answerer)}: not the application's helper")


def ask_curve(endpoint: str, options: ClientOptions, timeout: float) -> bytes:
    """One ``stats`` request through libzmq's CURVE (the server key authenticates it)."""
    import zmq  # CURVE only: ~75 ms to import

    ctx = zmq.Context()
    try:
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY)
        if options.server_key is not None:
            if options.client_secret is not None and options.client_public is not None:
                public, secret = options.client_public, options.client_secret
            else:
                public, secret = zmq.curve_keypair()
            req.setsockopt(zmq.CURVE_SERVERKEY, options.server_key)
            req.setsockopt(zmq.CURVE_PUBLICKEY, public)
            req.setsockopt(zmq.CURVE_SECRETKEY, secret)
        monitor = req.get_monitor_socket()
        try:
            req.connect(endpoint)
        except zmq.ZMQError as exc:
            raise StatsError(f"cannot connect to {endpoint}: {exc}") from None
        req.send(b"stats")  # queued in the pipe until the connection is up
        return _wait(zmq, req, monitor, endpoint, options, timeout)
    finally:
        ctx.destroy(linger=0)


def _wait(zmq: Any, req: Any, monitor: Any, endpoint: str, options: ClientOptions,
          timeout: float) -> bytes:
    from zmq.utils.monitor import parse_monitor_message

    poller = zmq.Poller()
    poller.register(req, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    deadline = time.monotonic() + timeout
    closed = connected = retried = handshakes = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for sock, _ in poller.poll(max(int(left * 1000), 1)):
            if sock is req:
                return bytes(req.recv())
            event = int(parse_monitor_message(monitor.recv_multipart())["event"])
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                handshakes += 1
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                raise StatsError(f"the stats endpoint {endpoint} refused our CURVE client "
                                 f"key (authentication failed); give "
                                 f"--curve-client-key-file with a key the application allows")
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                           zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                raise StatsError(_handshake_text(endpoint, options))
            elif event == zmq.EVENT_DISCONNECTED:
                closed += 1
            elif event == zmq.EVENT_CONNECTED:
                connected += 1
            elif event == zmq.EVENT_CONNECT_RETRIED:
                retried += 1
                if retried >= REFUSED_RETRIES and not connected:
                    raise StatsError(f"nothing listens at the stats endpoint {endpoint} "
                                     f"(refused {retried} times); is the application "
                                     f"running with the nagios_ipc helper there?")
    if closed and not handshakes:
        raise StatsError(_handshake_text(endpoint, options, closed))
    raise StatsError(f"no answer from the stats endpoint {endpoint} within "
                     f"{format_number(round(timeout, 1))}s; is the application running "
                     f"with the nagios_ipc helper there?")


def _handshake_text(endpoint: str, options: ClientOptions, closed: int = 0) -> str:
    times = f" ({closed} times)" if closed else ""
    if options.server_key is not None:
        return (f"the ZeroMQ handshake with {endpoint} failed{times}: is "
                f"--curve-server-key the application's stats public key, and does the "
                f"endpoint use CURVE?")
    return (f"the ZeroMQ handshake with {endpoint} failed{times}: the endpoint may "
            f"require CURVE (give --curve-server-key)")


# --- the resource ------------------------------------------------------------------------


def rate(now: int, before: Any, seconds: float) -> Optional[float]:
    if not isinstance(before, int) or now < before or seconds <= 0:
        return None
    return round((now - before) * 60.0 / seconds, 3)


class StatsResource(nagiosplugin.Resource):
    name = "stats"

    def __init__(self, endpoint: str, options: ClientOptions, state_path: Optional[str],
                 state_key: Sequence[Any]) -> None:
        self.endpoint = endpoint
        self.options = options
        self.state = StateFile(state_path, "check_zmq_hwm", state_key)
        self.snapshot: Optional[Snapshot] = None
        self.deltas: Dict[str, Dict[str, int]] = {}
        self.period: Optional[float] = None
        self.notes: List[str] = []
        self.doing = f"asking {endpoint} for stats"
        self.identity = ""

    def identity_text(self, snap: Snapshot, answerer: Answerer) -> str:
        """' (user feed)' when checked against --expect-user, else what is not known."""
        if answerer.uid is None:
            return " (identity not verified: --unverified-ok)"
        name = user_name(answerer.uid)
        if self.options.expect_uid is not None:
            return f" ({name})" if name.startswith("uid ") else f" (user {name})"
        return f" ({name}; identity not verified: no --expect-user)" if name.startswith(
            "uid ") else f" (user {name}; identity not verified: no --expect-user)"

    def timeout(self) -> float:
        if self.options.timeout:
            return float(self.options.timeout)
        return max(remaining_time() - 1.0, 0.5)

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        data, answerer = ask(self.endpoint, self.options, self.timeout())
        snap = parse_snapshot(data)
        if answerer is not None:
            verify(self.endpoint, snap, answerer)
            self.identity = self.identity_text(snap, answerer)
        self.snapshot = snap
        self.doing = f"waiting for the lock on {self.state.path}"
        with self.state:
            # a corrupt state: said (UNKNOWN) by save(), once this run's state is written
            previous = self.state.load(until_saved=True) or {}
            totals = {s.name: s.totals() for s in snap.sockets}
            self.doing = f"writing {self.state.path}"
            self.state.save({"pid": snap.pid, "started": snap.started, "now": snap.now,
                             "totals": totals})
        yield from self.metrics(snap, previous, totals)

    def metrics(self, snap: Snapshot, previous: Dict[str, Any],
                totals: Dict[str, Dict[str, int]]) -> Generator[nagiosplugin.Metric, None, None]:
        same_app = previous.get("pid") == snap.pid and previous.get("started") == snap.started
        old_now = previous.get("now")
        if previous and not same_app:
            self.notes.append("the application restarted since the previous run: rates "
                              "start again with the next run")
        if same_app and isinstance(old_now, (int, float)) and snap.now > old_now:
            self.period = snap.now - old_now
            old_totals = previous.get("totals") if isinstance(previous.get("totals"),
                                                              dict) else {}
            for name, figures in totals.items():
                old = old_totals.get(name) if isinstance(old_totals, dict) else None
                if isinstance(old, dict):
                    self.deltas[name] = {k: v - old[k] for k, v in figures.items()
                                         if isinstance(old.get(k), int) and v >= old[k]}
            for key, label in RATES:
                changes = [d[key] for d in self.deltas.values() if key in d]
                value = rate(sum(changes), 0, self.period) if changes else None
                if value is not None:
                    yield nagiosplugin.Metric(label, value, min=0, context=label)
        fills = [f for f in (s.hwm_fill() for s in snap.sockets) if f is not None]
        if fills:
            yield nagiosplugin.Metric("hwm_fill", round(max(fills), 1), "%", min=0,
                                      context="hwm_fill")
        yield nagiosplugin.Metric("sends", sum(s.sends for s in snap.sockets), "c", min=0,
                                  context="sends")

    def worst(self) -> Optional[SocketFigures]:
        snap = self.snapshot
        if snap is None or not snap.sockets:
            return None

        def badness(s: SocketFigures) -> Tuple[int, ...]:
            d = self.deltas.get(s.name, {})
            fill = s.hwm_fill() or 0.0
            return (d.get("drops", 0), d.get("auth_failures", 0), d.get("wouldblock", 0),
                    int(fill), d.get("disconnects", 0), d.get("retries", 0))

        return max(snap.sockets, key=badness)


def period_text(seconds: float) -> str:
    if seconds < 60:
        return f"{format_number(round(seconds, 1))}s"
    return human_duration(seconds)


class StatsSummary(nagiosplugin.Summary):
    def __init__(self, resource: StatsResource) -> None:
        self.resource = resource

    def headline(self) -> str:
        r = self.resource
        snap = r.snapshot
        assert snap is not None
        worst = r.worst()
        if worst is None:
            return (f"the application (pid {snap.pid}{r.identity}) registered no sockets "
                    f"with the helper")
        text = (f"{len(snap.sockets)} socket{'' if len(snap.sockets) == 1 else 's'} of pid "
                f"{snap.pid}{r.identity}")
        if r.period is None:
            text += ", first run: rates start with the next run"
        else:
            d = r.deltas.get(worst.name, {})
            parts = [f"{d[k]} {k.replace('_', ' ')}" for k in
                     ("drops", "wouldblock", "auth_failures", "disconnects", "retries")
                     if d.get(k)]
            what = ", ".join(parts) if parts else "no drops, would-blocks or failures"
            text += f" / worst: {worst.describe()}: {what} in the last {period_text(r.period)}"
        fill = worst.hwm_fill()
        if fill is not None:
            text += f", pipes at {format_number(round(fill, 1))}% of HWM"
        elif not snap.pipes_stats:
            text += ", HWM fill not available (no draft pipes-stats API)"
        return text

    def tail(self) -> str:
        return "".join(f" ({note})" for note in self.resource.notes)

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.headline() + self.tail()

    def problem(self, results: nagiosplugin.Results) -> str:
        if self.resource.snapshot is None or not any(r.metric is not None for r in results):
            return str(results.first_significant)  # the probe failed (e.g. the state file)
        from .check import violations

        bad = violations(results)
        return self.headline() + (" / " + ", ".join(bad) if bad else "") + self.tail()

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        r = self.resource
        snap = r.snapshot
        if snap is None or not any(result.metric is not None for result in results):
            return []  # the probe failed: the first line says why
        lines = [f"application pid {snap.pid}, up {human_duration(snap.now - snap.started)}, "
                 f"libzmq {snap.libzmq}, pipes stats: "
                 + ("yes" if snap.pipes_stats else f"no ({snap.pipes_note})")]
        for s in snap.sockets:
            d = r.deltas.get(s.name, {})
            events = ", ".join(f"{k} {v}" for k, v in sorted(s.events.items())) or "no events"
            lines.append(f"{s.describe()}: RCVHWM {s.rcvhwm}, sends {s.sends}, "
                         f"{'drops (XPUB_NODROP refusals)' if s.nodrop else 'would-block'} "
                         f"{s.drops if s.nodrop else s.wouldblock}"
                         + (f" (+{d.get('drops' if s.nodrop else 'wouldblock', 0)} this "
                            f"period)" if d else "") + f"; {events}")
            for peer, out, inn in (s.pipes or ())[:50]:
                lines.append(f"  pipe {peer}: {out} out of SNDHWM {s.sndhwm}, {inn} in of "
                             f"RCVHWM {s.rcvhwm}")
        lines.extend(f"note: {n}" for n in r.notes)
        lines.append(f"state file: {r.state.path}")
        return lines
