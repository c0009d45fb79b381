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

from ..cli import FD_LIMIT, FD_LIMIT_FIX

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
            return address == self.path or same_socket_file(address, self.path)
        host, _, port = address.rpartition(":")
        if not port.isdigit() or int(port) != self.port:
            return False
        host = host.strip("[]")
        if self.host == "*" or host == self.host:
            return True
        # a socket bound to every address (tcp://*:P, 0.0.0.0, ::) listens on each of
        # this host's: on the endpoint's too when that is one of them (:: serves IPv4
        # as well, as ZeroMQ binds it: IPV6_V6ONLY off)
        if (host == "0.0.0.0" and "." in self.host) or host == "::":  # noqa: S104
            return local_address(self.host)
        return False


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


class IpcPaths(frozenset):
    """The ipc endpoints' paths, for the unix_diag dump's filter: ``in`` holds for the
    same socket file reached by another path too (Endpoint.matches)."""

    endpoints: Tuple[Endpoint, ...]
    names: Set[str]  # the socket files' own names: other sockets cost a set lookup

    def __new__(cls, endpoints: Iterable[Endpoint]) -> IpcPaths:
        ipc = tuple(e for e in endpoints if e.transport == "ipc")
        paths = super().__new__(cls, (e.path for e in ipc))
        paths.endpoints = ipc
        paths.names = {real_name(e.path) for e in ipc}
        return paths

    def __contains__(self, name: object) -> bool:
        # another user's 100,000 unnamed socketpairs: each one lookup, no call of Python
        return frozenset.__contains__(self, name) or (
            isinstance(name, str) and name.rpartition("/")[2] in self.names
            and any(e.matches(name) for e in self.endpoints))


_IDENTITY: Dict[str, Optional[Tuple[int, int]]] = {}
_REAL_NAME: Dict[str, str] = {}


def _identity(path: str) -> Optional[Tuple[int, int]]:
    if path not in _IDENTITY:
        try:
            info = os.stat(path)
            _IDENTITY[path] = (info.st_dev, info.st_ino)
        except (OSError, ValueError):
            _IDENTITY[path] = None  # gone, unreadable directory: the strings decide
    return _IDENTITY[path]


def real_name(path: str) -> str:
    """The last component of *path* with symlinks resolved: the socket file's name."""
    name = _REAL_NAME.get(path)
    if name is None:
        name = _REAL_NAME[path] = os.path.basename(os.path.realpath(path))
    return name


def same_socket_file(address: str, path: str) -> bool:
    """Whether the unix socket bound at *address* (as the application gave it) is the
    file *path* names by another way: a symlinked directory (/var/run and /run), a
    symlink to the socket file. The last component the kernel shows is the socket
    file's own name (bind never goes through a final symlink): only an address with
    that name is stat'ed, not every path other users bound."""
    if not (address.startswith("/") and path.startswith("/")):
        return False  # abstract names; relative ones are the application's cwd's
    if os.path.basename(address) != real_name(path):
        return False
    mine = _identity(address)
    return mine is not None and mine == _identity(path)


_LOCAL: Dict[str, bool] = {}


def local_address(host: str) -> bool:
    """Whether *host* (an IP literal) is an address of this host, in this network
    namespace: it can be bound to (no DNS, no interface listing; once per run)."""
    known = _LOCAL.get(host)
    if known is None:
        import _socket

        family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        try:
            probe = _socket.socket(family, _socket.SOCK_STREAM)
        except OSError:
            return False  # out of descriptors: the caller shows nothing matched
        try:
            probe.bind((host, 0))
            known = True
        except OSError:  # EADDRNOTAVAIL: another host's address
            known = False
        finally:
            probe.close()
        _LOCAL[host] = known
    return known


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


