"""The kernel's view of TCP and unix sockets: netlink sock_diag, /proc as fallback.

ZeroMQ keeps its queues inside the application; what another process can see
is the kernel's side of each connection: bytes not yet acknowledged by the
peer (Send-Q), bytes received but not read by the application (Recv-Q), the
buffer sizes, and, for TCP, the zero-window persist timer and retransmissions.

* TCP (v4 and v6): inet_diag over NETLINK_SOCK_DIAG with INET_DIAG_INFO
  (struct tcp_info) and INET_DIAG_SKMEMINFO (socket buffer sizes).
* Unix (ipc:// endpoints): unix_diag with UNIX_DIAG_RQLEN (queues), PEER (the
  other end's inode, to name the path a connecting socket went to), NAME and
  MEMINFO. /proc/net/unix has no queue sizes: there is no fallback for these.
* /proc/net/tcp{,6} only where netlink is refused (some containers): Send-Q,
  Recv-Q, timer and retransmits, no buffer sizes.

The parsers are pure functions from bytes (or text) to small NamedTuples; every
malformed input raises :class:`DiagError`, which the check reports as one
UNKNOWN line.
"""

from __future__ import annotations

import os
import struct

# _socket, not socket: the same calls without socket.py's enum set-up (~9 ms a run)
import _socket as socket

import nagiosplugin

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import AbstractSet, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple
else:
    from nagios_ipc.light import NamedTuple

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLMSG_HDR = struct.Struct("=IHHII")          # len, type, flags, seq, pid
RTATTR = struct.Struct("=HH")                # len, type
INET_REQ = struct.Struct("=BBBBI48s")        # family, protocol, ext, pad, states, sockid
INET_MSG = struct.Struct("=BBBB48sIIIII")    # family, state, timer, retrans, id, expires,
#                                              rqueue, wqueue, uid, inode
SOCKID = struct.Struct(">HH16s16sI8s")       # sport, dport (big endian), src, dst, if, cookie
UNIX_REQ = struct.Struct("=BBHIII8s")        # family, protocol, pad, states, ino, show, cookie
UNIX_MSG = struct.Struct("=BBBBI8s")         # family, type, state, pad, ino, cookie
# struct tcp_info: retransmits probes backoff (bytes 2-4), unacked (24), last_data_sent
# (44), total_retrans (100); bytes_acked (120) where the kernel sends 128 bytes or more,
# bytes_received (128) where it sends 136 or more (both Linux >= 4.1)
TCP_INFO = struct.Struct("=xxBBB19xI16xI52xI")
U64 = struct.Struct("=Q")  # bytes_acked, bytes_received
BYTES_RECEIVED_AT = 128
TCP_INFO_ACKED = struct.Struct(TCP_INFO.format + "16xQ")  # the same and bytes_acked (at 120)
TCP_INFO_RECEIVED = struct.Struct(TCP_INFO_ACKED.format + "Q")  # and bytes_received (128)
MEMINFO_HEAD = struct.Struct("=4I")          # rmem_alloc, rcvbuf, wmem_alloc, sndbuf
INET_INODE = struct.Struct("=I")             # INET_MSG's last field, at INET_MSG_INODE
INET_MSG_INODE = INET_MSG.size - 4
NLMSG_LEN_TYPE = struct.Struct("=IH")

INET_DIAG_INFO = 2
INET_DIAG_SKMEMINFO = 7
UNIX_DIAG_NAME, UNIX_DIAG_PEER, UNIX_DIAG_RQLEN, UNIX_DIAG_MEMINFO = 0, 2, 4, 5
UDIAG_SHOW_NAME, UDIAG_SHOW_PEER, UDIAG_SHOW_RQLEN, UDIAG_SHOW_MEMINFO = 0x1, 0x4, 0x10, 0x20
SK_MEMINFO_RCVBUF, SK_MEMINFO_SNDBUF = 1, 3

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
              5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK",
              10: "LISTEN", 11: "CLOSING"}
