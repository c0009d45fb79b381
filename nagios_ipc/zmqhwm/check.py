"""check_zmq_hwm: ZeroMQ high-water-mark pressure and message loss, in two modes."""

from __future__ import annotations

import argparse
import os
import time

import nagiosplugin

from .. import cli
from ..units import format_number, format_range, human_duration, human_size, optional_range
from .procfs import endpoint_type

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, List, NamedTuple, Optional, Sequence, Tuple
else:
    from nagios_ipc.light import NamedTuple

NAME = "ZMQ_HWM"
PROG = "check_zmq_hwm"

DESCRIPTION = """\
Checks a ZeroMQ application for high-water-mark pressure: peers that stopped
reading, queues filling up, and messages dropped or refused. ZeroMQ drops
(PUB) or blocks (PUSH, DEALER) silently when a peer's pipe reaches its HWM;
this check makes the pressure visible before messages are lost, and counts the
loss where it can be counted. Two modes:

Mode 1, sockets (default; no change to the application):
  Select the application with --pid, --pidfile, --process-name and/or
  --endpoint. For each of its TCP and unix (ipc://) connections the kernel's
  queues are read through netlink sock_diag (/proc/net/tcp as a fallback):
  Send-Q (bytes the peer has not taken: grows when the peer stops reading; TCP
  then starts the zero-window persist timer), Recv-Q (bytes the application has
  not read: the application itself is the slow consumer) and the send buffer.
  A peer is stalled when its persist timer runs, or when its Send-Q was at or
  above --stall-bytes at the previous run and nothing drained since (TCP: no
  bytes acknowledged; unix: Send-Q unchanged; a unix socket's Send-Q tops
  out near 57KB, hence the default of 32KB). The application itself is not
  reading a connection when its Recv-Q was non-empty at the previous run and
  still is, with nothing read since (TCP: bytes received grew no more than
  the Recv-Q; unix: Recv-Q unchanged and no read() call at all in
  /proc/PID/io): a hung consumer, CRITICAL by default from the second run on
  (a slow one that keeps reading stays OK). Also: descriptors in use
  against the process's limit (running out is a known ZeroMQ failure) and the
  host's TCP retransmissions since the previous run. Reading another user's
  /proc/PID/fd needs root or that user; sock_diag sees the sockets of its own
  network namespace only: run the check in the application's (containers;
  an application in another one is UNKNOWN, with the nsenter to use).
  Other users cannot stand in for the application: --process-name matches a
  process's name or program (argv[0]) exactly, never part of a command line,
  and namesakes of several users need --expect-user; a pidfile is not followed
  through a symlink, its content is never shown, and its pid must have started
  before the file was written and run as its owner (or the file is root's);
  --endpoint alone counts the descriptors of the processes listening there.
  With --endpoint, nothing listening on or connected to it at all means the
  application is not running there: CRITICAL (--absent-state), as a down feed
  loses every message; listening with no peer connected now is "idle": OK
  (--idle-state), as a PUB without subscribers or a PULL without pushers at
  quiet hours is healthy and ZeroMQ peers reconnect by themselves.

Mode 2, stats endpoint (--stats-endpoint; the application opts in):
  The application runs nagios_ipc.zmqhwm.helper (see the README), which counts
  sends, would-block (zmq.Again) results, XPUB_NODROP refusals, monitor events
  (disconnects, connect retries, handshake and CURVE authentication failures)
  and serves a JSON snapshot on a REP endpoint. The check asks it with its own
  timeout, CURVE-secured where keys are given, and reports rates per minute
  since the previous run and, where libzmq has the draft pipes-stats API, the
  fill of the fullest pipe against its HWM. Without CURVE the kernel says who
  holds the endpoint (ipc://: its pid and user; tcp:// on this host: its user):
  the snapshot must come from that process, --expect-user names the user it
  must be, and without it the first line says "identity not verified". A
  tcp:// endpoint on another host needs CURVE (or --unverified-ok). Replies
  are bounded as a whole (4 MiB); a CURVE secret key file others can read is
  refused (new key pairs: python3 -m nagios_ipc.zmqhwm.keys DIR NAME).

Perfdata, mode 1:
  peers          connections of the application (listening sockets excluded)
  stalled        stalled peers (max: peers)
  stalled_for    how long the longest-stalled peer has not drained (s)
  not_reading    connections whose Recv-Q the application has not read since
                 the previous run (max: peers)
  sendq          largest Send-Q (B)
  sendq_fill     largest Send-Q as % of that socket's send buffer
  recvq          largest Recv-Q (B)
  fds            descriptors in use as % of the limit (the fullest process)
  retrans        host TCP segments retransmitted as % of those sent since the
                 previous run (0 below 100 segments; left out on the first run)
Perfdata, mode 2 (rates per minute since the previous run, left out on the first run):
  drops_per_min        messages refused by XPUB_NODROP sockets
  wouldblock_per_min   sends that returned zmq.Again on other sockets
  disconnects_per_min  peers disconnected
  retries_per_min      connect retries
  auth_failures_per_min  handshake failures (CURVE/ZAP authentication, protocol)
  hwm_fill             fullest pipe as % of its HWM (draft API only)
  sends                messages sent since the application started (c)

Examples:
  check_zmq_hwm --pidfile /run/feed.pid
  check_zmq_hwm --process-name feed --endpoint tcp://0.0.0.0:5556 --stall-bytes 256KB
  check_zmq_hwm --stats-endpoint ipc:///run/feed/stats --drops-per-min-critical 100
  check_zmq_hwm --stats-endpoint tcp://127.0.0.1:5999 \\
      --curve-server-key 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' \\
      --curve-client-key-file /etc/nagios/zmq-client.key_secret
"""