def _list_error(directory: str, exc: OSError) -> str:
    """Why *directory* could not be listed, with the fix where there is one."""
    if exc.errno in FD_LIMIT:
        return f"cannot list {directory}: {exc.strerror}; {FD_LIMIT_FIX}"
    return f"cannot list {directory}: {exc.strerror}"


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
            # links read relative to the open directory: the kernel walks one name per
            # descriptor, not the whole /proc/PID/fd/N path (10,000 connections)
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except PermissionError:
            raise ProcError(_permission_fix(directory)) from None
        except (FileNotFoundError, NotADirectoryError):
            raise ProcError(f"no process with pid {pid} ({directory} does not exist); "
                            f"check --pid/--pidfile/--process-name") from None
        except OSError as exc:
            raise ProcError(_list_error(directory, exc)) from None
        inodes = []
        try:
            try:
                names = os.listdir(fd)
            except PermissionError:
                raise ProcError(_permission_fix(directory)) from None
            except OSError as exc:
                raise ProcError(_list_error(directory, exc)) from None
            readlink = os.readlink
            for name in names:
                try:
                    target = readlink(name, dir_fd=fd)
                except OSError:
                    continue  # closed between listdir and readlink
                if target.startswith("socket:[") and target.endswith("]"):
                    digits = target[8:-1]
                    if digits.isdigit():
                        inodes.append(int(digits))
        finally:
            os.close(fd)
        return tuple(inodes), len(names)

    def process(self, pid: int) -> Process:
        inodes, fds = self.fd_inodes(pid)
        limits_path = os.path.join(self.root, str(pid), "limits")
        limit = parse_limits(self._read(limits_path))
        return Process(pid, self.name(pid), inodes, fds, limit)

    def other_netns(self, pid: int) -> Optional[bool]:
        """Whether *pid* is in another network namespace than this check; None when
        either link cannot be read (another user's process, gone meanwhile)."""
        try:
            theirs = os.stat(os.path.join(self.root, str(pid), "ns", "net"))
            ours = os.stat(os.path.join(self.root, "self", "ns", "net"))
        except OSError:
            return None
        return (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)

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

    def read_calls(self, pid: int) -> Optional[int]:
        """read() calls *pid* made since it started (/proc/PID/io syscr; readable with
        the same rights as /proc/PID/fd), None when unknown."""
        try:
            text = self._read(os.path.join(self.root, str(pid), "io"))
        except ProcError:
            return None
        for line in text.splitlines():
            if line.startswith("syscr:"):
                value = line[6:].strip()
                return int(value) if value.isdigit() else None
        return None

    def tcp_counters(self) -> Tuple[int, int]:
        path = os.path.join(self.root, "net", "snmp")
        return parse_snmp_tcp(self._read(path))


class Pidfile(NamedTuple):
    pid: int
    uid: int        # the file's owner
    mtime: float    # when it was written


