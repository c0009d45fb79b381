"""System V message queues on Linux: /proc/sysvipc/msg plus each queue's limit.

/proc/sysvipc/msg is world-readable and lists every queue, but has no qbytes
(the queue's byte limit). That comes, in order of preference, from
msgctl(MSG_STAT_ANY) (Linux >= 4.17, no permission needed), msgctl(IPC_STAT)
(needs read permission on the queue), or the system default msgmnb, and each
queue says which one it got.
"""

from __future__ import annotations

import errno
import struct
import sys

from .model import ANY, BOUNDS, INT32, ParseError, Queue, out_of_bounds

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    NameOf = Callable[[int], str]

PROC_MSG = "/proc/sysvipc/msg"
COLUMNS = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "gid",
           "cuid", "cgid", "stime", "rtime", "ctime")
IPC_STAT = 2
MSG_INFO = 12
MSG_STAT_ANY = 13
QBYTES_MAX = 2**63 - 1  # the field is unsigned long: beyond, the layout is not ours


def parse_proc_msg(text: str) -> List[Dict[str, int]]:
    """Rows of /proc/sysvipc/msg as dicts of ints, keyed by the header's names."""
    header, rows = parse_proc_rows(text)
    return [dict(zip(header, row)) for row in rows]


def parse_proc_rows(text: str) -> Tuple[List[str], List[List[int]]]:
    """The header's column names and each row as ints (the fast path)."""
    lines = text.splitlines()
    if not lines:
        raise ParseError("/proc/sysvipc/msg is empty (not even a header)")
    header = lines[0].split()
    missing = [name for name in ("key", "msqid", "perms", "cbytes", "qnum", "uid", "cuid")
               if name not in header]
    if missing:
        raise ParseError(f"/proc/sysvipc/msg header lacks {', '.join(missing)}: "
                         f"{lines[0].strip()[:80]!r}")
    width = len(header)
    body = lines[1:]
    widths = set(map(len, map(str.split, body)))  # C loops: a host can have 32,000 queues
    widths.discard(0)
    if widths <= {width}:
        try:  # the fast path: every row has the header's width; convert all at once
            flat = list(map(int, " ".join(body).split()))
            if flat and (min(flat) < INT32[0] or max(flat) > INT32[1]):
                _check_bounds(header, flat)
            return header, [flat[i:i + width] for i in range(0, len(flat), width)]
        except ValueError:
            pass  # find the line to name, below
    split = [line.split() for line in body]
    rows = []
    for number, (line, fields) in enumerate(zip(body, split), start=2):
        if len(fields) != width:
            if not fields:
                continue
            raise ParseError(f"/proc/sysvipc/msg line {number} has {len(fields)} fields, "
                             f"the header {width}: {line.strip()[:80]!r}")
        try:
            rows.append(list(map(int, fields)))
        except ValueError:
            raise ParseError(f"/proc/sysvipc/msg line {number} is not numeric: "
                             f"{line.strip()[:80]!r}") from None
    flat = [value for row in rows for value in row]  # reached only if the fast path was not
    if flat and (min(flat) < INT32[0] or max(flat) > INT32[1]):
        _check_bounds(header, flat)
    return header, rows


def _check_bounds(header: List[str], flat: List[int]) -> None:
    """Past int32 somewhere (rare: times after 2038, huge counts): each column must
    hold what its kernel type can (see model.BOUNDS)."""
    width = len(header)
    for index, name in enumerate(header):
        column = flat[index::width]
        if out_of_bounds(name, min(column), max(column)):
            lo, hi = BOUNDS.get(name, ANY)
            bad = next(v for v in column if not lo <= v <= hi)
            raise ParseError(f"/proc/sysvipc/msg column {name} holds {bad}, outside "
                             f"{lo}..{hi}: not a kernel queue table")


_STAT = struct.Struct("=i68xQQQ")  # key at 0; cbytes, qnum, qbytes at 72 (struct msqid_ds)


class _Msgctl:
    """msgctl() through ctypes, where the struct layout is known (64-bit Linux)."""

    def __init__(self) -> None:
        import ctypes  # only when there are queues: ctypes costs start-up time

        self.usable = sys.platform.startswith("linux") and struct.calcsize("P") == 8
        self._buf = ctypes.create_string_buffer(256)
        self._msgctl = ctypes.CDLL(None, use_errno=True).msgctl if self.usable else None

    @property
    def raw(self) -> Callable[[int, int, Any], int]:
        """msgctl itself, for a tight loop: (ident, cmd, self.buffer) -> result."""
        assert self._msgctl is not None
        return self._msgctl  # type: ignore[no-any-return]

    @property
    def buffer(self) -> Any:
        return self._buf

    def call(self, ident: int, cmd: int) -> Tuple[int, Tuple[int, int, int, int]]:
        """(return value, (key, cbytes, qnum, qbytes))."""
        assert self._msgctl is not None
        result = self._msgctl(ident, cmd, self._buf)
        return result, _STAT.unpack_from(self._buf)