EPILOG = """\
Ranges follow the Monitoring Plugins guidelines (10, 10:, ~:10, 10:20, @10:20);
sizes take B, KB, MB, GB (binary), durations ms, s, m, h, d; 'none' switches a
default threshold off.
State: one file per set of options under ~/.local/state/nagios_ipc/HOST/
(without a usable home /var/tmp/nagios_ipc-UID-*/; or $NAGIOS_IPC_STATE_DIR);
two services with the same options share it and shorten each other's periods:
give each its own --state-file.
"""


class Measure(NamedTuple):
    name: str
    kind: str            # unit kind for ranges
    help: str
    warning: Optional[str] = None
    critical: Optional[str] = None
    mode: int = 1


MEASURES: Tuple[Measure, ...] = (
    Measure("peers", "count", "the number of connections (e.g. 1: alerts when none)"),
    Measure("stalled", "count", "the number of stalled peers", critical="0"),
    Measure("stalled_for", "duration", "how long the longest-stalled peer has not drained "
            "(s, m, h)"),
    Measure("not_reading", "count", "the number of connections the application has not "
            "read since the previous run", critical="0"),
    Measure("sendq", "size", "the largest Send-Q (B, KB, MB)"),
    Measure("sendq_fill", "percent", "the largest Send-Q in %% of the send buffer",
            warning="80"),
    Measure("recvq", "size", "the largest Recv-Q, the application reading too slowly "
            "(B, KB, MB)"),
    Measure("fds", "percent", "the descriptors in use in %% of the process's limit",
            warning="80", critical="95"),
    Measure("retrans", "percent", "the host's TCP retransmissions in %% of segments sent",
            warning="5"),
    Measure("drops_per_min", "count", "XPUB_NODROP refusals per minute", warning="0", mode=2),
    Measure("wouldblock_per_min", "count", "zmq.Again results per minute", mode=2),
    Measure("disconnects_per_min", "count", "disconnects per minute", mode=2),
    Measure("retries_per_min", "count", "connect retries per minute", mode=2),
    Measure("auth_failures_per_min", "count", "handshake/authentication failures per "
            "minute", warning="0", mode=2),
    Measure("hwm_fill", "percent", "the fullest pipe in %% of its HWM (draft API)",
            warning="80", critical="95", mode=2),
    Measure("sends", "count", "the messages sent since the application started", mode=2),
)