def read_pidfile(path: str) -> Pidfile:
    """The pid in *path*, with the file's owner and time; ProcError.

    The last component is opened without following a symlink (a planted link to
    /etc/shadow must not be read as root), only a regular file is read, and
    nothing of the content is ever shown: the file may not be what it claims."""
    import errno
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ProcError(f"pidfile {path} is a symlink: refusing to follow it; give the "
                            f"file it points to") from None
        raise ProcError(f"cannot read pidfile {path}: {exc.strerror}; is the application "
                        f"running, and is --pidfile right?") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ProcError(f"pidfile {path} is not a regular file; check --pidfile")
        raw = os.read(fd, 64)
    except OSError as exc:
        raise ProcError(f"cannot read pidfile {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    text = raw.strip()
    if not text.isdigit() or len(text) > 10 or int(text) <= 0:
        raise ProcError(f"pidfile {path} does not hold a process id (its first "
                        f"{len(raw)} bytes are not one decimal number)")
    return Pidfile(int(text), info.st_uid, info.st_mtime)


def process_uid(root: str, pid: int) -> Optional[int]:
    """The real uid of *pid* (from /proc/PID/status), None when gone."""
    try:
        with open(os.path.join(root, str(pid), "status"), encoding="ascii",
                  errors="replace") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def start_time(root: str, pid: int) -> Optional[float]:
    """When *pid* started (wall clock, to a clock tick), None when unknown."""
    try:
        with open(os.path.join(root, str(pid), "stat"), "rb") as handle:
            fields = handle.read(4096).rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: starttime, after pid and (comm)
    except (OSError, ValueError, IndexError):
        return None
    import time

    # starttime counts clock ticks since boot (CLOCK_BOOTTIME); /proc/stat's btime is
    # whole seconds, which would blur the comparison with the pidfile by up to 1 s
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.time() - (since_boot - ticks / os.sysconf("SC_CLK_TCK"))


def resolve_user(text: str) -> int:
    """The uid of a user name or number; ProcError when there is no such user."""
    import pwd

    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise ProcError(f"usage error: --expect-user {text[:40]!r}: no such user") from None


def user_text(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


PIDFILE_SLACK = 2.0  # seconds: start times are 10 ms ticks, some file systems keep 1-2 s


def check_pidfile(path: str, pidfile: Pidfile, root: str) -> None:
    """The process must be the one that wrote the pidfile: started before it was
    written, and run by its owner (or the file is root's: daemons write it before
    dropping privileges). Another user's process that got the pid of a crashed
    application (pids are reused) is not taken for it."""
    started = start_time(root, pidfile.pid)
    if started is not None and started > pidfile.mtime + PIDFILE_SLACK:
        raise ProcError(f"pidfile {path} names pid {pidfile.pid}, which started "
                        f"{human_age(started - pidfile.mtime)} after the file was written: "
                        f"another process has that pid now (stale pidfile: the application "
                        f"is down?)")
    uid = process_uid(root, pidfile.pid)
    if uid is not None and pidfile.uid not in (0, uid):
        raise ProcError(f"pidfile {path} of {user_text(pidfile.uid)} names pid {pidfile.pid} "
                        f"of {user_text(uid)}: not the application's process (stale "
                        f"pidfile: the application is down?)")


def human_age(seconds: float) -> str:
    from ..units import human_duration

    return human_duration(max(seconds, 0.0))


CMDLINE_HEAD = 4096  # argv[0] is all the matching needs: never a whole command line


def process_names(root: str, pid: int) -> Tuple[str, str]:
    """(comm, argv[0]) of *pid*; empty strings when unreadable or gone."""
    comm = argv0 = ""
    try:
        with open(os.path.join(root, str(pid), "comm"), "rb") as handle:
            comm = handle.read(64).strip().decode("utf-8", "replace")
        with open(os.path.join(root, str(pid), "cmdline"), "rb") as handle:
            argv0 = handle.read(CMDLINE_HEAD).split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        pass
    return comm, argv0


def name_matches(name: str, comm: str, argv0: str) -> bool:
    """*name* is the process's name (comm, the kernel keeps 15 characters) or its
    program (argv[0], with or without its directory): exactly, never a part."""
    if name == comm and len(name) <= 15:
        return True
    return bool(argv0) and (name == argv0 or name == argv0.rsplit("/", 1)[-1])


def find_by_name(name: str, root: str = "/proc") -> List[int]:
    """Processes named *name* exactly (see name_matches), this check excluded."""
    me = os.getpid()
    found = []
    for entry in os.listdir(root):
        if not entry.isdigit() or int(entry) == me:
            continue
        comm, argv0 = process_names(root, int(entry))
        if name_matches(name, comm, argv0):
            found.append(int(entry))
    return sorted(found)


def select_pids(pids: Sequence[int], pidfiles: Sequence[str], names: Sequence[str],
                source: ProcSource, expect_uid: Optional[int] = None) -> List[int]:
    """The selected processes; ProcError when a selector finds none, when a pidfile is
    stale, or when a process is not the expected user's (or, by name, several users')."""
    chosen: List[int] = []
    for pid in pids:
        if not source.exists(pid):
            raise ProcError(f"no process with pid {pid}; check --pid")
        chosen.append(pid)
    for path in pidfiles:
        pidfile = read_pidfile(path)
        if not source.exists(pidfile.pid):
            raise ProcError(f"pidfile {path} names pid {pidfile.pid}, which is not running "
                            f"(stale pidfile: the application is down?)")
        check_pidfile(path, pidfile, source.root)
        chosen.append(pidfile.pid)
    for name in names:
        found = find_by_name(name, source.root)
        if found and expect_uid is not None:  # another user's namesake is not the app
            found = [p for p in found if process_uid(source.root, p) == expect_uid]
            if not found:
                raise ProcError(f"no process named '{name}' runs as "
                                f"{user_text(expect_uid)}; check --process-name and "
                                f"--expect-user")
        if not found:
            raise ProcError(f"no process named '{name}' (its name or program, exactly); "
                            f"check --process-name")
        if expect_uid is None:
            users = sorted({u for u in (process_uid(source.root, p) for p in found)
                            if u is not None})
            if len(users) > 1:
                raise ProcError(f"processes named '{name}' run as "
                                f"{', '.join(user_text(u) for u in users)}: give "
                                f"--expect-user to say which is the application")
        chosen.extend(found)
    chosen = sorted(set(chosen))
    if expect_uid is not None:
        for pid in chosen:
            uid = process_uid(source.root, pid)
            if uid is not None and uid != expect_uid:
                raise ProcError(f"pid {pid} ({source.name(pid)}) runs as {user_text(uid)}, "
                                f"not {user_text(expect_uid)} (--expect-user): not the "
                                f"application")
    return chosen


def socket_inodes(processes: Iterable[Process]) -> Dict[int, int]:
    """inode -> pid for the sockets of *processes*."""
    return {inode: proc.pid for proc in processes for inode in proc.inodes}
