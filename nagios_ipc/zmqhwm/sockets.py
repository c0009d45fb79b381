"""Mode 1, sockets: the kernel's queues of the application's connections.

A peer that stops reading leaves the sender's Send-Q full (TCP: the window
closes and the zero-window persist timer runs); an application that stops
reading leaves its own Recv-Q full. A peer is *stalled* when its persist timer
runs, or when its Send-Q was at or above --stall-bytes at the previous run and
still is, with nothing drained in between (TCP: bytes acknowledged did not
grow; unix: the Send-Q stayed exactly the same: a reading peer moves it).
Stalled-since is kept between runs per connection (local, remote, inode).

The receive side likewise: the application is *not reading* a connection when
its Recv-Q is non-empty at this run and at the previous one and it read nothing
in between. TCP: bytes received grew by no more than the Recv-Q did, so nothing
left the queue. Unix sockets have no such counter, and a busy consumer's full
queue of equal messages keeps the same size as one is read and the next
written, so: the Recv-Q stayed exactly the same and the process made no read()
call at all (/proc/PID/io syscr; ZeroMQ's I/O thread reads its mailbox each
time the application takes messages from a full pipe; a hung one reads
nothing). ZeroMQ's I/O thread empties the kernel's queue into its pipes until
they reach the RCVHWM, so a living consumer's Recv-Q moves, a hung one's does not.
"""

from __future__ import annotations

import gc
import time
from itertools import islice

import nagiosplugin

from ..state import StateFile
from .diag import Conn, DiagError, KernelSource
from .procfs import Endpoint, IpcPaths, Process, ProcError, ProcSource, process_uid, select_pids

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Dict, Generator, List, NamedTuple, Optional, Sequence, Tuple
else:
    from nagios_ipc.light import NamedTuple

MIN_SEGMENTS = 100  # retransmission % only over at least this many segments sent
STATE_CONNS_MAX = 20000


class Peer(NamedTuple):
    conn: Conn
    pid: int
    stalled: bool
    since: Optional[float]       # wall time since when it has not drained (stalled only)
    not_reading: bool = False    # the application has not read its Recv-Q since then
    unread_since: Optional[float] = None  # wall time since when (not_reading only)

    @property
    def send_fill(self) -> Optional[float]:
        if not self.conn.sndbuf:
            return None
        return 100.0 * self.conn.send_q / self.conn.sndbuf


class Selection(NamedTuple):
    pids: Tuple[int, ...]
    pidfiles: Tuple[str, ...]
    names: Tuple[str, ...]
    endpoints: Tuple[Endpoint, ...]

    def describe(self) -> str:
        parts = [f"--pid {p}" for p in self.pids] + [f"--pidfile {p}" for p in self.pidfiles]
        parts += [f"--process-name {n}" for n in self.names]
        parts += [f"--endpoint {e.text}" for e in self.endpoints]
        return " ".join(parts)


def judge(conn: Conn, previous: Optional[Dict[str, Any]], now: float,
          stall_bytes: int) -> Tuple[bool, Optional[float], Dict[str, Any]]:
    """(stalled, stalled since, record for the next run) of one connection."""
    above = conn.send_q > 0 and conn.send_q >= stall_bytes
    acked = conn.info.bytes_acked if conn.info is not None else None
    progress = True
    if previous is not None and isinstance(previous.get("q"), int):
        if acked is not None and isinstance(previous.get("acked"), int):
            progress = acked != previous["acked"]
        else:
            progress = conn.send_q != previous["q"]
    since: Optional[float] = None
    if above or conn.persist:
        old = previous.get("since") if previous is not None else None
        since = float(old) if isinstance(old, (int, float)) and not progress else now
    stalled = conn.persist or (above and not progress and previous is not None
                               and previous.get("since") is not None)
    record: Dict[str, Any] = {"q": conn.send_q, "since": since}
    if acked is not None:
        record["acked"] = acked
    return stalled, (since if stalled else None), record


