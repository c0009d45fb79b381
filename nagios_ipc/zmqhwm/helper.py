"""Mode 2, in the application: count what ZeroMQ does not, serve it to check_zmq_hwm.

    import zmq
    from nagios_ipc.zmqhwm.helper import StatsServer

    ctx = zmq.Context()
    stats = StatsServer("ipc:///run/feed/stats", context=ctx)
    pub = stats.register(ctx.socket(zmq.XPUB), name="ticks", nodrop=True)
    pub.setsockopt(zmq.SNDHWM, 1000)
    pub.bind("tcp://0.0.0.0:5556")
    stats.start()
    ...
    pub.send(b"tick")          # counted; zmq.Again counted as a drop (XPUB_NODROP)
    ...
    stats.close()              # from the thread that owns the sockets

What it keeps, per registered socket: type, endpoints (bind/connect through the
wrapper), SNDHWM/RCVHWM (read when registered and when set through the
wrapper), messages sent, sends that raised zmq.Again (would-block; on a socket
with XPUB_NODROP these are drops: the message was refused), and the socket's
monitor events (connects, disconnects, connect retries, handshake failures
including CURVE/ZAP authentication failures).

Thread safety: ZeroMQ sockets are not thread-safe. The counters of the
application's sockets are plain integers written only by the thread that owns
the socket (the wrapper) and only read by the helper's thread: no lock, so a
send never waits for the helper. The helper's own thread owns only its REP
socket and the monitor sockets; it never touches an application socket.
Options are read at registration, in the caller's thread.

The stats endpoint answers exactly one request, ``stats``, with a JSON snapshot;
any other request of at most 1 KiB gets a fixed error reply. Nothing received is
ever evaluated or executed. What any peer can cost the application is bounded:

* Without CURVE the endpoint is served by a small ZMTP 3 REP of the helper's own
  (nagios_ipc.zmqhwm.zmtp), not by libzmq: libzmq bounds a frame
  (ZMQ_MAXMSGSIZE) but not a message, so one peer sending MORE frames for ever
  grew an application by 1.9 GB. Here a request may be 1 KiB and 4 frames *in
  all* (the handshake included), at most MAX_CLIENTS peers are connected at
  once, a peer silent for IDLE_SECONDS is closed, answers are rate-limited
  (ANSWERS_PER_SECOND, a burst of ANSWER_BURST: a pipelined flood waits in the
  kernel, not in the application's CPU), and a reply not yet taken by its peer
  stops further reads from it.
* With ``curve_secret_key`` the endpoint is libzmq's CURVE REP; with
  ``allowed_client_keys`` too only those clients may ask (a ZAP handler on the
  helper's own context, so the application's sockets are not affected), and a
  peer without an allowed key is refused in the handshake, before any message.
  Without ``allowed_client_keys`` any peer may complete the handshake: give the
  keys (a CURVE peer could still send an endless message; libzmq cannot bound it).
* An ipc:// endpoint is created with ``ipc_mode`` (e.g. 0o660) and ``ipc_group``
  (e.g. "nagios") already set (bound under a temporary name, then renamed), so
  it never exists with the application's umask. An existing socket file that
  answers is not taken over (another process serves it: ``start`` raises).

Per-pipe queue depths (true HWM fill) need libzmq's draft API
(zmq_socket_monitor_pipes_stats); it is used where the running libzmq has it,
else the snapshot says ``"pipes_stats": false`` with the reason.
"""

from __future__ import annotations

import errno
import grp
import json
import os
import queue
import socket
import struct
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import zmq
import zmq.utils.z85

from . import zmtp

SCHEMA = "nagios_ipc.zmq_stats/1"
REQUEST = b"stats"
MAX_REQUEST = 1024  # bytes of one request in all (frames, handshake; CURVE: per frame)
MAX_FRAMES = 4  # a REQ sends 2 (the delimiter and 'stats')
MAX_CLIENTS = 16
IDLE_SECONDS = 10.0
ANSWERS_PER_SECOND = 20.0
ANSWER_BURST = 20.0
ACCEPTS_PER_SECOND = 50.0
POLL_MS = 200
PIPES_INTERVAL = 1.0  # seconds between two pipes-stats requests from the wrapper
EVENT_NAMES = {int(e): e.name.lower() for e in zmq.Event
               if e.name and e.name not in ("ALL", "ALL_V1", "ALL_V2")}
