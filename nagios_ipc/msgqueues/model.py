"""One message queue as every source reports it."""

from __future__ import annotations

import nagiosplugin

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import NamedTuple, Optional
else:
    from nagios_ipc.light import NamedTuple


class ParseError(nagiosplugin.CheckError):
    """Text from /proc, an mqueue file or ipcs that does not parse."""


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
    def full(self) -> bool:
        if self.limit_bytes is not None and self.limit_bytes > 0 and self.bytes >= self.limit_bytes:
            return True
        return (self.max_messages is not None and self.messages is not None
                and self.max_messages > 0 and self.messages >= self.max_messages)

    @property
    def fill(self) -> Optional[float]:
        """Percent of the byte or message limit in use, whichever is nearer."""
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