def read_limits(keys: Dict[int, int], msgctl: Optional[_Msgctl] = None,
                ) -> Dict[int, Tuple[int, str]]:
    """msqid -> (qbytes, source) for the queues in *keys* (msqid -> key) that the
    kernel lets us see.

    Each reading is judged on its own: a key that does not match its msqid (the
    queue was replaced between /proc and msgctl, or the struct layout is not what
    we think) drops that reading only, and that queue tries IPC_STAT. Any queue's
    owner can set its qbytes to anything from 0 to msgmnb (IPC_SET needs no
    privilege), so no value one queue holds may change how the others are read:
    0 is a real limit (the queue is full by definition), not a sign of a bad layout."""
    found: Dict[int, Tuple[int, str]] = {}
    if not keys:
        return found
    msgctl = msgctl or _Msgctl()
    if not msgctl.usable:
        return found
    max_index, _ = msgctl.call(0, MSG_INFO)
    call = msgctl.call
    raw, buf, unpack = msgctl.raw, msgctl.buffer, _STAT.unpack_from
    for index in range(max_index + 1 if max_index >= 0 else 0):
        msqid = raw(index, MSG_STAT_ANY, buf)
        if msqid < 0:
            continue  # a free slot, or no MSG_STAT_ANY (< 4.17): IPC_STAT below
        expected = keys.get(msqid)
        if expected is None:
            continue  # created after we read /proc
        key, _cbytes, _qnum, qbytes = unpack(buf)
        if key & 0xFFFFFFFF == expected & 0xFFFFFFFF and qbytes <= QBYTES_MAX:
            found[msqid] = (qbytes, "MSG_STAT_ANY")
    if len(found) < len(keys):
        for msqid, expected in keys.items():
            if msqid in found:
                continue
            result, (key, _cbytes, _qnum, qbytes) = call(msqid, IPC_STAT)
            if (result == 0 and key & 0xFFFFFFFF == expected & 0xFFFFFFFF
                    and qbytes <= QBYTES_MAX):
                found[msqid] = (qbytes, "IPC_STAT")
    return found


def read_int(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class SysvProcSource:
    """System V queues of a Linux host."""

    kind = "sysv"

    def __init__(self, name_of: NameOf, path: str = PROC_MSG,
                 msgmnb_path: str = "/proc/sys/kernel/msgmnb",
                 msgmni_path: str = "/proc/sys/kernel/msgmni",
                 limits: Optional[Callable[[Dict[int, int]], Dict[int, Tuple[int, str]]]]
                 = None) -> None:
        self.name_of = name_of
        self.path = path
        self.msgmnb_path = msgmnb_path
        self.msgmni_path = msgmni_path
        self.limits = limits or read_limits
        self.notes: List[str] = []

    def system_max(self) -> Optional[int]:
        return read_int(self.msgmni_path)

    def queues(self) -> List[Queue]:
        try:
            with open(self.path, encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except PermissionError:
            raise ParseError(f"cannot read {self.path}: permission denied; run as a user "
                             f"that can read it (it is world-readable on a standard "
                             f"Linux)") from None
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise ParseError(f"cannot read {self.path}: {exc.strerror}; raise the open "
                                 f"files limit (ulimit -n) of this user") from None
            raise ParseError(f"cannot read {self.path}: {exc.strerror}; is this Linux with "
                             f"System V IPC (CONFIG_SYSVIPC)? else use --type posix") from None
        try:
            header, rows = parse_proc_rows(text)
        except ParseError as exc:  # the kernel's table never looks like this
            raise ParseError(f"{exc}; is {self.path} the kernel's queue table? if so, report "
                             f"it to nagios_ipc") from None
        col = {name: header.index(name) for name in header}
        i_key, i_id, i_perms = col["key"], col["msqid"], col["perms"]
        i_cbytes, i_qnum, i_uid, i_cuid = col["cbytes"], col["qnum"], col["uid"], col["cuid"]
        missing = len(header)  # a kernel without some of these columns: a 0 column there
        if any(name not in col for name in ("lspid", "lrpid", "stime", "rtime", "ctime")):
            rows = [[*row, 0] for row in rows]
        i_lspid, i_lrpid, i_stime, i_rtime, i_ctime = (
            col.get(name, missing) for name in ("lspid", "lrpid", "stime", "rtime", "ctime"))
        limits = self.limits({row[i_id]: row[i_key] for row in rows})
        default = read_int(self.msgmnb_path)
        fallback = len(rows) - len(limits)
        if fallback:
            self.notes.append(
                f"{fallback} System V queue limit(s) not readable (no MSG_STAT_ANY, no "
                f"read permission): assumed the default msgmnb {default} B")
        name_of = self.name_of
        names: Dict[int, str] = {}
        modes: Dict[int, int] = {}
        unknown = (default, "msgmnb default")
        get_limit = limits.get
        out: List[Queue] = []
        append = out.append
        for row in rows:
            msqid, uid, cuid, perms = row[i_id], row[i_uid], row[i_cuid], row[i_perms]
            qbytes, source = get_limit(msqid, unknown)
            owner = names.get(uid)
            if owner is None:
                owner = names[uid] = name_of(uid)
            creator = names.get(cuid)
            if creator is None:
                creator = names[cuid] = name_of(cuid)
            mode = modes.get(perms)
            if mode is None:
                mode = modes[perms] = _octal(perms)
            append(Queue(
                "sysv", "0x%08x" % (row[i_key] & 0xFFFFFFFF), msqid, owner, creator, mode,
                row[i_qnum], row[i_cbytes], qbytes, source, qbytes, row[i_lspid] or None,
                row[i_lrpid] or None, row[i_stime] or None, row[i_rtime] or None,
                row[i_ctime] or None))
        return out


def _octal(perms: int) -> int:
    """/proc prints the mode as octal digits (e.g. 666): read them as octal."""
    try:
        return int(str(perms), 8) & 0o7777
    except ValueError:
        return perms & 0o7777