TCP_LISTEN = 10
TIMER_PERSIST = 4  # inet_diag's idiag_timer: 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 probe0
MAX_DUMP_BYTES = 256 * 1024 * 1024  # a dump larger than this is not a host we can judge
ENOENT = 2
EXACT_BATCH = 128  # exact requests sent in one datagram (their answers fit a 1 MiB read)


class DiagError(nagiosplugin.CheckError):
    """Kernel socket data that cannot be read or does not parse; the text says which."""


class TcpInfo(NamedTuple):
    """The parts of struct tcp_info the check uses (older kernels: None at the end)."""

    retransmits: int           # unrecovered RTO timeouts in a row
    probes: int                # zero-window probes sent without an answer
    backoff: int
    unacked: int               # segments sent and not yet acknowledged
    last_data_sent_ms: int
    total_retrans: int
    bytes_acked: Optional[int]  # Linux >= 4.1: grows while the peer drains
    bytes_received: Optional[int] = None  # Linux >= 4.1: grows while the application reads


class Conn(NamedTuple):
    """One socket as the kernel reports it."""

    kind: str                  # "tcp" or "unix"
    inode: int
    state: str
    local: str                 # "127.0.0.1:5555", "[::1]:5555", "/run/app.sock", "@abstract"
    remote: str                # the peer's address; unix: the path the peer is bound to
    send_q: int                # bytes
    recv_q: int                # bytes (listening sockets: connections waiting for accept)
    sndbuf: Optional[int]      # bytes, from SKMEMINFO/MEMINFO
    rcvbuf: Optional[int]
    persist: bool              # zero-window persist timer running (TCP)
    info: Optional[TcpInfo] = None
    peer_inode: int = 0        # unix: the other end's inode

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN"

    @property
    def key(self) -> str:
        """Names the connection across runs (the same ports/path and inode)."""
        return f"{self.kind} {self.local} {self.remote} {self.inode}"


# --- parsing -----------------------------------------------------------------------------


def split_messages(data: bytes) -> Iterable[Tuple[int, bytes]]:
    """(type, payload) of each netlink message in *data*; DiagError when malformed."""
    offset = 0
    total = len(data)
    while offset < total:
        if total - offset < NLMSG_HDR.size:
            raise DiagError(f"netlink: truncated message header at byte {offset}")
        length, kind, _flags, _seq, _pid = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size or offset + length > total:
            raise DiagError(f"netlink: message length {length} at byte {offset} does not fit "
                            f"the {total} bytes received")
        yield kind, data[offset + NLMSG_HDR.size:offset + length]
        offset += (length + 3) & ~3


def attributes(payload: bytes, start: int) -> Dict[int, bytes]:
    """rtattr type -> value from *start* on; DiagError when malformed."""
    attrs: Dict[int, bytes] = {}
    offset = start
    total = len(payload)
    unpack = RTATTR.unpack_from  # once per connection, six attributes each: names local
    size = RTATTR.size
    while offset + size <= total:
        length, kind = unpack(payload, offset)
        end = offset + length
        if length < size or end > total:
            raise DiagError(f"netlink: attribute length {length} at byte {offset} does not "
                            f"fit the {total}-byte message")
        attrs[kind & 0x3FFF] = payload[offset + size:end]
        offset = (end + 3) & ~3
    return attrs


def check_error(kind: int, payload: bytes) -> None:
    if kind == NLMSG_ERROR:
        if len(payload) < 4:
            raise DiagError("netlink: truncated error message")
        code = -struct.unpack_from("=i", payload)[0]
        if code:
            raise DiagError(f"netlink sock_diag refused the request: "
                            f"{os.strerror(code) if 0 < code < 4096 else code}")


_HOSTS: Dict[Tuple[int, bytes], str] = {}  # see format_inet
HOSTS_MAX = 4096