TYPE_NAMES = {int(t): t.name for t in zmq.SocketType}
PIPES_STATS_EVENT = 0x10000  # ZMQ_EVENT_PIPES_STATS (draft)


def pipes_stats_support() -> Tuple[Any, str]:
    """(C functions, note): the draft functions of the running libzmq, or None and why."""
    if not zmq.has("draft"):
        return None, (f"libzmq {zmq.zmq_version()} here is built without the draft API "
                      f"(zmq_socket_monitor_pipes_stats)")
    import ctypes

    from zmq.backend.cython import _zmq as backend

    try:
        lib = ctypes.CDLL(backend.__file__)
        stats = lib.zmq_socket_monitor_pipes_stats
        versioned = lib.zmq_socket_monitor_versioned
    except (OSError, AttributeError):
        return None, "the draft functions are not exported by the loaded libzmq"
    stats.argtypes = [ctypes.c_void_p]
    versioned.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_int,
                          ctypes.c_int]
    return (stats, versioned), "draft API of the running libzmq"


def decode_v2_event(frames: Sequence[bytes]) -> Tuple[int, List[int], str, str]:
    """(event, values, local, remote) from a version-2 monitor message; ValueError.

    Frames: event (u64), number of values (u64), each value (u64), local and
    remote endpoint (strings)."""
    if len(frames) < 4 or len(frames[0]) != 8 or len(frames[1]) != 8:
        raise ValueError("not a version-2 monitor event")
    event, = struct.unpack("=Q", frames[0])
    count, = struct.unpack("=Q", frames[1])
    if len(frames) != 2 + count + 2 or any(len(f) != 8 for f in frames[2:2 + count]):
        raise ValueError("version-2 monitor event with a wrong number of values")
    values = [struct.unpack("=Q", f)[0] for f in frames[2:2 + count]]
    return event, values, frames[-2].decode("utf-8", "replace"), frames[-1].decode(
        "utf-8", "replace")


class SocketStats:
    """The figures of one registered socket (see the module's note on threads)."""

    def __init__(self, name: str, kind: str, sndhwm: int, rcvhwm: int, nodrop: bool) -> None:
        self.name = name
        self.kind = kind
        self.endpoints: List[str] = []
        self.sndhwm = sndhwm
        self.rcvhwm = rcvhwm
        self.nodrop = nodrop
        self.sends = 0          # written by the owning thread only
        self.again = 0          # written by the owning thread only
        self.events: Dict[str, int] = {}   # written by the helper's thread only
        self.pipes: Optional[Dict[str, Tuple[int, int]]] = None  # helper's thread only
        self.pipes_at: Optional[float] = None
        self.want_pipes = False  # set by the helper's thread, read by the owning thread

    def snapshot(self) -> Dict[str, Any]:
        pipes = None
        if self.pipes is not None:
            pipes = [{"peer": peer, "out": out, "in": inn}
                     for peer, (out, inn) in sorted(self.pipes.items())]
        return {"name": self.name, "type": self.kind, "endpoints": list(self.endpoints),
                "sndhwm": self.sndhwm, "rcvhwm": self.rcvhwm, "nodrop": self.nodrop,
                "sends": self.sends, "wouldblock": 0 if self.nodrop else self.again,
                "drops": self.again if self.nodrop else 0,
                "events": dict(self.events), "pipes": pipes, "pipes_at": self.pipes_at}


