"""The application's side in /proc: which processes, their sockets, descriptors, limits.

* Selecting processes: --pid, --pidfile, --process-name (psutil, imported only
  then), or none of them with --endpoint (then every socket on the host whose
  local or remote address is the endpoint, and the processes holding them).
* /proc/PID/fd: the socket inodes (``socket:[12345]``) and the number of open
  descriptors; /proc/PID/limits: the descriptor limit (RLIMIT_NOFILE).
* /proc/net/snmp: the host's TCP segment and retransmission counters.

Every unreadable or malformed file raises :class:`ProcError` naming the file,
the cause and the fix (for example: run as root or as the application's user).
"""

from __future__ import annotations

import os

import nagiosplugin

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple
else:
    from nagios_ipc.light import NamedTuple


class ProcError(nagiosplugin.CheckError):
    """A process cannot be found or read; the text names it, the cause and the fix."""


class EndpointError(ProcError):
    """An --endpoint that is not tcp://IP:PORT or ipc:///path."""


class Endpoint(NamedTuple):
    """A ZeroMQ endpoint as given on the command line."""

    transport: str   # "tcp" or "ipc"
    host: str        # tcp: an IP address or "*"; ipc: ""
    port: int        # tcp: the port; ipc: 0
    path: str        # ipc: the path ("@name" for the abstract namespace)
    text: str

    def matches(self, address: str) -> bool:
        """Whether a kernel address ("1.2.3.4:5", "[::1]:5", "/path") is this endpoint."""
        if self.transport == "ipc":
            return address == self.path
        host, _, port = address.rpartition(":")
        if not port.isdigit() or int(port) != self.port:
            return False
        return self.host == "*" or host.strip("[]") == self.host


def parse_endpoint(text: str) -> Endpoint:
    """tcp://HOST:PORT (HOST an IP address, localhost, or * / 0.0.0.0 / :: for any) or
    ipc:///path; EndpointError."""
    transport, sep, rest = text.partition("://")
    if not sep or transport not in ("tcp", "ipc"):
        raise EndpointError(f"'{text}' is not tcp://HOST:PORT or ipc:///path")
    if transport == "ipc":
        if not rest:
            raise EndpointError(f"'{text}' has no path")
        return Endpoint("ipc", "", 0, rest, text)
    host, _, port = rest.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EndpointError(f"'{text}' has no port between 1 and 65535")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a pattern to match, nothing binds
        host = "*"  # bound to every address: its connections carry the real local address
    if host != "*":
        try:
            host = canonical_ip(host)
        except (OSError, ValueError):  # not an IPv4/IPv6 literal
            # names would need DNS on every run: a check must not depend on it
            raise EndpointError(f"'{text}': give an IP address or * (no host names, so "
                             f"that the check never waits for DNS)") from None
    return Endpoint("tcp", host, int(port), "", text)


def canonical_ip(text: str) -> str:
    """An IPv4/IPv6 literal as the kernel data shows it (inet_ntop); OSError if none.

    _socket's inet_pton rather than ipaddress: ~1 ms less on every run."""
    import _socket

    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            address = _socket.inet_ntop(family, _socket.inet_pton(family, text))
        except OSError:
            continue
        if address.startswith("::ffff:") and "." in address:
            return address[7:]  # v4-mapped: the kernel data is shown as IPv4 too
        return address
    raise OSError(f"{text} is not an IP address")