def format_inet(family: int, raw: bytes, port: int) -> str:
    # thousands of connections share a few addresses (every accepted one has the
    # listener's): each raw address is formatted once per run
    host = _HOSTS.get((family, raw))
    if host is None:
        if family == socket.AF_INET:
            host = socket.inet_ntop(socket.AF_INET, raw[:4])
        elif family == socket.AF_INET6:
            address = socket.inet_ntop(socket.AF_INET6, raw)
            if address.startswith("::ffff:") and "." in address:
                host = address[7:]  # v4-mapped: as ZeroMQ users write it
            else:
                host = f"[{address}]"
        else:
            raise DiagError(f"inet_diag: unexpected address family {family}")
        if len(_HOSTS) < HOSTS_MAX:
            _HOSTS[family, raw] = host
    return f"{host}:{port}"


def parse_tcp_info(raw: bytes) -> TcpInfo:
    if len(raw) < 104:  # up to tcpi_total_retrans: every kernel since 2.6
        raise DiagError(f"inet_diag: tcp_info of {len(raw)} bytes is too short (< 104)")
    retransmits, probes, backoff, unacked, last_data_sent, total_retrans = \
        TCP_INFO.unpack_from(raw)
    bytes_acked = U64.unpack_from(raw, 120)[0] if len(raw) >= 128 else None
    received = (U64.unpack_from(raw, BYTES_RECEIVED_AT)[0]
                if len(raw) >= BYTES_RECEIVED_AT + 8 else None)
    return TcpInfo(retransmits, probes, backoff, unacked, last_data_sent, total_retrans,
                   bytes_acked, received)


def parse_meminfo(raw: bytes) -> Tuple[Optional[int], Optional[int]]:
    """(sndbuf, rcvbuf) from SK_MEMINFO u32 values (b"": the attribute was absent)."""
    if not raw:
        return None, None
    if len(raw) < 16 or len(raw) % 4:
        raise DiagError(f"sock_diag: meminfo of {len(raw)} bytes is malformed")
    values = MEMINFO_HEAD.unpack_from(raw)  # the two wanted are among the first four
    return values[SK_MEMINFO_SNDBUF], values[SK_MEMINFO_RCVBUF]


def parse_inet(data: bytes,
               wanted: Optional[AbstractSet[int]] = None) -> Tuple[List[Conn], bool]:
    """TCP sockets from an inet_diag dump; (conns, done) where done means NLMSG_DONE seen.

    With *wanted*, only sockets with those inodes are decoded: a dump holds every
    socket of the host, and two header unpacks are all the others cost (this loop
    is the check's hot path on a busy host, hence no generator and no slicing)."""
    conns: List[Conn] = []
    header = NLMSG_HDR.unpack_from
    message = INET_MSG.unpack_from
    inode_of = INET_INODE.unpack_from  # the others cost a header and an inode, no copy
    offset = 0
    total = len(data)
    while offset < total:
        if total - offset < NLMSG_HDR.size:
            raise DiagError(f"netlink: truncated message header at byte {offset}")
        length, kind, _flags, _seq, _pid = header(data, offset)
        if length < NLMSG_HDR.size or offset + length > total:
            raise DiagError(f"netlink: message length {length} at byte {offset} does not fit "
                            f"the {total} bytes received")
        body = offset + NLMSG_HDR.size
        if kind == NLMSG_DONE:
            return conns, True
        if kind == SOCK_DIAG_BY_FAMILY:
            if length - NLMSG_HDR.size < INET_MSG.size:
                raise DiagError(f"inet_diag: message of {length - NLMSG_HDR.size} bytes is "
                                f"too short")
            if wanted is None or inode_of(data, body + INET_MSG_INODE)[0] in wanted:
                conns.append(inet_conn(message(data, body), data[body:offset + length]))
        elif kind == NLMSG_ERROR:
            check_error(kind, data[body:offset + length])
        else:
            raise DiagError(f"inet_diag: unexpected netlink message type {kind}")
        offset += (length + 3) & ~3
    return conns, False