class CountingSocket(zmq.Socket):  # type: ignore[type-arg]
    """The application's socket with counting sends.

    A real ``zmq.Socket``, shadowing the registered one (the same libzmq socket):
    pollers, options, ``close()`` and everything else work as usual. Only sends
    (``send``, ``send_multipart`` and what is built on them: ``send_string``,
    ``send_json``, ``send_pyobj``, ``send_serialized``) are counted, once per
    message, and ``bind``/``connect``/HWM options are recorded."""

    # pyzmq sets unknown attributes as socket options: ours are declared here
    _stats: Any = None
    _pipes_fn: Any = None
    _pipes_next: float = 0.0
    _original: Any = None
    _in_parts: bool = False

    @classmethod
    def wrap(cls, sock: zmq.Socket, stats: SocketStats, pipes_fn: Any) -> CountingSocket:
        wrapped = cls.shadow(sock.underlying)
        wrapped._original = sock  # keeps the registered object (which owns it) alive
        wrapped._stats = stats
        wrapped._pipes_fn = pipes_fn
        return wrapped

    @property
    def socket(self) -> zmq.Socket:
        """The socket that was registered."""
        return self._original

    def _sent(self) -> None:
        self._stats.sends += 1
        if self._stats.want_pipes and self._pipes_fn is not None:
            now = time.monotonic()
            if now >= self._pipes_next:  # this thread owns the socket: the draft call is safe
                self._pipes_next = now + PIPES_INTERVAL
                self._stats.want_pipes = False
                self._pipes_fn(self.underlying)

    def send(self, data: Any, flags: int = 0, copy: bool = True,  # type: ignore[override]
             track: bool = False,
             **kwargs: Any) -> Any:
        if self._in_parts:  # one part of send_multipart: counted there
            return super().send(data, flags, copy=copy, track=track, **kwargs)
        try:
            result = super().send(data, flags, copy=copy, track=track, **kwargs)
        except zmq.Again:
            self._stats.again += 1
            raise
        self._sent()
        return result

    def send_multipart(self, msg_parts: Any, flags: int = 0, copy: bool = True,
                       track: bool = False, **kwargs: Any) -> Any:
        self._in_parts = True
        try:
            result = super().send_multipart(msg_parts, flags, copy=copy, track=track, **kwargs)
        except zmq.Again:
            self._stats.again += 1
            raise
        finally:
            self._in_parts = False
        self._sent()
        return result

    def bind(self, addr: str) -> Any:
        result = super().bind(addr)
        self._stats.endpoints.append(self.getsockopt_string(zmq.LAST_ENDPOINT))
        return result

    def connect(self, addr: str) -> Any:
        result = super().connect(addr)
        self._stats.endpoints.append(addr)
        return result

    def set(self, option: int, optval: Any) -> None:
        super().set(option, optval)
        if option == zmq.SNDHWM:
            self._stats.sndhwm = int(optval)
        elif option == zmq.RCVHWM:
            self._stats.rcvhwm = int(optval)
        elif option == zmq.XPUB_NODROP:
            self._stats.nodrop = bool(optval)

    setsockopt = set


