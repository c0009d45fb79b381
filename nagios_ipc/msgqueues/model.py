"""One message queue as every source reports it."""

from __future__ import annotations

import nagiosplugin

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import List, NamedTuple, Optional, Protocol, Sequence

    class Rows(Protocol):
        """Where idle rows are built (sysv._FastTable)."""

        def build(self, row: int) -> Queue: ...

        def first_by_key(self, rows: Sequence[int], count: int) -> List[int]: ...
else:
    from nagios_ipc.light import NamedTuple


class ParseError(nagiosplugin.CheckError):
    """Text from /proc, an mqueue file or ipcs that does not parse."""


# What each column can hold in the kernel (key_t, int msqid, pid_t, uid_t, time64_t,
# unsigned long counts); a value outside is not a real queue table, and would
# overflow a C call (msgctl, kill) or time.localtime() further on.
INT32 = (-2**31, 2**31 - 1)
MAX_TIME = 253402300799  # 9999-12-31 23:59:59 UTC
BOUNDS = {
    "key": (-2**31, 2**32 - 1), "msqid": (0, 2**31 - 1), "id": (0, 2**31 - 1),
    "perms": (0, 0o7777777), "cbytes": (0, 2**63 - 1), "qnum": (0, 2**63 - 1),
    "qbytes": (0, 2**63 - 1), "lspid": (0, 2**31 - 1), "lrpid": (0, 2**31 - 1),
    "uid": (0, 2**32 - 1), "gid": (0, 2**32 - 1), "cuid": (0, 2**32 - 1),
    "cgid": (0, 2**32 - 1), "stime": (0, MAX_TIME), "rtime": (0, MAX_TIME),
    "ctime": (0, MAX_TIME),
}
ANY = (-2**63, 2**63 - 1)


def out_of_bounds(column: str, low: int, high: int) -> bool:
    """Whether *low*..*high* (the extremes of a column) exceed what *column* holds."""
    lo, hi = BOUNDS.get(column.lower(), ANY)
    return low < lo or high > hi


class Queue(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass because a host can
    have 32,000 queues and a NamedTuple builds several times faster."""

    kind: str                      # "sysv" or "posix"
    key: str                       # sysv: 0x0000162e; posix: /name
    id: Optional[int]              # sysv msqid; None for posix
    owner: str                     # user name, or the uid in digits when it has no name
    creator: str
    perms: int                     # permission bits, e.g. 0o660
    messages: Optional[int]        # None when unknown (posix without mq_getattr)
    bytes: int                     # bytes in the outstanding messages
    limit_bytes: Optional[int]     # sysv qbytes; posix max_messages * max_message_size
    limit_source: str              # where limit_bytes came from (MSG_STAT_ANY, IPC_STAT, ...)
    max_messages: Optional[int] = None  # messages that fill it (sysv: qbytes; posix: mq_maxmsg)
    lspid: Optional[int] = None    # last sender pid (0/None: none yet)
    lrpid: Optional[int] = None    # last receiver pid
    stime: Optional[float] = None  # last send, epoch seconds; None: never or unknown
    rtime: Optional[float] = None  # last receive
    ctime: Optional[float] = None  # created or last changed

    @property
    def no_room(self) -> bool:
        """A limit of 0 (any System V queue's owner may set qbytes to 0): no message
        fits, so the queue is full by definition, empty as it is."""
        return self.limit_bytes == 0 or self.max_messages == 0

    @property
    def full(self) -> bool:
        if self.limit_bytes is not None and self.bytes >= self.limit_bytes:
            return True
        return (self.max_messages is not None and self.messages is not None
                and self.messages >= self.max_messages)

    @property
    def fill(self) -> Optional[float]:
        """Percent of the byte or message limit in use, whichever is nearer."""
        if self.no_room:
            return 100.0
        ratios = []
        if self.limit_bytes:
            ratios.append(self.bytes / self.limit_bytes)
        if self.max_messages and self.messages is not None:
            ratios.append(self.messages / self.max_messages)
        return min(max(ratios) * 100, 100.0) if ratios else None

    @property
    def nonempty(self) -> bool:
        return bool(self.messages) or self.bytes > 0

    def unread_since(self) -> Optional[float]:
        """When a non-empty queue was last read (or created, if never read)."""
        if not self.nonempty:
            return None
        return self.rtime or self.ctime

    @property
    def label(self) -> str:
        if self.kind == "sysv":
            return f"sysv key {self.key} id {self.id}"
        return f"posix {self.key}"


class Idle:
    """The idle queues of one owner in one source's reading: empty, with room for a
    message (a limit above 0). Such a queue adds to its owner's queues and qbytes
    and to nothing else: it is never full, its fill is 0, it has no unread age, no
    reader to lose and no growth history. So a host with 32,000 of them builds a
    Queue only for those shown (the fullest when all are empty, the detail lines).

    *at* is how many of the owner's built queues of the same reading come before
    the first idle one, *before* how many of all its built queues: its place, for
    the first-come tie-breaks of the reference path (check.Group._scan)."""

    __slots__ = ("at", "before", "kind", "owner", "qbytes", "rows", "table")

    def __init__(self, kind: str, owner: str, rows: Sequence[int], qbytes: int, table: Rows,
                 at: int, before: int) -> None:
        self.kind = kind
        self.owner = owner
        self.rows = rows  # row numbers in the reading, ascending
        self.qbytes = qbytes  # the sum of their limits
        self.table = table
        self.at = at
        self.before = before

    def first(self) -> Queue:
        return self.table.build(self.rows[0])

    def first_by_key(self, count: int) -> List[Queue]:
        """The *count* first in the order of their keys (row order among equal ones)."""
        return [self.table.build(row) for row in self.table.first_by_key(self.rows, count)]


class Batch:
    """What one source found, in its order: *queues* built, *idle* (by the row of
    their first queue) not; *owners* in the order each first appears; *count* all
    queues."""

    __slots__ = ("count", "idle", "kind", "owners", "queues")

    def __init__(self, kind: str, queues: List[Queue], idle: List[Idle], owners: List[str],
                 count: int) -> None:
        self.kind = kind
        self.queues = queues
        self.idle = idle
        self.owners = owners
        self.count = count

    @classmethod
    def of(cls, kind: str, queues: List[Queue]) -> Batch:
        """Every queue built: a source without a fast path, or input it does not take."""
        return cls(kind, queues, [], list(dict.fromkeys(q.owner for q in queues)), len(queues))