def inet_conn(fields: Tuple[Any, ...], payload: bytes) -> Conn:
    (family, state, timer, _retrans, sockid, _expires, rqueue, wqueue, _uid, inode) = fields
    sport, dport, src, dst, _if, _cookie = SOCKID.unpack(sockid)
    # attributes() inlined, keeping where the two wanted of the six start and end:
    # once per connection (10,000 of them), so no slices and no helper calls
    info_at = info_end = mem_at = mem_end = -1
    unpack = RTATTR.unpack_from
    size = RTATTR.size
    offset = INET_MSG.size
    total = len(payload)
    while offset + size <= total:
        length, kind = unpack(payload, offset)
        end = offset + length
        if length < size or end > total:
            raise DiagError(f"netlink: attribute length {length} at byte {offset} does not "
                            f"fit the {total}-byte message")
        kind &= 0x3FFF
        if kind == INET_DIAG_INFO:
            info_at, info_end = offset + size, end
        elif kind == INET_DIAG_SKMEMINFO:
            mem_at, mem_end = offset + size, end
        offset = (end + 3) & ~3
    info: Optional[TcpInfo] = None
    if info_at >= 0:  # parse_tcp_info() in place; tuple.__new__: no Python-level __new__
        if info_end - info_at >= TCP_INFO_RECEIVED.size:
            info = tuple.__new__(TcpInfo, TCP_INFO_RECEIVED.unpack_from(payload, info_at))
        elif info_end - info_at >= 128:
            info = tuple.__new__(TcpInfo, (*TCP_INFO_ACKED.unpack_from(payload, info_at),
                                           None))
        elif info_end - info_at >= 104:
            info = tuple.__new__(TcpInfo, (*TCP_INFO.unpack_from(payload, info_at), None,
                                           None))
        else:
            parse_tcp_info(payload[info_at:info_end])  # raises: too short
    sndbuf = rcvbuf = None
    if mem_at >= 0 and mem_end > mem_at:  # parse_meminfo() in place (empty: absent)
        if mem_end - mem_at < 16 or (mem_end - mem_at) % 4:
            parse_meminfo(payload[mem_at:mem_end])  # raises: malformed
        values = MEMINFO_HEAD.unpack_from(payload, mem_at)
        sndbuf, rcvbuf = values[SK_MEMINFO_SNDBUF], values[SK_MEMINFO_RCVBUF]
    # format_inet()'s cache read here: a host formatted before (every connection has
    # the listener's) costs a lookup, not a call
    host = _HOSTS.get((family, src))
    local = f"{host}:{sport}" if host is not None else format_inet(family, src, sport)
    host = _HOSTS.get((family, dst))
    remote = f"{host}:{dport}" if host is not None else format_inet(family, dst, dport)
    return tuple.__new__(Conn, ("tcp", inode, TCP_STATES.get(state, str(state)), local,
                                remote, wqueue, rqueue, sndbuf, rcvbuf,
                                timer == TIMER_PERSIST, info, 0))


def unix_name(raw: bytes) -> str:
    if raw.startswith(b"\0"):
        return "@" + raw[1:].decode("utf-8", "backslashreplace")  # abstract namespace
    return raw.rstrip(b"\0").decode("utf-8", "backslashreplace")


UNIX_STATES = {1: "ESTABLISHED", 7: "CLOSE", 10: "LISTEN"}