def parser() -> cli.PluginParser:
    from ..units import quantity_type

    from . import growth

    p = cli.PluginParser(PROG, NAME, DESCRIPTION, EPILOG + "\n" + growth.HELP)
    s = p.add_argument_group("mode 1: the application's sockets")
    s.add_argument("--pid", type=int, action="append", default=[], metavar="PID",
                   help="the application's process id (repeatable)")
    s.add_argument("--pidfile", action="append", default=[], metavar="PATH",
                   help="a file holding the application's pid (repeatable)")
    s.add_argument("--process-name", action="append", default=[], metavar="NAME",
                   help="processes with exactly this name (as ps shows it) or program "
                        "(argv[0], with or without its directory); never part of a "
                        "command line (repeatable)")
    s.add_argument("--endpoint", type=endpoint_type, action="append", default=[],
                   metavar="ENDPOINT",
                   help="only connections whose local or remote address is this "
                        "tcp://IP:PORT (IP may be *) or ipc:///path; alone: every such "
                        "connection on the host (repeatable)")
    s.add_argument("--expect-user", metavar="USER",
                   help="the user the application runs as. Mode 1: processes selected "
                        "by --pid/--pidfile must run as USER, --process-name and "
                        "--endpoint select only USER's processes. Mode 2: the stats "
                        "endpoint must belong to USER (the kernel says who holds an "
                        "ipc:// or local tcp:// socket), else UNKNOWN; without it the "
                        "first line says the identity is not verified")
    s.add_argument("--absent-state", choices=sorted(STATES), default="critical",
                   help="the state when nothing listens on or connects to the --endpoint "
                        "at all: the application is not running there (default critical)")
    s.add_argument("--idle-state", choices=sorted(STATES), default="ok",
                   help="the state when the --endpoint is listened on but no peer is "
                        "connected now (default ok: an idle feed is healthy)")
    s.add_argument("--stall-bytes", type=quantity_type("size"), default=32 * 1024,
                   metavar="SIZE",
                   help="a peer whose Send-Q stays at or above SIZE with nothing drained "
                        "between two runs is stalled (default 32KB)")
    m = p.add_argument_group("mode 2: the application's stats endpoint (helper)")
    m.add_argument("--stats-endpoint", metavar="ENDPOINT",
                   help="ask the nagios_ipc helper in the application at this tcp:// or "
                        "ipc:// endpoint instead of reading sockets")
    m.add_argument("--stats-timeout", type=quantity_type("duration"), metavar="SECONDS",
                   help="wait this long for the answer (default: the plugin timeout less "
                        "1s)")
    m.add_argument("--unverified-ok", action="store_true",
                   help="accept an answer from a tcp:// endpoint on another host without "
                        "CURVE (nothing can tell who answers; default: refused, UNKNOWN)")
    m.add_argument("--curve-server-key", metavar="KEY",
                   help="the stats endpoint's CURVE public key (Z85, 40 characters); "
                        "switches CURVE on")
    m.add_argument("--curve-server-key-file", metavar="PATH",
                   help="read the server's public key from a file (zmq certificate or "
                        "the bare key)")
    m.add_argument("--curve-client-key-file", metavar="PATH",
                   help="this check's CURVE key pair: a zmq secret certificate file "
                        "(public-key and secret-key); default: a new key pair per run")
    t = p.add_argument_group("thresholds (each: a range, or 'none' to switch a default off)")
    for measure in MEASURES:
        dash = measure.name.replace("_", "-")
        for level in ("warning", "critical"):
            default = getattr(measure, level)
            note = f" (default {default})" if default is not None else ""
            t.add_argument(f"--{dash}-{level}", type=optional_range(measure.kind),
                           default=None if default is None else
                           optional_range(measure.kind)(default),
                           metavar="RANGE",
                           help=f"{level.upper()} when {measure.help} is outside "
                                f"RANGE{note}")
    o = p.add_argument_group("state")
    o.add_argument("--state-file", metavar="PATH",
                   help="where to keep what this run saw for the next one (default: one "
                        "file per set of options, see below)")
    growth.add_options(p)  # issue 14: growth between runs (nagios_ipc/zmqhwm/growth.py)
    p.guard("--pidfile", "path")
    p.guard("--stats-endpoint", "endpoint")
    p.guard("--curve-server-key-file", "path")
    p.guard("--curve-client-key-file", "path")
    p.guard("--state-file", "path")
    return p


# --- evaluation ------------------------------------------------------------------------


class MeasureContext(nagiosplugin.ScalarContext):
    def __init__(self, measure: Measure, warning: Optional[nagiosplugin.Range],
                 critical: Optional[nagiosplugin.Range]) -> None:
        super().__init__(measure.name, warning, critical)
        self.measure = measure
        self.ranges = {"warning": warning, "critical": critical}

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom,
                                        self.ranges["warning"], self.ranges["critical"],
                                        metric.min, metric.max)


STATES = {"ok": nagiosplugin.state.Ok, "warning": nagiosplugin.state.Warn,
          "critical": nagiosplugin.state.Critical, "unknown": nagiosplugin.state.Unknown}


class PresenceContext(nagiosplugin.Context):
    """With --endpoint: nothing there at all (absent) or listening without a peer (idle),
    each with the state the options give; no perfdata of its own."""

    def __init__(self, absent: str, idle: str) -> None:
        super().__init__("presence")
        self.states = {0: STATES[absent], 1: STATES[idle], 2: nagiosplugin.state.Ok}

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        return self.result_cls(self.states[int(metric.value)], None, metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: nagiosplugin.Resource) -> None:
        return None