def judge_reading(conn: Conn, previous: Optional[Dict[str, Any]], now: float,
                  record: Dict[str, Any],
                  reads: Optional[int] = None) -> Tuple[bool, Optional[float]]:
    """(not reading, since when) of one connection's receive side, as judge() does the
    send side; *reads*: the owner's read() calls so far (without bytes received);
    what the next run needs goes into *record*."""
    received = conn.info.bytes_received if conn.info is not None else None
    progress = True
    if previous is not None and isinstance(previous.get("rq"), int):
        if received is not None and isinstance(previous.get("rcvd"), int):
            # what the application read = what arrived less what the queue grew
            progress = (received - previous["rcvd"]) != (conn.recv_q - previous["rq"])
        else:
            progress = conn.recv_q != previous["rq"]
            if not progress and reads is not None and isinstance(previous.get("reads"), int):
                progress = reads != previous["reads"]
    since: Optional[float] = None
    if conn.recv_q > 0:
        old = previous.get("rsince") if previous is not None else None
        since = float(old) if isinstance(old, (int, float)) and not progress else now
        record["rq"] = conn.recv_q
        record["rsince"] = since
        if received is not None:
            record["rcvd"] = received
        elif reads is not None:
            record["reads"] = reads
    not_reading = (conn.recv_q > 0 and not progress and previous is not None
                   and previous.get("rsince") is not None)
    return not_reading, (since if not_reading else None)


def shown_order(peer: Peer) -> Tuple[bool, int, int]:
    """The long output's order of peers: stalled first, then the fullest Send-Q, Recv-Q."""
    return (not peer.stalled, -peer.conn.send_q, -peer.conn.recv_q)


IDLE_ORDER = (True, 0, 0)  # shown_order() of a peer not stalled with both queues empty


def retrans_percent(previous: Any, now: Tuple[int, int]) -> Optional[float]:
    """Retransmitted segments as % of segments sent since the previous run."""
    if (not isinstance(previous, list) or len(previous) != 2
            or not all(isinstance(v, int) for v in previous)):
        return None
    sent = now[0] - previous[0]
    retrans = now[1] - previous[1]
    if sent < 0 or retrans < 0:
        return None  # counters reset (reboot, namespace change)
    if sent < MIN_SEGMENTS:
        return 0.0
    return round(100.0 * retrans / sent, 3)