def parse_unix(data: bytes, names: Optional[AbstractSet[str]] = None,
               missing_ok: bool = False) -> Tuple[List[Conn], bool]:
    """Unix sockets from a unix_diag dump (or answers to exact requests); remote is
    filled in by resolve_unix_peers. With *names*, only sockets bound to one of
    them are kept; with *missing_ok*, "no such socket" answers are skipped."""
    conns: List[Conn] = []
    for kind, payload in split_messages(data):
        if kind == NLMSG_DONE:
            return conns, True
        if missing_ok and kind == NLMSG_ERROR and len(payload) >= 4 \
                and -struct.unpack_from("=i", payload)[0] == ENOENT:
            continue  # asked for an inode that is no unix socket (a TCP one), or gone
        check_error(kind, payload)
        if kind != SOCK_DIAG_BY_FAMILY:
            raise DiagError(f"unix_diag: unexpected netlink message type {kind}")
        if len(payload) < UNIX_MSG.size:
            raise DiagError(f"unix_diag: message of {len(payload)} bytes is too short")
        _family, _type, state, _pad, inode, _cookie = UNIX_MSG.unpack_from(payload)
        attrs = attributes(payload, UNIX_MSG.size)
        name = unix_name(attrs[UNIX_DIAG_NAME]) if UNIX_DIAG_NAME in attrs else ""
        if names is not None and name not in names:
            continue
        peer = 0
        if UNIX_DIAG_PEER in attrs:
            if len(attrs[UNIX_DIAG_PEER]) < 4:
                raise DiagError("unix_diag: peer attribute is too short")
            peer, = struct.unpack_from("=I", attrs[UNIX_DIAG_PEER])
        rqueue = wqueue = 0
        if UNIX_DIAG_RQLEN in attrs:
            if len(attrs[UNIX_DIAG_RQLEN]) < 8:
                raise DiagError("unix_diag: rqlen attribute is too short")
            rqueue, wqueue = struct.unpack_from("=II", attrs[UNIX_DIAG_RQLEN])
        sndbuf, rcvbuf = parse_meminfo(attrs.get(UNIX_DIAG_MEMINFO, b""))
        state_name = UNIX_STATES.get(state, str(state))
        if state_name == "LISTEN":
            wqueue = 0  # for a listener the kernel puts the backlog limit there
        conns.append(Conn("unix", inode, state_name, name, "", wqueue, rqueue,
                          sndbuf, rcvbuf, False, None, peer))
    return conns, False


def resolve_unix_peers(conns: List[Conn]) -> List[Conn]:
    """Name each unix socket's remote end: the peer's bound path, else the peer inode.

    A connecting ZeroMQ socket has no name of its own; its peer (the accepted
    socket) carries the listener's path, which is the ipc:// endpoint.
    """
    by_inode = {c.inode: c for c in conns}
    out = []
    for conn in conns:
        peer = by_inode.get(conn.peer_inode)
        if peer is not None and peer.local:
            remote = peer.local
        elif conn.peer_inode:
            remote = f"inode:{conn.peer_inode}"
        else:
            remote = ""
        local = conn.local
        if not local and peer is not None:
            local = f"inode:{conn.inode}"
        out.append(conn._replace(local=local or f"inode:{conn.inode}", remote=remote))
    return out


def _hex_address(text: str, v6: bool) -> Tuple[str, int]:
    address, _, port = text.partition(":")
    raw = bytes.fromhex(address)
    if len(raw) != (16 if v6 else 4) or not port:
        raise ValueError("bad address")
    # the kernel prints each 32-bit word in host byte order
    words = b"".join(struct.pack("=I", int.from_bytes(raw[i:i + 4], "big"))
                     for i in range(0, len(raw), 4))
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return format_inet(family, words, int(port, 16)), int(port, 16)


def parse_proc_tcp(text: str, v6: bool = False) -> List[Conn]:
    """/proc/net/tcp or tcp6: the fallback without buffer sizes or tcp_info."""
    lines = text.splitlines()
    if not lines or "local_address" not in lines[0]:
        raise DiagError(f"/proc/net/tcp{'6' if v6 else ''}: no header line")
    conns = []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split()
        if not fields:
            continue
        try:
            local, _ = _hex_address(fields[1], v6)
            remote, _ = _hex_address(fields[2], v6)
            state = int(fields[3], 16)
            tx, _, rx = fields[4].partition(":")
            timer = int(fields[5].partition(":")[0], 16)
            retrans = int(fields[6], 16)
            inode = int(fields[9])
            send_q, recv_q = int(tx, 16), int(rx, 16)
        except (IndexError, ValueError):
            raise DiagError(f"/proc/net/tcp{'6' if v6 else ''} line {number} does not "
                            f"parse: {line.strip()[:80]!r}") from None
        conns.append(Conn("tcp", inode, TCP_STATES.get(state, str(state)), local, remote,
                          send_q, recv_q, None, None, timer == TIMER_PERSIST,
                          TcpInfo(retrans, 0, 0, 0, 0, 0, None, None)))
    return conns