def show(metric: nagiosplugin.Metric) -> str:
    value = metric.value
    if metric.uom == "B":
        return human_size(value)
    if metric.uom == "s":
        return human_duration(value)
    if metric.uom == "%":
        return f"{format_number(value)}%"
    return format_number(value)


def violations(results: nagiosplugin.Results, skip: Sequence[str] = ()) -> List[str]:
    """'sendq_fill 85% (warning 80)' for each measure out of its range, worst first."""
    out = []
    for result in sorted(results, key=lambda r: -int(r.state)):
        metric = result.metric
        if metric is None or result.state == nagiosplugin.state.Ok or metric.name in skip:
            continue
        context = metric.contextobj
        if not isinstance(context, MeasureContext):
            continue
        level = "critical" if result.state == nagiosplugin.state.Critical else "warning"
        rng = context.ranges[level]
        out.append(f"{metric.name} {show(metric)} ({level} {format_range(rng)})")
    return out


def stamp(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall))


# --- presentation, mode 1 --------------------------------------------------------------


def peer_text(peer: Any, resource: Any, now: float) -> str:
    conn = peer.conn
    text = f"{conn.kind} {conn.local} -> {conn.remote or '?'} in {resource.process_name(peer.pid)}"
    fill = peer.send_fill
    text += f": Send-Q {human_size(conn.send_q)}"
    if fill is not None:
        text += f" ({format_number(round(fill, 1))}% of the send buffer)"
    text += f", Recv-Q {human_size(conn.recv_q)}"
    if conn.persist:
        text += ", zero window (persist timer on)"
    if peer.stalled and peer.since is not None:
        text += f", stalled for {human_duration(max(now - peer.since, 0))}"
    return text


def unread_text(peer: Any, resource: Any, now: float, count: int) -> str:
    """'pid N (name) has not read tcp A -> B for 2m: Recv-Q 50.7 KiB'."""
    conn = peer.conn
    since = peer.unread_since if peer.unread_since is not None else now
    what = (f"{count} connections, longest " if count > 1 else "connection ")
    return (f"{resource.process_name(peer.pid)} has not read {what}{conn.kind} {conn.local} "
            f"-> {conn.remote or '?'} for {human_duration(max(now - since, 0))}: Recv-Q "
            f"{human_size(conn.recv_q)}")


class SocketsSummary(nagiosplugin.Summary):
    def __init__(self, resource: Any, limit: int = 100) -> None:
        self.resource = resource
        self.limit = limit

    def headline(self) -> str:
        r = self.resource
        now = getattr(r, "now", time.time())
        stalled = [p for p in r.peers if p.stalled]
        whose = ("of " + ", ".join(r.process_name(p.pid) for p in r.processes)
                 if r.processes else
                 "on " + ", ".join(e.text for e in r.selection.endpoints))
        worst = r.worst()
        peers = f"{len(r.peers)} peer{'' if len(r.peers) == 1 else 's'}"
        unread = r.unread()
        if unread is not None:
            text = unread_text(unread, r, now, sum(1 for p in r.peers if p.not_reading))
            if stalled:
                text += (f"; {len(stalled)} of {peers} stalled, worst: "
                         f"{peer_text(worst, r, now)}")
        elif stalled:
            text = (f"{len(stalled)} of {peers} stalled, worst: "
                    f"{peer_text(worst, r, now)}")
        elif worst is not None:
            text = (f"{peers} {whose}, none stalled; fullest: "
                    f"{peer_text(worst, r, now)}")
        elif r.presence == "absent":
            where = ", ".join(e.text for e in r.selection.endpoints)
            text = f"nothing listens on or connects to {where}"
            if r.processes:
                text += " in " + ", ".join(r.process_name(p.pid) for p in r.processes)
            missing = [e.path for e in r.selection.endpoints if e.transport == "ipc"
                       and not e.path.startswith("@") and not os.path.lexists(e.path)]
            text += (f" ({', '.join(missing)} does not exist: the application is not running "
                     f"there?)" if missing else " (the application is not running there?)")
        elif r.presence == "idle":
            text = f"idle: {len(r.listeners)} listening on " + ", ".join(
                e.text for e in r.selection.endpoints)
            if r.processes:
                text += " in " + ", ".join(r.process_name(p.pid) for p in r.processes)
            text += ", no peer connected now"
        else:
            text = f"no connections {whose}"
            if r.listeners:
                text += f" ({len(r.listeners)} listening)"
        return text

    def tail(self) -> str:
        return "".join(f" ({note})" for note in self.resource.notes)

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.headline() + self.tail()

    def problem(self, results: nagiosplugin.Results) -> str:
        if not any(r.metric is not None for r in results):
            return str(results.first_significant)
        bad = violations(results, skip=("stalled", "not_reading"))
        return self.headline() + (" / " + ", ".join(bad) if bad else "") + self.tail()

    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        r = self.resource
        if not any(result.metric is not None for result in results):
            return []  # the probe failed: the first line says why
        now = getattr(r, "now", time.time())
        lines = []
        for proc in r.processes:
            limit = proc.fd_limit if proc.fd_limit is not None else "unlimited"
            lines.append(f"{r.process_name(proc.pid)}: {proc.fds} descriptors open of "
                         f"{limit}, {len(proc.inodes)} socket"
                         f"{'' if len(proc.inodes) == 1 else 's'}")
        for peer in r.shown(self.limit):  # sorted(r.peers, key=shown_order)[:limit]
            conn = peer.conn
            since = (f", stalled since {stamp(peer.since)}" if peer.stalled and peer.since
                     else "")
            if peer.not_reading and peer.unread_since:
                since += f", not read since {stamp(peer.unread_since)}"
            lines.append(f"{conn.kind} {conn.local} -> {conn.remote or '?'} in "
                         f"{r.process_name(peer.pid)}, {conn.state}: Send-Q {conn.send_q} B"
                         + (f" of {conn.sndbuf} B buffer" if conn.sndbuf else "")
                         + f", Recv-Q {conn.recv_q} B"
                         + (", persist timer on" if conn.persist else "") + since)
        if len(r.peers) > self.limit:
            lines.append(f"... and {len(r.peers) - self.limit} more connections")
        for conn in r.listeners[:self.limit]:
            lines.append(f"{conn.kind} {conn.local} listening, {conn.recv_q} waiting to be "
                         f"accepted")
        lines.extend(f"note: {note}" for note in r.notes)
        lines.append(f"state file: {r.state.path} (now {stamp(now)})")
        return lines


