"""System V message queues on Linux: /proc/sysvipc/msg plus each queue's limit.

/proc/sysvipc/msg is world-readable and lists every queue, but has no qbytes
(the queue's byte limit). That comes, in order of preference, from
msgctl(MSG_STAT_ANY) (Linux >= 4.17, no permission needed), msgctl(IPC_STAT)
(needs read permission on the queue), or the system default msgmnb, and each
queue says which one it got.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .model import ParseError, Queue

PROC_MSG = "/proc/sysvipc/msg"
COLUMNS = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "gid",
           "cuid", "cgid", "stime", "rtime", "ctime")
IPC_STAT = 2
MSG_INFO = 12
MSG_STAT_ANY = 13
_MSQID_DS_SIZE = 120  # struct msqid_ds on 64-bit Linux (generic layout, glibc)

NameOf = Callable[[int], str]


def parse_proc_msg(text: str) -> List[Dict[str, int]]:
    """Rows of /proc/sysvipc/msg as dicts of ints, keyed by the header's names."""
    lines = text.splitlines()
    if not lines:
        raise ParseError("/proc/sysvipc/msg is empty (not even a header)")
    header = lines[0].split()
    missing = [name for name in ("key", "msqid", "perms", "cbytes", "qnum", "uid", "cuid")
               if name not in header]
    if missing:
        raise ParseError(f"/proc/sysvipc/msg header lacks {', '.join(missing)}: "
                         f"{lines[0].strip()[:80]!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != len(header):
            raise ParseError(f"/proc/sysvipc/msg line {number} has {len(fields)} fields, "
                             f"the header {len(header)}: {line.strip()[:80]!r}")
        try:
            rows.append({name: int(value) for name, value in zip(header, fields)})
        except ValueError:
            raise ParseError(f"/proc/sysvipc/msg line {number} is not numeric: "
                             f"{line.strip()[:80]!r}") from None
    return rows


class _Msgctl:
    """msgctl() through ctypes, where the struct layout is known (64-bit Linux)."""

    def __init__(self) -> None:
        self.usable = sys.platform.startswith("linux") and struct.calcsize("P") == 8
        self._libc = ctypes.CDLL(None, use_errno=True) if self.usable else None
        self._buf = ctypes.create_string_buffer(256)

    def call(self, ident: int, cmd: int) -> Tuple[int, bytes]:
        assert self._libc is not None
        result = self._libc.msgctl(ident, cmd, self._buf)
        return result, self._buf.raw[:_MSQID_DS_SIZE]

    @staticmethod
    def decode(raw: bytes) -> Tuple[int, int, int, int]:
        """(key, cbytes, qnum, qbytes) from a struct msqid_ds."""
        key = struct.unpack_from("i", raw, 0)[0]
        cbytes, qnum, qbytes = struct.unpack_from("QQQ", raw, 72)
        return key & 0xFFFFFFFF, cbytes, qnum, qbytes


def read_limits(rows: Iterable[Dict[str, int]], msgctl: Optional[_Msgctl] = None,
                ) -> Dict[int, Tuple[int, str]]:
    """msqid -> (qbytes, source) for every queue the kernel lets us see."""
    msgctl = msgctl or _Msgctl()
    wanted = {row["msqid"]: row for row in rows}
    found: Dict[int, Tuple[int, str]] = {}
    if not wanted or not msgctl.usable:
        return found
    max_index, _ = msgctl.call(0, MSG_INFO)
    if max_index >= 0:
        for index in range(max_index + 1):
            msqid, raw = msgctl.call(index, MSG_STAT_ANY)
            if msqid < 0:
                continue  # a free slot, or no MSG_STAT_ANY (< 4.17): IPC_STAT below
            row = wanted.get(msqid)
            if row is None:
                continue
            key, _cbytes, _qnum, qbytes = msgctl.decode(raw)
            if key != row["key"] & 0xFFFFFFFF or qbytes <= 0:
                found.clear()  # the layout is not what we think: trust none of it
                return found
            found[msqid] = (qbytes, "MSG_STAT_ANY")
    for msqid, row in wanted.items():
        if msqid in found:
            continue
        result, raw = msgctl.call(msqid, IPC_STAT)
        if result == 0:
            key, _cbytes, _qnum, qbytes = msgctl.decode(raw)
            if key == row["key"] & 0xFFFFFFFF and qbytes > 0:
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
                 limits: Optional[Callable[[List[Dict[str, int]]], Dict[int, Tuple[int, str]]]]
                 = None) -> None:
        self.name_of = name_of
        self.path = path
        self.msgmnb_path = msgmnb_path
        self.msgmni_path = msgmni_path
        self.limits = limits or read_limits
        self.notes: List[str] = []

    def available(self) -> bool:
        return os.path.exists(self.path)

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
            raise ParseError(f"cannot read {self.path}: {exc.strerror}; is this Linux with "
                             f"System V IPC (CONFIG_SYSVIPC)? else use --type posix") from None
        rows = parse_proc_msg(text)
        limits = self.limits(rows)
        default = read_int(self.msgmnb_path)
        fallback = [row for row in rows if row["msqid"] not in limits]
        if fallback:
            self.notes.append(
                f"{len(fallback)} System V queue limit(s) not readable (no MSG_STAT_ANY, no "
                f"read permission): assumed the default msgmnb {default} B")
        out = []
        for row in rows:
            qbytes, source = limits.get(row["msqid"], (default, "msgmnb default"))
            out.append(Queue(
                kind="sysv", key=f"0x{row['key'] & 0xFFFFFFFF:08x}", id=row["msqid"],
                owner=self.name_of(row["uid"]), creator=self.name_of(row["cuid"]),
                perms=_octal(row["perms"]),
                messages=row["qnum"], bytes=row["cbytes"], limit_bytes=qbytes,
                limit_source=source, max_messages=qbytes,
                lspid=row.get("lspid") or None, lrpid=row.get("lrpid") or None,
                stime=row.get("stime") or None, rtime=row.get("rtime") or None,
                ctime=row.get("ctime") or None))
        return out


def _octal(perms: int) -> int:
    """/proc prints the mode as octal digits (e.g. 666): read them as octal."""
    try:
        return int(str(perms), 8) & 0o7777
    except ValueError:
        return perms & 0o7777
