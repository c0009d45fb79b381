"""POSIX message queues on Linux: the files of a mounted mqueue filesystem.

Each file reads ``QSIZE:<bytes> NOTIFY:.. SIGNO:.. NOTIFY_PID:..``; owner and
mode come from stat(). Message counts and limits need mq_getattr(), which
needs read permission on the queue: through posix_ipc where it is installed,
else through the C library directly; without either, or without permission,
the queue has no message count (None): the check leaves its figures out and
answers UNKNOWN naming it (check.unreadable_text).
"""

from __future__ import annotations

import os
import re
import stat

from .model import ParseError, Queue

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

    # (current messages, max messages, max message size) or None when not permitted
    Attrs = Callable[[str], Optional[Tuple[int, int, int]]]
    NameOf = Callable[[int], str]

MQUEUE_DIR = "/dev/mqueue"
# limit_source of a queue mq_getattr was refused on: the check names these in its UNKNOWN
NOT_PERMITTED = "not permitted"
_QSIZE = re.compile(r"^QSIZE:(\d+)\s")


def parse_mqueue_file(text: str, name: str = "?") -> int:
    """QSIZE (bytes queued) from the content of an mqueue file."""
    match = _QSIZE.match(text + " ")
    if not match:
        raise ParseError(f"mqueue file {name} does not start with QSIZE: {text[:60]!r}")
    return int(match.group(1))


def _libc_attrs() -> Optional[Attrs]:
    """mq_getattr() from libc (glibc >= 2.34) or librt, or None."""
    import ctypes  # only when there are queues to read: ctypes costs start-up time

    for name in (None, "rt"):
        if name == "rt":  # glibc < 2.34 keeps mq_* in librt; ctypes.util costs 3 ms
            from ctypes.util import find_library

            name = find_library("rt")
            if not name:
                continue
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            mq_open, mq_getattr, mq_close = lib.mq_open, lib.mq_getattr, lib.mq_close
        except (OSError, AttributeError):
            continue
        mq_open.restype = ctypes.c_int
        mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
        return _attrs_from(mq_open, mq_getattr, mq_close)
    return None


def _attrs_from(mq_open: Any, mq_getattr: Any, mq_close: Any) -> Attrs:
    import ctypes

    class _MqAttr(ctypes.Structure):
        _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                    ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                    ("reserved", ctypes.c_long * 4)]

    def attrs(queue: str) -> Optional[Tuple[int, int, int]]:
        mqd = mq_open(queue.encode(), os.O_RDONLY)
        if mqd < 0:
            return None
        try:
            attr = _MqAttr()
            if mq_getattr(mqd, ctypes.byref(attr)) != 0:
                return None
            return attr.mq_curmsgs, attr.mq_maxmsg, attr.mq_msgsize
        finally:
            mq_close(mqd)

    return attrs


def default_attrs() -> Tuple[Optional[Attrs], str]:
    """The best mq_getattr available here, and its name for the detail."""
    try:
        import posix_ipc  # optional dependency: pip install nagios_ipc[posix]
    except ImportError:
        found = _libc_attrs()
        return found, "mq_getattr (libc)" if found else "none"

    def attrs(queue: str) -> Optional[Tuple[int, int, int]]:
        try:
            mq = posix_ipc.MessageQueue(queue, read=True, write=False)
        except (posix_ipc.PermissionsError, posix_ipc.ExistentialError, OSError):
            return None
        try:
            return mq.current_messages, mq.max_messages, mq.max_message_size
        finally:
            mq.close()

    return attrs, "posix_ipc"


class PosixSource:
    """POSIX queues in a mounted mqueue filesystem."""

    kind = "posix"

    def __init__(self, name_of: NameOf, directory: str = MQUEUE_DIR,
                 attrs: Optional[Attrs] = None, attrs_name: str = "",
                 queues_max_path: str = "/proc/sys/fs/mqueue/queues_max",
                 require_mount: bool = True) -> None:
        self.name_of = name_of
        self.directory = directory
        # the default mq_getattr is looked up when there is a queue to ask: posix_ipc
        # or ctypes costs start-up time that a host without POSIX queues need not pay
        self._default_attrs = attrs is None and not attrs_name
        self.attrs = attrs
        self.attrs_name = attrs_name or "given"
        self.queues_max_path = queues_max_path
        self.require_mount = require_mount
        self.notes: List[str] = []

    def unavailable_reason(self) -> Optional[str]:
        if not os.path.isdir(self.directory):
            return (f"{self.directory} does not exist; to see POSIX queues: mkdir -p "
                    f"{self.directory} && mount -t mqueue none {self.directory}")
        if self.require_mount and not os.path.ismount(self.directory):
            return (f"no mqueue filesystem is mounted on {self.directory}; mount it: "
                    f"mount -t mqueue none {self.directory}")
        return None

    def system_max(self) -> Optional[int]:
        from .sysv import read_int

        return read_int(self.queues_max_path)

    def queues(self) -> List[Queue]:
        reason = self.unavailable_reason()
        if reason:
            raise ParseError(reason)
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            raise ParseError(f"cannot list {self.directory}: {exc.strerror}") from None
        if names and self._default_attrs:
            self.attrs, self.attrs_name = default_attrs()
            self._default_attrs = False
        out = []
        reduced = 0
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                with open(path, encoding="ascii", errors="replace") as handle:
                    qsize = parse_mqueue_file(handle.read(256), name)
            except FileNotFoundError:
                continue  # removed while we looked
            except PermissionError:
                # 0 stands in for the unknown size: a queue without a message count is
                # never summed (check.Group._scan) and makes the result UNKNOWN
                qsize = 0
                info = os.lstat(path)
            attrs = self.attrs("/" + name) if self.attrs else None
            if attrs is None:
                reduced += 1  # once per queue, whichever of the two reads failed
                messages, maxmsg, msgsize = None, None, None
            else:
                messages, maxmsg, msgsize = attrs
            out.append(Queue(
                kind="posix", key="/" + name, id=None, owner=self.name_of(info.st_uid),
                creator=self.name_of(info.st_uid), perms=stat.S_IMODE(info.st_mode),
                messages=messages, bytes=qsize,
                limit_bytes=maxmsg * msgsize if maxmsg and msgsize else None,
                limit_source=(self.attrs_name if attrs else
                              NOT_PERMITTED if self.attrs else "unknown"),
                max_messages=maxmsg, ctime=info.st_mtime))
        if reduced:
            how = ("install posix_ipc or run as a user with read permission"
                   if self.attrs else "install posix_ipc (pip install posix_ipc)")
            self.notes.append(f"{reduced} POSIX queue(s) without message counts and limits "
                              f"(mq_getattr not permitted or not available): {how}")
        return out