class Sockets(nagiosplugin.Resource):
    """Collects the selected processes' connections and judges each against the state."""

    name = "sockets"

    def __init__(self, selection: Selection, stall_bytes: int, state_path: Optional[str],
                 state_key: Sequence[Any], kernel: Optional[KernelSource] = None,
                 proc: Optional[ProcSource] = None, clock: Any = time.time,
                 expect_uid: Optional[int] = None, absent_state: str = "critical",
                 idle_state: str = "ok") -> None:
        self.selection = selection
        self.expect_uid = expect_uid
        self.absent_state = absent_state
        self.idle_state = idle_state
        self.stall_bytes = stall_bytes
        self.state = StateFile(state_path, "check_zmq_hwm", state_key)
        self.kernel = kernel or KernelSource()
        self.proc = proc or ProcSource()
        self.clock = clock
        self.processes: List[Process] = []
        self.holders: List[Process] = []
        self.presence: Optional[str] = None  # with --endpoint: absent, idle or connected
        self.peers: List[Peer] = []
        self.listeners: List[Conn] = []
        self.notes: List[str] = []
        self.retrans: Optional[float] = None  # retransmitted % since the previous run
        self.visible = 0  # connections read of the selected processes, any endpoint
        self.doing = "selecting the application's processes"

    # --- acquisition -------------------------------------------------------------------

    def connections(self, inodes: Optional[set]) -> List[Tuple[Conn, int]]:
        want_tcp = want_unix = True
        if self.selection.endpoints:
            want_tcp = any(e.transport == "tcp" for e in self.selection.endpoints)
            want_unix = any(e.transport == "ipc" for e in self.selection.endpoints)
        conns: List[Conn] = []
        if want_tcp:
            self.doing = "reading TCP sockets (netlink inet_diag)"
            conns.extend(self.kernel.tcp(inodes))
            if self.kernel.fallback_note:
                self.notes.append(self.kernel.fallback_note)
        if want_unix:
            self.doing = "reading unix sockets (netlink unix_diag)"
            if inodes is not None:
                # unix_diag is asked inode by inode: not for those just found as TCP
                # (10,000 TCP connections were 10,000 "no such socket" answers)
                conns.extend(self.kernel.unix(wanted=inodes.difference(
                    c.inode for c in conns)))
            else:
                conns.extend(self.kernel.unix(names=IpcPaths(self.selection.endpoints)))
        self.visible = len(conns)
        if self.selection.endpoints:
            conns = [c for c in conns if any(e.matches(c.local) or e.matches(c.remote)
                                             for e in self.selection.endpoints)]
        if inodes is None:
            return [(c, 0) for c in conns]
        if len(self.processes) == 1:  # no owner map needed (10,000 entries at 10,000)
            pid = self.processes[0].pid
            return [(c, pid) for c in conns if c.inode in inodes]
        owner = {i: p.pid for p in self.processes for i in p.inodes}
        return [(c, owner[c.inode]) for c in conns if c.inode in owner]

    def select(self) -> Optional[set]:
        sel = self.selection
        if not (sel.pids or sel.pidfiles or sel.names):
            return None
        pids = select_pids(sel.pids, sel.pidfiles, sel.names, self.proc, self.expect_uid)
        self.doing = f"reading /proc/PID/fd of pid {', '.join(map(str, pids))}"
        self.processes = [self.proc.process(pid) for pid in pids]
        return {i for p in self.processes for i in p.inodes}

    def collect(self) -> List[Tuple[Conn, int]]:
        inodes = self.select()
        found = self.connections(inodes)
        if inodes is None:  # endpoint only: find who holds these sockets
            self.doing = "finding the processes that hold the endpoint's sockets"
            wanted = {c.inode for c, _ in found if c.inode}
            pids = self.proc.owners(wanted)
            holders = []
            for pid in pids:
                try:
                    holders.append(self.proc.process(pid))
                except ProcError:
                    continue  # exited meanwhile
            if self.expect_uid is not None:
                holders = [p for p in holders
                           if process_uid(self.proc.root, p.pid) == self.expect_uid]
            owner = {i: p.pid for p in holders for i in p.inodes}
            unowned = [c for c, _ in found if c.inode and c.inode not in owner]
            if unowned and self.expect_uid is None:
                self.notes.append(f"{len(unowned)} socket(s) of the endpoint belong to "
                                  f"processes this user cannot read")
            # the application is what listens there: a client's descriptors are not its
            listening = {c.inode for c, _ in found if c.listening}
            self.holders = holders
            self.processes = [p for p in holders if listening.intersection(p.inodes)]
            if not self.processes and holders:
                self.processes = holders
                self.notes.append("nothing of this host listens on the endpoint: "
                                  "descriptors are those of the processes connected to it")
            if self.expect_uid is not None:
                found = [(c, owner[c.inode]) for c, _ in found if c.inode in owner]
            else:
                found = [(c, owner.get(c.inode, 0)) for c, _ in found if c.inode]
        elif not found and self.processes and not any(p.inodes for p in self.processes):
            names = ", ".join(f"{p.pid} ({p.name})" for p in self.processes)
            raise ProcError(f"pid {names} has no sockets at all: is it the ZeroMQ "
                            f"application? check the process selection")
        elif not self.visible and self.processes:
            self.netns_check()
        return found

    def netns_check(self) -> None:
        """None of the processes' sockets is visible to sock_diag here: those of a
        process in another network namespace never are (an application started with
        unshare -n, in a container): say so rather than a wrong OK without connections."""
        for proc in self.processes:
            if not proc.inodes:
                continue
            other = self.proc.other_netns(proc.pid)
            if other:
                raise ProcError(
                    f"pid {proc.pid} ({proc.name}) uses another network namespace: its "
                    f"sockets are not visible here; run the check in it (nsenter -t "
                    f"{proc.pid} -n check_zmq_hwm ...)")
            if other is None:
                raise ProcError(
                    f"no socket of pid {proc.pid} ({proc.name}) is visible here and "
                    f"{self.proc.root}/{proc.pid}/ns/net cannot be read: in another "
                    f"network namespace? run the check in it "
                    f"(nsenter -t {proc.pid} -n check_zmq_hwm ...)")

    def judge_all(self) -> float:
        """Reads and judges the connections, keeps the state; the time it ran."""
        found = self.collect()
        self.doing = f"waiting for the lock on {self.state.path}"
        with self.state:
            # a corrupt state: said (UNKNOWN) by save(), once this run's state is written
            previous = self.state.load(until_saved=True) or {}
            now = self.clock()
            old_conns = previous.get("conns")
            if not isinstance(old_conns, dict):
                old_conns = {}
            records: Dict[str, Any] = {}
            peers = self.peers
            new_tuple = tuple.__new__
            read_calls: Dict[int, Optional[int]] = {}  # per pid, read once
            mine = {p.pid for p in self.processes}
            for conn, pid in found:
                if conn.state == "LISTEN":
                    self.listeners.append(conn)
                    continue
                if not conn.send_q and not conn.persist and not conn.recv_q:
                    # what judge() and judge_reading() say of empty queues without a
                    # persist timer, whatever the previous run saw, and nothing to keep:
                    # the common case, paid per connection (10,000 of them):
                    # tuple.__new__ skips the NamedTuple's Python-level __new__
                    peers.append(new_tuple(Peer, (conn, pid, False, None, False, None)))
                    continue
                old = old_conns.get(conn.key)
                if not isinstance(old, dict):
                    old = None
                stalled, since, record = judge(conn, old, now, self.stall_bytes)
                unread, unread_since = False, None
                if pid in mine:  # the application's own reading; not its clients' (--endpoint)
                    reads = None
                    if conn.recv_q and (conn.info is None or conn.info.bytes_received is None):
                        if pid not in read_calls:
                            read_calls[pid] = self.proc.read_calls(pid)
                        reads = read_calls[pid]
                    unread, unread_since = judge_reading(conn, old, now, record, reads)
                self.peers.append(Peer(conn, pid, stalled, since, unread, unread_since))
                if ((record["since"] is not None or conn.send_q or conn.recv_q)
                        and len(records) < STATE_CONNS_MAX):
                    records[conn.key] = record
            retrans: Optional[float] = None
            counters: Optional[Tuple[int, int]] = None
            try:
                counters = self.proc.tcp_counters()
            except ProcError as exc:
                self.notes.append(f"no retransmission rate: {exc}")
            if counters is not None:
                retrans = retrans_percent(previous.get("snmp"), counters)
            self.name_unix_peers()
            self.doing = f"writing {self.state.path}"
            self.state.save({"t": now, "conns": records,
                             "snmp": list(counters) if counters else None})
        self.retrans = retrans
        return now

    def probe(self) -> Generator[nagiosplugin.Metric, None, None]:
        # no cyclic garbage collection while the connections are read and judged: every
        # Conn and Peer is a tuple the collector tracks, so at 10,000 connections it ran
        # its full passes over all of them (and every module) again and again, for
        # nothing: tuples of ints and strings form no cycles, refcounting frees them
        collecting = gc.isenabled()
        gc.disable()
        try:
            now = self.judge_all()
        finally:
            if collecting:
                gc.enable()
        self.now = now
        if self.selection.endpoints:
            self.presence = ("connected" if self.peers else "idle" if self.listeners
                             else "absent")
            yield nagiosplugin.Metric("presence", {"absent": 0, "idle": 1,
                                                   "connected": 2}[self.presence],
                                      context="presence")
        yield from self.metrics(now, self.retrans)

    def name_unix_peers(self) -> None:
        """Stalled unix peers without a path: say which process holds the other end.

        Costs one pass over /proc/*/fd, so only when such a peer is stalled."""
        unnamed = {p.conn.peer_inode for p in self.peers
                   if p.stalled and p.conn.kind == "unix" and p.conn.remote.startswith("inode:")}
        if not unnamed:
            return
        self.doing = "finding the processes at the other end of stalled unix sockets"
        owner: Dict[int, str] = {}
        for pid in self.proc.owners(unnamed):
            try:
                inodes, _ = self.proc.fd_inodes(pid)
            except ProcError:
                continue
            for inode in unnamed.intersection(inodes):
                owner[inode] = f"pid {pid} ({self.proc.name(pid)})"
        self.peers = [p._replace(conn=p.conn._replace(
            remote=f"{owner[p.conn.peer_inode]} {p.conn.remote}"))
            if p.conn.peer_inode in owner and p.conn.remote.startswith("inode:") else p
            for p in self.peers]

    # --- measures ----------------------------------------------------------------------

    def metrics(self, now: float,
                retrans: Optional[float]) -> Generator[nagiosplugin.Metric, None, None]:
        peers = self.peers
        stalled = [p for p in peers if p.stalled]
        yield nagiosplugin.Metric("peers", len(peers), min=0, context="peers")
        yield nagiosplugin.Metric("stalled", len(stalled), min=0, max=len(peers),
                                  context="stalled")
        longest = max((now - p.since for p in stalled if p.since is not None), default=0.0)
        yield nagiosplugin.Metric("stalled_for", round(max(longest, 0.0)), "s", min=0,
                                  context="stalled_for")
        yield nagiosplugin.Metric("not_reading", sum(1 for p in peers if p.not_reading),
                                  min=0, max=len(peers), context="not_reading")
        yield nagiosplugin.Metric("sendq", max((p.conn.send_q for p in peers), default=0),
                                  "B", min=0, context="sendq")
        fills = [100.0 * p.conn.send_q / p.conn.sndbuf for p in peers if p.conn.sndbuf]
        if fills or not peers:
            yield nagiosplugin.Metric("sendq_fill", round(max(fills, default=0.0), 1), "%",
                                      min=0, max=100, context="sendq_fill")
        yield nagiosplugin.Metric("recvq", max((p.conn.recv_q for p in peers), default=0),
                                  "B", min=0, context="recvq")
        usage = [100.0 * p.fds / p.fd_limit for p in self.processes if p.fd_limit]
        if usage:
            yield nagiosplugin.Metric("fds", round(max(usage), 1), "%", min=0, max=100,
                                      context="fds")
        if retrans is not None:
            yield nagiosplugin.Metric("retrans", retrans, "%", min=0, max=100,
                                      context="retrans")

    # --- presentation helpers ----------------------------------------------------------

    def worst(self) -> Optional[Peer]:
        """The peer to name first: stalled longest, then the fullest Send-Q, then Recv-Q."""
        if not self.peers:
            return None
        stalled = [p for p in self.peers if p.stalled]
        if stalled:
            return max(stalled, key=lambda p: (-(p.since or 0), p.conn.send_q, p.conn.recv_q))
        # none stalled: the first of the fullest Send-Q, then Recv-Q (max() keeps the
        # first of equals), in passes without a key tuple per peer (10,000 peers)
        top = max(p.conn.send_q for p in self.peers)
        fullest = [p for p in self.peers if p.conn.send_q == top]
        top = max(p.conn.recv_q for p in fullest)
        return next(p for p in fullest if p.conn.recv_q == top)

    def unread(self) -> Optional[Peer]:
        """The connection the application has not read for longest, if any."""
        unread = [p for p in self.peers if p.not_reading]
        if not unread:
            return None
        return max(unread, key=lambda p: (-(p.unread_since or 0), p.conn.recv_q))

    def shown(self, limit: int) -> List[Peer]:
        """The first *limit* peers in the long output's order (stalled first, then the
        fullest Send-Q, then Recv-Q; equals as found): sorted(peers, key=shown_order)
        cut at *limit*, without a key tuple per peer. Peers that are not stalled and
        have both queues empty, the common case (10,000 of them), share the key
        (True, 0, 0): the stable sort leaves them in their order, so only the others
        are sorted, and of these idle ones only as many as are shown are picked."""
        peers = self.peers
        others = [p for p in peers if p.stalled or p.conn.send_q or p.conn.recv_q]
        if limit < 0 or any(shown_order(p) == IDLE_ORDER for p in others):
            return sorted(peers, key=shown_order)[:limit]  # not the case described
        others.sort(key=shown_order)
        shown = [p for p in others if shown_order(p) < IDLE_ORDER][:limit]
        if len(shown) < limit:
            shown.extend(islice((p for p in peers
                                 if not (p.stalled or p.conn.send_q or p.conn.recv_q)),
                                limit - len(shown)))
        if len(shown) < limit:
            shown.extend([p for p in others if shown_order(p) > IDLE_ORDER]
                         [:limit - len(shown)])
        return shown

    def process_name(self, pid: int) -> str:
        for proc in self.processes + self.holders:
            if proc.pid == pid:
                return f"pid {pid} ({proc.name})"
        return f"pid {pid}" if pid else "pid ?"


__all__ = ["DiagError", "Peer", "Selection", "Sockets", "judge", "judge_reading",
           "retrans_percent"]