class StatsServer:
    """Counts for registered sockets and serves ``stats`` on *endpoint* (see module doc)."""

    def __init__(self, endpoint: str, context: Optional[zmq.Context] = None,
                 curve_secret_key: Optional[bytes] = None,
                 curve_public_key: Optional[bytes] = None,
                 allowed_client_keys: Optional[Sequence[bytes]] = None,
                 ipc_mode: Optional[int] = None, ipc_group: Any = None) -> None:
        self.endpoint = endpoint
        self.ipc_mode = ipc_mode
        self.ipc_group = ipc_group
        self.app_context = context or zmq.Context.instance()
        self.curve = (curve_secret_key, curve_public_key) if curve_secret_key else None
        if self.curve and not curve_public_key:
            raise ValueError("curve_secret_key needs curve_public_key too")
        self.allowed = [zmq.utils.z85.encode(k) if isinstance(k, bytes) and len(k) == 32
                        else (k.encode() if isinstance(k, str) else bytes(k))
                        for k in allowed_client_keys or []]  # Z85, as ZAP hands them over
        self.sockets: List[SocketStats] = []
        self.wrapped: List[CountingSocket] = []
        self.started = time.time()
        self.pipes, self.pipes_note = pipes_stats_support()
        self._monitors: queue.SimpleQueue[Tuple[zmq.Socket, SocketStats]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._context: Optional[zmq.Context] = None
        self._auth: Any = None
        self._ipc_path: Optional[str] = None
        self.requests = 0
        self.bad_requests = 0
        self.dropped_peers = 0  # closed for breaking a bound (size, frames, protocol, idle)

    # --- the application's thread ------------------------------------------------------

    def register(self, sock: zmq.Socket, name: Optional[str] = None,
                 nodrop: bool = False) -> CountingSocket:
        """Wrap *sock* (call from the thread that owns it); use the returned socket."""
        kind = TYPE_NAMES.get(int(sock.type), str(sock.type))
        stats = SocketStats(name or f"{kind.lower()}{len(self.sockets) + 1}", kind,
                            int(sock.getsockopt(zmq.SNDHWM)), int(sock.getsockopt(zmq.RCVHWM)),
                            nodrop)
        last = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if last:
            stats.endpoints.append(last)
        if self.pipes is not None:
            monitor = self._versioned_monitor(sock)
        else:
            monitor = sock.get_monitor_socket()
        self.sockets.append(stats)
        wrapped = CountingSocket.wrap(sock, stats, self.pipes[0] if self.pipes else None)
        self.wrapped.append(wrapped)
        self._monitors.put((monitor, stats))
        return wrapped

    def _versioned_monitor(self, sock: zmq.Socket) -> zmq.Socket:
        address = f"inproc://nagios_ipc.monitor.{id(sock):x}.{len(self.sockets)}"
        rc = self.pipes[1](sock.underlying, address.encode(), 0xFFFFFFFF, 2, zmq.PAIR)
        if rc != 0:
            raise zmq.ZMQError()
        monitor = self.app_context.socket(zmq.PAIR)
        monitor.connect(address)
        return monitor

    def start(self) -> None:
        """Bind the stats endpoint (errors raise here) and start the helper's thread."""
        if not self.curve:
            listener = self._listen()  # no context of its own: plain sockets and a poller
            self._thread = threading.Thread(target=self._serve_null, args=(listener,),
                                            name="nagios_ipc-zmq-stats", daemon=True)
            self._thread.start()
            return
        self._context = zmq.Context()
        rep = self._context.socket(zmq.REP)
        rep.setsockopt(zmq.LINGER, 0)
        rep.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)
        rep.setsockopt(zmq.SNDTIMEO, 1000)
        if self.curve:
            if self.allowed:
                from zmq.auth.thread import ThreadAuthenticator

                self._auth = ThreadAuthenticator(self._context)
                self._auth.start()
                self._auth.configure_curve_callback(domain="*", credentials_provider=self)
            rep.setsockopt(zmq.CURVE_SERVER, 1)
            secret, public = self.curve
            assert secret is not None and public is not None  # checked in __init__
            rep.setsockopt(zmq.CURVE_SECRETKEY, secret)
            rep.setsockopt(zmq.CURVE_PUBLICKEY, public)
        try:
            rep.bind(self.endpoint)
        except zmq.ZMQError:
            rep.close(0)
            self._shutdown_context()
            raise
        self._thread = threading.Thread(target=self._serve, args=(rep,),
                                        name="nagios_ipc-zmq-stats", daemon=True)
        self._thread.start()

    def _listen(self) -> socket.socket:
        """The listening socket of a NULL-mechanism endpoint; OSError/ValueError."""
        transport, sep, rest = self.endpoint.partition("://")
        if not sep or transport not in ("tcp", "ipc"):
            raise ValueError(f"stats endpoint {self.endpoint!r}: tcp://HOST:PORT or "
                             f"ipc:///path (inproc:// cannot reach a check)")
        if transport == "tcp":
            host, _, port = rest.rpartition(":")
            host = host.strip("[]")
            if host in ("*", ""):
                host = "0.0.0.0"  # noqa: S104 - the operator asked for every address
            elif host == "localhost":
                host = "127.0.0.1"
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, 0 if port in ("*", "0") else int(port)))
                sock.listen(MAX_CLIENTS)
            except BaseException:  # ours to close whatever went wrong; re-raised
                sock.close()
                raise
            bound = sock.getsockname()
            shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
            self.endpoint = f"tcp://{shown}:{bound[1]}"
        else:
            sock = self._listen_ipc(rest)
        sock.setblocking(False)
        return sock

    def _listen_ipc(self, path: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            if path.startswith("@"):  # abstract namespace: no file, no mode
                sock.bind("\0" + path[1:])
            else:
                self._clear_stale(path)
                # bound under a temporary name, given its mode and group, then renamed:
                # the endpoint never exists with the application's umask
                tmp = f"{path}.{os.getpid()}.tmp"
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                sock.bind(tmp)
                try:
                    if self.ipc_group is not None:
                        gid = (self.ipc_group if isinstance(self.ipc_group, int)
                               else grp.getgrnam(self.ipc_group).gr_gid)
                        os.chown(tmp, -1, gid)
                    if self.ipc_mode is not None:
                        os.chmod(tmp, self.ipc_mode)
                    os.rename(tmp, path)
                except BaseException:  # no half-made endpoint left behind; re-raised
                    os.unlink(tmp)
                    raise
                self._ipc_path = path
            sock.listen(MAX_CLIENTS)
        except BaseException:  # ours to close whatever went wrong; re-raised
            sock.close()
            raise
        return sock

    @staticmethod
    def _clear_stale(path: str) -> None:
        """Remove a socket file nobody answers on (a crashed run), as libzmq does; a live
        one belongs to another process and is not taken over."""
        if not os.path.lexists(path):
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            probe.settimeout(1.0)
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # stale
            return
        except OSError:
            return  # not a socket, or not ours to probe: bind names the error
        finally:
            probe.close()
        raise OSError(errno.EADDRINUSE, f"another process serves {path}")

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP credentials provider: is this client's public key allowed?"""
        return key in self.allowed

    def close(self) -> None:
        """Stop monitoring and the helper's thread; call from the thread that owns the
        sockets, before ``ctx.term()`` (the monitor sockets live in that context).

        The monitors are switched off first, while the helper's thread still reads
        them: libzmq's last event (MONITOR_STOPPED) goes to a PAIR socket, and a
        send to a PAIR with no reader would block the caller."""
        for wrapped in self.wrapped:
            try:
                wrapped.socket.disable_monitor()
            except zmq.ZMQError:
                pass  # already closed by the application
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._shutdown_context()
        if self._ipc_path is not None:
            try:
                os.unlink(self._ipc_path)
            except OSError:
                pass  # already gone, or replaced: not ours to insist on
            self._ipc_path = None

    def _shutdown_context(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None

    # --- the helper's thread -----------------------------------------------------------

    def _serve(self, rep: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(rep, zmq.POLLIN)
        monitors: Dict[zmq.Socket, SocketStats] = {}
        try:
            while not self._stop.is_set():
                while not self._monitors.empty():
                    monitor, stats = self._monitors.get()
                    monitors[monitor] = stats
                    poller.register(monitor, zmq.POLLIN)
                for sock, _ in poller.poll(POLL_MS):
                    if sock is rep:
                        self._answer(rep)
                    else:
                        self._event(sock, monitors[sock])
        finally:
            for monitor in monitors:
                monitor.close(0)
            rep.close(0)

    def _serve_null(self, listener: socket.socket) -> None:
        """The NULL-mechanism endpoint: accept, handshake, answer, all within bounds."""
        poller = zmq.Poller()
        monitors: Dict[Any, SocketStats] = {}
        clients: Dict[int, _Client] = {}
        answers = _Bucket(ANSWERS_PER_SECOND, ANSWER_BURST)
        accepts = _Bucket(ACCEPTS_PER_SECOND, ACCEPTS_PER_SECOND)
        lfd = listener.fileno()
        listening = False
        try:
            while not self._stop.is_set():
                while not self._monitors.empty():
                    monitor, stats = self._monitors.get()
                    monitors[monitor] = stats
                    poller.register(monitor, zmq.POLLIN)
                now = time.monotonic()
                for fd, client in list(clients.items()):
                    if client.pending is not None and not client.out and answers.take(now):
                        self._reply(client, client.pending)
                        client.pending = None
                    if now - client.active > IDLE_SECONDS:
                        self._drop(poller, clients, fd)
                        continue
                    flags = zmq.POLLOUT if client.out else (
                        0 if client.pending is not None else zmq.POLLIN)
                    if flags != client.flags:
                        if client.flags:
                            poller.unregister(fd)
                        if flags:
                            poller.register(fd, flags)
                        client.flags = flags
                want_accept = len(clients) < MAX_CLIENTS and accepts.ready(now)
                if want_accept != listening:
                    if want_accept:
                        poller.register(lfd, zmq.POLLIN)
                    else:
                        poller.unregister(lfd)
                    listening = want_accept
                wait = POLL_MS
                if any(c.pending is not None for c in clients.values()):
                    wait = max(1, min(POLL_MS, int(answers.wait(now) * 1000) + 1))
                if not listening:
                    wait = min(wait, max(1, int(accepts.wait(now) * 1000) + 1))
                for item, events in poller.poll(wait):
                    if item == lfd:
                        self._accept(listener, clients, accepts)
                    elif isinstance(item, int):
                        peer = clients.get(item)
                        if peer is None:
                            continue
                        try:
                            if events & zmq.POLLOUT:
                                self._flush(peer)
                            elif events & zmq.POLLIN:
                                self._read(peer, answers)
                        except (OSError, zmtp.ProtocolError) as exc:
                            if not isinstance(exc, OSError):
                                self.dropped_peers += 1
                            self._drop(poller, clients, item)
                    else:
                        self._event(item, monitors[item])
        finally:
            for fd in list(clients):
                self._drop(poller, clients, fd)
            for monitor in monitors:
                monitor.close(0)
            listener.close()

    def _accept(self, listener: socket.socket, clients: Dict[int, _Client],
                accepts: _Bucket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # gone before we took it
        accepts.take(time.monotonic())
        conn.setblocking(False)
        client = _Client(conn)
        client.out = zmtp.greeting(True) + zmtp.ready("REP")
        clients[conn.fileno()] = client
        try:
            self._flush(client)
        except OSError:
            clients.pop(conn.fileno(), None)
            conn.close()

    @staticmethod
    def _flush(client: _Client) -> None:
        sent = client.sock.send(client.out)
        client.out = client.out[sent:]
        client.active = time.monotonic()

    def _read(self, client: _Client, answers: _Bucket) -> None:
        data = client.sock.recv(MAX_REQUEST + zmtp.GREETING_SIZE)
        if not data:
            raise OSError(errno.ECONNRESET, "closed by the peer")
        client.active = time.monotonic()
        for message in client.reader.feed(data):
            self.requests += 1
            if client.pending is not None or client.out:
                # pipelined: a REQ never does that; keep one, the rest is a flood
                raise zmtp.ProtocolError("a second request before the first was answered")
            if answers.take(time.monotonic()):
                self._reply(client, message)
            else:
                client.pending = message
            client.reader.reset_budget()

    def _reply(self, client: _Client, message: List[bytes]) -> None:
        if len(message) < 2 or message[0] != b"":
            # a REP drops messages without the REQ envelope; the peer is no REQ
            raise zmtp.ProtocolError("a request without the REQ envelope")
        body = json.dumps(self._respond(message[1:]), separators=(",", ":")).encode()
        client.out += zmtp.frame(b"", zmtp.MORE) + zmtp.frame(body)
        self._flush(client)

    def _respond(self, request: List[bytes]) -> Dict[str, Any]:
        if request == [REQUEST]:
            for stats in self.sockets:
                stats.want_pipes = True  # the owning thread asks on its next send
            return self.snapshot()
        self.bad_requests += 1
        return {"schema": SCHEMA, "error": "unknown request; send exactly 'stats'"}

    @staticmethod
    def _drop(poller: zmq.Poller, clients: Dict[int, _Client], fd: int) -> None:
        client = clients.pop(fd, None)
        if client is None:
            return
        if client.flags:
            poller.unregister(fd)
        client.sock.close()

    def _event(self, monitor: zmq.Socket, stats: SocketStats) -> None:
        try:
            frames = monitor.recv_multipart(zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        if self.pipes is not None:
            try:
                event, values, _local, remote = decode_v2_event(frames)
            except ValueError:
                return
            if event == PIPES_STATS_EVENT and len(values) >= 2:
                pipes = dict(stats.pipes or {})
                pipes[remote] = (values[0], values[1])
                stats.pipes, stats.pipes_at = pipes, time.time()
                return
        else:
            from zmq.utils.monitor import parse_monitor_message

            try:
                event = int(parse_monitor_message(frames)["event"])
            except (ValueError, KeyError, struct.error):
                return
        name = EVENT_NAMES.get(event, f"event_{event}")
        stats.events[name] = stats.events.get(name, 0) + 1

    def _answer(self, rep: zmq.Socket) -> None:
        try:
            request = rep.recv_multipart(zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        self.requests += 1
        reply = self._respond(request)
        try:
            rep.send(json.dumps(reply, separators=(",", ":")).encode())
        except zmq.ZMQError:
            pass  # the asker went away; REP resets with the next request

    def snapshot(self) -> Dict[str, Any]:
        return {"schema": SCHEMA, "pid": os.getpid(), "started": self.started,
                "now": time.time(), "libzmq": zmq.zmq_version(),
                "pipes_stats": self.pipes is not None, "pipes_stats_note": self.pipes_note,
                "sockets": [stats.snapshot() for stats in list(self.sockets)]}


class _Bucket:
    """A token bucket: *rate* tokens a second, at most *burst* saved."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def ready(self, now: float) -> bool:
        self._fill(now)
        return self.tokens >= 1.0

    def take(self, now: float) -> bool:
        self._fill(now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def wait(self, now: float) -> float:
        """Seconds until the next token."""
        self._fill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


class _Client:
    """One peer of the NULL-mechanism endpoint."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = zmtp.Reader(MAX_REQUEST, MAX_FRAMES, ("REQ", "DEALER"))
        self.out = b""
        self.pending: Optional[List[bytes]] = None
        self.active = time.monotonic()
        self.flags = 0