def endpoint_type(text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except EndpointError as exc:
        import argparse

        raise argparse.ArgumentTypeError(str(exc)) from None


def _permission_fix(path: str) -> str:
    return (f"permission denied reading {path} (uid {os.getuid()}); run the check as "
            f"root or as the application's user (e.g. sudo -u APPUSER in the command "
            f"definition)")


class Process(NamedTuple):
    pid: int
    name: str
    inodes: Tuple[int, ...]    # socket inodes among its descriptors
    fds: int                   # open descriptors
    fd_limit: Optional[int]    # soft RLIMIT_NOFILE; None = unlimited


def parse_limits(text: str) -> Optional[int]:
    """The soft 'Max open files' from /proc/PID/limits; None when unlimited; ProcError."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            fields = line[len("Max open files"):].split()
            if not fields:
                break
            if fields[0] == "unlimited":
                return None
            if fields[0].isdigit():
                return int(fields[0])
            break
    raise ProcError("/proc/PID/limits has no 'Max open files' line")


def parse_snmp_tcp(text: str) -> Tuple[int, int]:
    """(OutSegs, RetransSegs) from /proc/net/snmp; ProcError when missing."""
    lines = [line.split() for line in text.splitlines() if line.startswith("Tcp:")]
    if len(lines) < 2:
        raise ProcError("/proc/net/snmp has no Tcp: lines")
    names, values = lines[0], lines[1]
    if len(names) != len(values):
        raise ProcError("/proc/net/snmp: Tcp: header and values differ in length")
    table = dict(zip(names[1:], values[1:]))
    try:
        return int(table["OutSegs"]), int(table["RetransSegs"])
    except (KeyError, ValueError):
        raise ProcError("/proc/net/snmp has no OutSegs/RetransSegs numbers") from None


class ProcSource:
    """Reads /proc (or a copy of it under *root*, for tests)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root

    def _read(self, path: str) -> str:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read(1024 * 1024)
        except PermissionError:
            raise ProcError(_permission_fix(path)) from None
        except FileNotFoundError:
            raise ProcError(f"{path} does not exist: the process is gone") from None
        except OSError as exc:
            raise ProcError(f"cannot read {path}: {exc.strerror}") from None

    def name(self, pid: int) -> str:
        try:
            return self._read(os.path.join(self.root, str(pid), "comm")).strip() or "?"
        except ProcError:
            return "?"

    def exists(self, pid: int) -> bool:
        return os.path.isdir(os.path.join(self.root, str(pid)))

    def fd_inodes(self, pid: int) -> Tuple[Tuple[int, ...], int]:
        """(socket inodes, open descriptors) of *pid*."""
        directory = os.path.join(self.root, str(pid), "fd")
        try:
            names = os.listdir(directory)
        except PermissionError:
            raise ProcError(_permission_fix(directory)) from None
        except FileNotFoundError:
            raise ProcError(f"no process with pid {pid} ({directory} does not exist); "
                            f"check --pid/--pidfile/--process-name") from None
        except OSError as exc:
            raise ProcError(f"cannot list {directory}: {exc.strerror}") from None
        inodes = []
        for name in names:
            try:
                target = os.readlink(os.path.join(directory, name))
            except OSError:
                continue  # closed between listdir and readlink
            if target.startswith("socket:[") and target.endswith("]"):
                digits = target[8:-1]
                if digits.isdigit():
                    inodes.append(int(digits))
        return tuple(inodes), len(names)

    def process(self, pid: int) -> Process:
        inodes, fds = self.fd_inodes(pid)
        limits_path = os.path.join(self.root, str(pid), "limits")
        limit = parse_limits(self._read(limits_path))
        return Process(pid, self.name(pid), inodes, fds, limit)

    def pids(self) -> List[int]:
        return sorted(int(n) for n in os.listdir(self.root) if n.isdigit())

    def owners(self, inodes: Set[int]) -> List[int]:
        """The processes that hold any of *inodes* (readable ones only)."""
        found: List[int] = []
        if not inodes:
            return found
        for pid in self.pids():
            try:
                mine, _ = self.fd_inodes(pid)
            except ProcError:
                continue  # gone, or another user's: the caller notes the gap
            if inodes.intersection(mine):
                found.append(pid)
        return found

    def tcp_counters(self) -> Tuple[int, int]:
        path = os.path.join(self.root, "net", "snmp")
        return parse_snmp_tcp(self._read(path))


def read_pidfile(path: str) -> int:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(64).strip()
    except OSError as exc:
        raise ProcError(f"cannot read pidfile {path}: {exc.strerror}; is the application "
                        f"running, and is --pidfile right?") from None
    if not text.isdigit() or int(text) <= 0:
        raise ProcError(f"pidfile {path} does not hold a process id ({text[:20]!r})")
    return int(text)


def find_by_name(pattern: str) -> List[int]:
    """Processes whose name or command line contains *pattern* (psutil)."""
    import psutil  # only here: ~45 ms to import

    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        info = proc.info
        if info["pid"] == me:
            continue
        cmdline = " ".join(info.get("cmdline") or [])
        if pattern == info.get("name") or (pattern in cmdline and "check_zmq_hwm" not in cmdline):
            found.append(int(info["pid"]))
    return found


def select_pids(pids: Sequence[int], pidfiles: Sequence[str], names: Sequence[str],
                source: ProcSource) -> List[int]:
    """The selected processes; ProcError when a selector finds none."""
    chosen: List[int] = []
    for pid in pids:
        if not source.exists(pid):
            raise ProcError(f"no process with pid {pid}; check --pid")
        chosen.append(pid)
    for path in pidfiles:
        pid = read_pidfile(path)
        if not source.exists(pid):
            raise ProcError(f"pidfile {path} names pid {pid}, which is not running (stale "
                            f"pidfile: the application is down?)")
        chosen.append(pid)
    for name in names:
        found = find_by_name(name)
        if not found:
            raise ProcError(f"no process named or with a command line containing '{name}'; "
                            f"check --process-name")
        chosen.extend(found)
    return sorted(set(chosen))


def socket_inodes(processes: Iterable[Process]) -> Dict[int, int]:
    """inode -> pid for the sockets of *processes*."""
    return {inode: proc.pid for proc in processes for inode in proc.inodes}