def inet_request(family: int) -> bytes:
    """All TCP sockets of *family*, with tcp_info and the socket memory figures."""
    ext = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1))
    return INET_REQ.pack(family, socket.IPPROTO_TCP, ext, 0, 0xFFFFFFFF, bytes(48))


def unix_request(inode: int = 0) -> bytes:
    """Every unix socket, or (with *inode*) exactly that one: the kernel looks it up
    (unix_diag_get_exact), so another user's millions of sockets cost nothing."""
    show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_MEMINFO
    cookie = b"\xff" * 8 if inode else bytes(8)  # INET_DIAG_NOCOOKIE: any generation
    return UNIX_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, inode, show, cookie)


# --- reading from the kernel -------------------------------------------------------------


class KernelSource:
    """Dumps sockets through netlink; root paths can point tests at captured files."""

    def __init__(self, proc: str = "/proc", timeout: float = 5.0) -> None:
        self.proc = proc
        self.timeout = timeout
        self.fallback_note: Optional[str] = None

    def _socket(self) -> Any:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 NETLINK_SOCK_DIAG)
        except OSError as exc:
            raise DiagError(f"cannot open a netlink sock_diag socket: {exc.strerror}") from None
        sock.settimeout(self.timeout)
        return sock

    def _failure(self, exc: OSError) -> DiagError:
        """What a failed exchange with the kernel means, for a dump and an exact ask."""
        if isinstance(exc, socket.timeout):
            return DiagError(f"netlink: no answer from the kernel within {self.timeout:g}s")
        return DiagError(f"netlink sock_diag: {exc.strerror}")

    def chunks(self, request: bytes) -> Iterable[bytes]:
        """A dump as the kernel hands it over, one read (whole messages) at a time: the
        caller decodes and drops each, so a host with a million sockets costs time, not
        memory."""
        sock = self._socket()
        size = 0
        try:
            header = NLMSG_HDR.pack(NLMSG_HDR.size + len(request), SOCK_DIAG_BY_FAMILY,
                                    NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
            sock.sendto(header + request, (0, 0))
            while True:
                chunk = sock.recv(1024 * 1024)
                if not chunk:
                    raise DiagError("netlink: the kernel closed the dump early")
                size += len(chunk)
                if size > MAX_DUMP_BYTES:
                    raise DiagError(f"netlink: socket dump over {MAX_DUMP_BYTES} bytes")
                yield chunk
                if _ends_dump(chunk):
                    break
        except OSError as exc:
            raise self._failure(exc) from None
        finally:
            sock.close()

    def dump(self, request: bytes) -> bytes:
        return b"".join(self.chunks(request))

    def exact_unix(self, inodes: Iterable[int]) -> List[Conn]:
        """The unix sockets among *inodes*, each asked for by inode (no dump)."""
        wanted = sorted(set(inodes))
        conns: List[Conn] = []
        if not wanted:
            return conns
        sock = self._socket()
        try:
            for start in range(0, len(wanted), EXACT_BATCH):
                batch = wanted[start:start + EXACT_BATCH]
                packet = b"".join(
                    NLMSG_HDR.pack(NLMSG_HDR.size + UNIX_REQ.size, SOCK_DIAG_BY_FAMILY,
                                   NLM_F_REQUEST, seq, 0) + unix_request(inode)
                    for seq, inode in enumerate(batch, 1))
                sock.sendto(packet, (0, 0))
                answers = 0
                while answers < len(batch):  # one answer (socket or error) per request
                    chunk = sock.recv(1024 * 1024)
                    if not chunk:
                        raise DiagError("netlink: the kernel closed the socket early")
                    answers += sum(1 for _ in split_messages(chunk))
                    conns.extend(parse_unix(chunk, missing_ok=True)[0])
        except OSError as exc:
            raise self._failure(exc) from None
        finally:
            sock.close()
        return conns

    def tcp(self, wanted: Optional[AbstractSet[int]] = None) -> List[Conn]:
        """TCP sockets; only those with inodes in *wanted*, when given (decoded chunk by
        chunk as the kernel sends them)."""
        conns: List[Conn] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            done = False
            found: List[Conn] = []
            try:
                for chunk in self.chunks(inet_request(family)):
                    parsed, done = parse_inet(chunk, wanted)
                    found.extend(parsed)
            except DiagError as exc:
                if family == socket.AF_INET6 and "Address family" in str(exc):
                    continue  # a kernel without IPv6
                if found or done:
                    raise  # broke mid-dump: not a refusal
                return self.proc_tcp(str(exc), wanted)
            if not done:
                raise DiagError("inet_diag: dump ended without NLMSG_DONE")
            conns.extend(found)
        return conns

    def proc_tcp(self, why: str, wanted: Optional[AbstractSet[int]] = None) -> List[Conn]:
        self.fallback_note = f"TCP from /proc/net/tcp (no buffer sizes): {why}"
        conns: List[Conn] = []
        for name, v6 in (("tcp", False), ("tcp6", True)):
            path = os.path.join(self.proc, "net", name)
            try:
                with open(path) as handle:
                    text = handle.read()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise DiagError(f"cannot read {path}: {exc.strerror}") from None
            conns.extend(c for c in parse_proc_tcp(text, v6)
                         if wanted is None or c.inode in wanted)
        return conns

    def unix(self, wanted: Optional[AbstractSet[int]] = None,
             names: Optional[AbstractSet[str]] = None) -> List[Conn]:
        """Unix sockets: those with inodes in *wanted* (asked for one by one), or those
        bound to one of *names* (from a dump decoded as it streams in) and the sockets
        connected to them; each with its peer's entry to name the other end."""
        if wanted is not None:
            parsed = self.exact_unix(wanted)
        else:
            parsed = []
            done = False
            for chunk in self.chunks(unix_request()):
                found, done = parse_unix(chunk, names)
                parsed.extend(found)
            if not done:
                raise DiagError("unix_diag: dump ended without NLMSG_DONE")
        known = {c.inode for c in parsed}
        peers = self.exact_unix(c.peer_inode for c in parsed
                                if c.peer_inode and c.peer_inode not in known)
        resolved = resolve_unix_peers(parsed + peers)
        if wanted is not None:
            return [c for c in resolved if c.inode in wanted]
        return resolved


def tcp_owner(family: int, server: str, server_port: int, client: str,
              client_port: int) -> Optional[int]:
    """The uid owning the server end of our own TCP connection, asked of the kernel for
    exactly that socket (no dump); None when the kernel has no such socket (the server
    is on another host or in another network namespace) or refuses to say."""
    raw_server = socket.inet_pton(family, server).ljust(16, b"\0")
    raw_client = socket.inet_pton(family, client).ljust(16, b"\0")
    sockid = SOCKID.pack(server_port, client_port, raw_server, raw_client, 0, b"\xff" * 8)
    request = INET_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF, sockid)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                             NETLINK_SOCK_DIAG)
    except OSError:
        return None
    try:
        sock.settimeout(2.0)
        sock.sendto(NLMSG_HDR.pack(NLMSG_HDR.size + len(request), SOCK_DIAG_BY_FAMILY,
                                   NLM_F_REQUEST, 1, 0) + request, (0, 0))
        data = sock.recv(64 * 1024)
    except OSError:
        return None
    finally:
        sock.close()
    try:
        for kind, payload in split_messages(data):
            if kind == SOCK_DIAG_BY_FAMILY and len(payload) >= INET_MSG.size:
                return int(INET_MSG.unpack_from(payload)[8])
            return None  # NLMSG_ERROR: ENOENT, not ours to see
    except DiagError:
        return None
    return None


def _ends_dump(chunk: bytes) -> bool:
    """Whether the last netlink message of a recv() is NLMSG_DONE or an error."""
    offset = 0
    last = -1
    size = NLMSG_HDR.size
    end = len(chunk) - size
    unpack = NLMSG_LEN_TYPE.unpack_from  # every message of every chunk: names local
    while offset <= end:
        length, kind = unpack(chunk, offset)
        if length < size:
            return True  # malformed: stop reading, the parser names it
        last = kind
        offset += (length + 3) & ~3
    return last in (NLMSG_DONE, NLMSG_ERROR)