# --- wiring ----------------------------------------------------------------------------


def state_key(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """The options that make one instance differ from another (not thresholds, -t, -v)."""
    keep = ("pid", "pidfile", "process_name", "endpoint", "stall_bytes", "stats_endpoint")
    key = []
    for name in keep:
        value = getattr(args, name)
        if isinstance(value, list):
            value = [getattr(v, "text", v) for v in value]
        key.append((name, str(value)))
    if getattr(args, "expect_user", None):  # only when given: older state files stay valid
        key.append(("expect_user", str(args.expect_user)))
    return key


def contexts(args: argparse.Namespace, mode: int) -> List[MeasureContext]:
    out = []
    for measure in MEASURES:
        if measure.mode != mode:
            continue
        out.append(MeasureContext(measure, getattr(args, f"{measure.name}_warning"),
                                  getattr(args, f"{measure.name}_critical")))
    return out


def build(args: argparse.Namespace, **sources: Any) -> nagiosplugin.Check:
    """The check for *args*; *sources* (kernel=, proc=, clock=, moment=) let tests replay
    captures."""
    from .growth import parts

    moment = sources.pop("moment", None)
    selectors = args.pid or args.pidfile or args.process_name or args.endpoint
    if args.stats_endpoint:
        if selectors:
            raise nagiosplugin.CheckError("usage error: --stats-endpoint (mode 2) cannot be "
                                          "combined with --pid/--pidfile/--process-name/"
                                          "--endpoint (mode 1); run two services")
        from .stats import StatsResource, StatsSummary, client_options

        resource: Any = StatsResource(args.stats_endpoint, client_options(args),
                                      args.state_file, state_key(args))
        return nagiosplugin.Check(resource, *contexts(args, 2),
                                  *parts(args, resource, state_key(args), 2, moment),
                                  StatsSummary(resource))
    if not selectors:
        raise nagiosplugin.CheckError("usage error: select the application with --pid, "
                                      "--pidfile, --process-name or --endpoint (mode 1), or "
                                      "give --stats-endpoint (mode 2)")
    from .sockets import Selection, Sockets

    from .procfs import resolve_user

    selection = Selection(tuple(args.pid), tuple(args.pidfile), tuple(args.process_name),
                          tuple(args.endpoint))
    expect_uid = resolve_user(args.expect_user) if args.expect_user else None
    resource = Sockets(selection, int(args.stall_bytes), args.state_file, state_key(args),
                       expect_uid=expect_uid, absent_state=args.absent_state,
                       idle_state=args.idle_state, **sources)
    return nagiosplugin.Check(resource, *contexts(args, 1),
                              PresenceContext(args.absent_state, args.idle_state),
                              *parts(args, resource, state_key(args), 1, moment),
                              SocketsSummary(resource))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli.run(parser(), build, argv)
