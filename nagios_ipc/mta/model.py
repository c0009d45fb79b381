"""What every MTA source yields: cheap per-queue counts, or streamed messages.

A source reads one MTA by one method (``spool`` scan or the MTA's own
listing ``command``). ``counts()`` must not open message files (a count-only
run costs directory entries only); ``messages()`` streams, so memory stays
flat however large the queue.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Iterable, Iterator, NamedTuple, Optional, Protocol, Sequence, Tuple
else:
    from nagios_ipc.light import NamedTuple

    Protocol = object


class ParseError(ValueError):
    """Text from an MTA command or spool file that does not parse.

    The check turns it into UNKNOWN naming the command or file."""


class Message(NamedTuple):
    """One queued message as far as the source knows it."""

    queue: str                      # the MTA's own queue or channel name: deferred, hold, tcp_local
    queue_id: str
    arrival: Optional[float] = None  # epoch seconds the message arrived (never a retry time)
    size: Optional[int] = None       # bytes
    sender: Optional[str] = None     # "" is the null sender (a bounce); None is unknown
    recipients: Tuple[str, ...] = ()
    reasons: Tuple[str, ...] = ()    # deferral reasons, as the MTA recorded them
    held: bool = False               # held / frozen / quarantined
    # a queue file the MTA wrote but that cannot be read as one: (where, what is wrong,
    # what becomes of it and the fix); the message is counted, its age and size unknown
    damaged: Optional[Tuple[str, str, str]] = None


class QueueCount(NamedTuple):
    """Count-only view of one queue (no message file opened).

    A source that cannot split its queues without opening files (Exim's
    frozen messages) counts them under the queue most of them are in."""

    queue: str
    messages: int
    bytes: Optional[int] = None
    oldest_arrival: Optional[float] = None


class QueueSource(Protocol):
    mta: str        # postfix, exim, sendmail, qmail, opensmtpd, nullmailer, imsimta
    method: str     # spool or command

    def counts(self) -> Iterable[QueueCount]:
        ...

    def messages(self) -> Iterator[Message]:
        ...


class Settings(NamedTuple):
    """What the operator told the check about where and how to read the MTA.

    Every MTA module (``nagios_ipc/mta/<name>.py``) takes these; a field an
    MTA has no use for is ignored by it."""

    spool_dir: Optional[str] = None    # --spool-dir: the queue directory, if not the MTA's default
    config_dir: Optional[str] = None   # --config-dir: Postfix instance (multi-instance),
                                       # imsimta config
    binary: Optional[str] = None       # --mta-binary: alternate listing binary (exim, mailq,
                                       # smtpctl, imsimta)
    config_file: Optional[str] = None  # --mta-config: alternate MTA configuration file (exim -C)
    timeout: float = 10.0              # seconds a listing command may take at most
    now: float = 0.0                   # epoch seconds of this run (ages are measured against it)
    reasons: bool = True               # messages() reads deferral reasons (an extra log file per
                                       # message for some MTAs: False when no measure needs them)
    envelopes: bool = True             # False: only each message's queue and reasons are used
                                       # (the check's second pass for reasons); a source may then
                                       # skip what only the envelope gives


class Unavailable(Exception):
    """This method cannot read this MTA on this host.

    ``reason`` says what is missing (a binary, a permission); ``fix`` says
    what the operator can do (a sudo rule, the MTA's listing permission, an
    option). The check reports UNKNOWN with both when no method works."""

    def __init__(self, reason: str, fix: str = "", details: Sequence[str] = (),
                 overrules: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        self.details = tuple(details)  # long output: the causes in the programs' own words
        # fixes another method's failure offers that this failure shows would not help
        # (the listing permission, when the listing refuses the instance itself)
        self.overrules = tuple(overrules)


class NotRunning(Unavailable):
    """The MTA's daemon is not running (mail is not flowing).

    Raised by a listing that needs the daemon and got nothing (Postfix's showq
    for users other than root); set as a source's ``stopped`` attribute when the
    listing worked without it (``postqueue`` as root and ``smtpctl`` read the queue
    files directly then). ``reason`` says how that was seen, ``fix`` how to start it.
    The check reports it first, in the state --mta-down gives."""


# Each MTA module nagios_ipc/mta/<name>.py provides:
#
#   NAME: str                       # "postfix", "exim", "sendmail", "qmail", "opensmtpd",
#                                   # "nullmailer", "imsimta"
#   METHODS: tuple[str, ...]        # the methods it offers, fastest first: ("spool", "command")
#   def installed(settings: Settings) -> bool
#                                   # this MTA is installed/configured here (for --mta auto)
#   def open_source(settings: Settings, method: str) -> QueueSource
#                                   # raises Unavailable (no binary, no permission) before any
#                                   # output is produced; raises ParseError from counts()/messages()
#                                   # on output that does not parse; NotRunning from them when
#                                   # the listing needs the daemon and it is down; after reading,
#                                   # ``source.stopped`` (a NotRunning, else absent or None) when
#                                   # the listing worked but showed the daemon down
#
# The registry imports a module only when that MTA is asked for or probed.
