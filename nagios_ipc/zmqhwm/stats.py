"""Mode 2, the check's side: ask the application's helper for its snapshot.

A REQ socket with LINGER 0 and its own deadline asks ``stats`` once; no
answer in time is UNKNOWN naming the endpoint, a failed CURVE handshake is
UNKNOWN naming the key, and the JSON is validated strictly (any deviation:
UNKNOWN, one line). Rates per minute come from the difference with the
previous run's totals (state file); an application restart (other pid or
start time, or counters going back) restarts the rates.
"""

from __future__ import annotations

import argparse
import json
import os
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


def read_key_file(path: str, field: str) -> bytes:
    """A key from a zmq certificate file (``field = "..."``) or a file holding only the key."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(64 * 1024)
    except OSError as exc:
        raise StatsError(f"cannot read key file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == field:
            return _z85_key(value, f"{field} in {path}")
    stripped = [line.strip() for line in text.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    if field == "public-key" and len(stripped) == 1:
        return _z85_key(stripped[0], f"the key in {path}")
    raise StatsError(f"key file {path} has no {field} line (a zmq certificate file is "
                     f"expected, e.g. from zmq.auth.create_certificates)")


class ClientOptions(NamedTuple):
    server_key: Optional[bytes]
    client_public: Optional[bytes]
    client_secret: Optional[bytes]
    timeout: Optional[float]


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
    return ClientOptions(server, public, secret, args.stats_timeout)


# --- asking ------------------------------------------------------------------------------


def ask(endpoint: str, options: ClientOptions, timeout: float) -> bytes:
    """One ``stats`` request; StatsError when nothing (usable) answers in *timeout*."""
    if endpoint.startswith("ipc://"):
        path = endpoint[6:]
        if not path.startswith("@") and not os.path.exists(path):
            raise StatsError(f"no stats endpoint at {endpoint}: {path} does not exist (is the "
                             f"application running with the nagios_ipc helper?)")
    import zmq  # mode 2 only: ~75 ms to import

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

    def timeout(self) -> float:
        if self.options.timeout:
            return float(self.options.timeout)
        return max(remaining_time() - 1.0, 0.5)

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        data = ask(self.endpoint, self.options, self.timeout())
        snap = self.snapshot = parse_snapshot(data)
        self.doing = f"waiting for the lock on {self.state.path}"
        with self.state:
            previous = self.state.load() or {}
            if self.state.problem:
                self.notes.append(self.state.problem)
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
            return f"the application (pid {snap.pid}) registered no sockets with the helper"
        text = f"{len(snap.sockets)} sockets of pid {snap.pid}"
        if r.period is None:
            text += ", first run: rates start with the next run"
        else:
            d = r.deltas.get(worst.name, {})
            parts = [f"{d[k]} {k.replace('_', ' ')}" for k in
                     ("drops", "wouldblock", "auth_failures", "disconnects", "retries")
                     if d.get(k)]
            what = ", ".join(parts) if parts else "no drops, would-blocks or failures"
            text += f"; worst: {worst.describe()}: {what} in the last {period_text(r.period)}"
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
        if self.resource.snapshot is None:
            return str(results.first_significant)
        from .check import violations

        bad = violations(results)
        return self.headline() + ("; " + ", ".join(bad) if bad else "") + self.tail()

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        r = self.resource
        snap = r.snapshot
        if snap is None:
            return []
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
