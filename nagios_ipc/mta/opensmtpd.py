"""OpenSMTPD: ``smtpctl show queue``, or a spool scan of /var/spool/smtpd.

OpenSMTPD queues envelopes (one per recipient) under messages. Queues here:
``queue`` (what the scheduler holds), ``queue.suspended`` (messages whose
envelopes are all paused with ``smtpctl pause envelope``; OpenSMTPD has no hold
queue, and the pause lives in the scheduler's memory only, so the spool scan
cannot see it) and ``offline`` (spool scan: messages ``sendmail``/``smtpctl
enqueue`` wrote while smtpd was not running; smtpd takes them in at start).

``smtpctl show queue`` prints one line per envelope:
``evpid|origin|type|flags|sender|rcpt|dest|ctime|expire|lasttry|retry|state|secs|error``
(``sender`` is ``@`` for the null sender, flags gain ``suspend`` when paused,
state is pending, inflight or offline when smtpd is down). Envelopes of one
message (the first 8 hex digits of the envelope ID) come together; they are
merged into one Message, streaming.

Spool: ``queue/<2 hex>/<msgid>/message`` plus one envelope file per envelope
(``key: value`` lines: sender, rcpt, dest, ctime, errorline...). Counting stats
the ``message`` file only: its size, and its mtime as the arrival (written once
when the message was received; envelope updates never touch it). Queue
encryption or compression makes envelope files unreadable here: use the
command method then.
"""

from __future__ import annotations

import os

from ..proc import CommandError, find_executable, run_command
from .model import Message, NotRunning, ParseError, QueueCount, Settings, Unavailable
from .spoolscan import (Partitioned, check_readable_dir, clip, confine, entries, entry_stat,
                        path_stat, read_small, sudo_fix, text_lines)

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

NAME = "opensmtpd"
METHODS = ("spool", "command")

DEFAULT_SPOOL = "/var/spool/smtpd"
QUEUE, SUSPENDED, OFFLINE = "queue", "queue.suspended", "offline"
QUEUES = (QUEUE,)  # queue.suspended (command) and offline (spool) show when not empty
ALL_QUEUES = (QUEUE, SUSPENDED, OFFLINE)  # every name --queue may watch
DEFERRED_QUEUES = (QUEUE,)  # everything the scheduler still has to deliver
FIELDS = 14
LISTING_FIX = "or run it as a member of the smtpd control group"
START_COMMAND = "smtpd (service opensmtpd start)"


def _sender(text: str) -> str:
    return "" if text in ("@", "") else text


def _int(text: str, what: str, source: str, line: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"{source}: {what} is not a number in {clip(line)}") from None


class _Group:
    """The envelopes of one message seen so far."""

    def __init__(self, msgid: str, sender: str, arrival: float) -> None:
        self.msgid = msgid
        self.sender = sender
        self.arrival = arrival
        self.recipients: List[str] = []
        self.reasons: List[str] = []
        self.suspended = True

    def add(self, recipient: str, arrival: float, error: str, suspended: bool) -> None:
        self.recipients.append(recipient)
        self.arrival = min(self.arrival, arrival)
        if error and error not in self.reasons:
            self.reasons.append(error)
        self.suspended = self.suspended and suspended

    def message(self, size: Optional[int] = None, queue: Optional[str] = None) -> Message:
        held = self.suspended
        return Message(queue=queue or (SUSPENDED if held else QUEUE), queue_id=self.msgid,
                       arrival=self.arrival, size=size, sender=self.sender,
                       recipients=tuple(self.recipients), reasons=tuple(self.reasons),
                       held=held and queue is None)


def parse_show_queue(lines: Iterable[str], source: str = "smtpctl show queue"
                     ) -> Iterator[Message]:
    """Stream ``smtpctl show queue``: one Message per run of envelopes of a message."""
    group: Optional[_Group] = None
    for line in lines:
        if not line:
            continue
        fields = line.split("|", FIELDS - 1)
        if len(fields) != FIELDS:
            raise ParseError(f"{source}: {len(fields)} fields where {FIELDS} were expected "
                             f"in {clip(line)}")
        evpid, _origin, kind, flags, sender, rcpt, dest = fields[:7]
        if len(evpid) != 16 or any(c not in "0123456789abcdef" for c in evpid):
            raise ParseError(f"{source}: {clip(evpid)} is not an envelope ID")
        if kind not in ("mta", "mda", "bounce"):
            raise ParseError(f"{source}: unknown envelope type {clip(kind)}")
        ctime = _int(fields[7], "creation time", source, line)
        for index, what in ((8, "expiry"), (9, "last try"), (10, "retry count")):
            _int(fields[index], what, source, line)
        if not (fields[11].isalpha() and fields[11].islower()):
            raise ParseError(f"{source}: unknown envelope state {clip(fields[11])}")
        suspended = "suspend" in flags.split(",")
        msgid = evpid[:8]
        if group is None or group.msgid != msgid:
            if group is not None:
                yield group.message()
            group = _Group(msgid, _sender(sender), float(ctime))
        group.add(dest or rcpt, float(ctime), fields[13].strip(), suspended)
    if group is not None:
        yield group.message()


def parse_envelope(data: bytes, source: str) -> Dict[str, str]:
    """An envelope file (``key: value`` lines) -> dict. ParseError if it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{source} is not a plain envelope file (queue encryption or "
                         "compression?): use --method command") from None
    fields: Dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon or not key or " " in key:
            raise ParseError(f"{source}: not an envelope line: {clip(line)}")
        fields[key] = value.strip()
    for key in ("version", "sender", "ctime"):
        if key not in fields:
            raise ParseError(f"{source}: envelope has no {key} field")
    if "dest" not in fields and "rcpt" not in fields:
        raise ParseError(f"{source}: envelope has no recipient")
    if not fields["ctime"].isdigit():
        raise ParseError(f"{source}: creation time {clip(fields['ctime'])} is not a number")
    return fields


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, smtpctl: str) -> None:
        self.settings = settings
        self.smtpctl = smtpctl
        self.argv = [smtpctl, "show", "queue"]
        self.stopped: Optional[NotRunning] = None

    def _watched(self, lines: Iterable[str], states: Set[str]) -> Iterator[str]:
        """*lines* unchanged; the envelope states seen go into *states*."""
        for line in lines:
            fields = line.split("|", 12)
            if len(fields) > 11:
                states.add(fields[11])
            yield line

    def _daemon_answers(self) -> bool:
        """``smtpctl show status``: False when smtpd is not running (an empty queue
        lists the same with and without it)."""
        try:
            done = run_command([self.smtpctl, "show", "status"],
                               timeout=min(self.settings.timeout, 5.0))
        except CommandError:
            return True  # not a proof that smtpd is down: the listing stands alone
        return not (done.returncode and b"doesn't seem to be running" in done.stderr)

    def messages(self) -> Iterator[Message]:
        states: Set[str] = set()
        try:
            yield from parse_show_queue(self._watched(text_lines(self.argv, self.settings),
                                                      states))
        except CommandError as exc:
            text = str(exc)
            if "doesn't seem to be running" in text:
                raise NotRunning("smtpctl: smtpd doesn't seem to be running",
                                 START_COMMAND) from None
            if (("root" in text and ("need" in text or "privilege" in text))
                    or "ermission denied" in text or "setgid" in text):
                raise Unavailable(f"smtpctl refused to list the queue: {text}",
                                  sudo_fix(NAME, LISTING_FIX)) from None
            raise
        # without smtpd, smtpctl reads the queue files itself and marks every envelope
        # offline (OpenSMTPD 6.8); with none queued, only 'show status' tells
        if states == {"offline"}:
            self.stopped = NotRunning("smtpctl read the queue offline", START_COMMAND)
        elif not states and not self._daemon_answers():
            self.stopped = NotRunning("smtpctl: smtpd doesn't seem to be running",
                                      START_COMMAND)

    def counts(self) -> Iterable[QueueCount]:
        figures: Dict[str, List[float]] = {QUEUE: [0, 0.0], SUSPENDED: [0, 0.0]}
        for message in self.messages():
            row = figures[message.queue]
            row[0] += 1
            if message.arrival is not None and (not row[1] or message.arrival < row[1]):
                row[1] = message.arrival
        return [QueueCount(queue, int(count), None, oldest or None)
                for queue, (count, oldest) in figures.items()
                if count or queue == QUEUE]


class SpoolSource(Partitioned):
    mta = NAME
    method = "spool"

    def __init__(self, settings: Settings, root: str) -> None:
        self.settings = settings
        self.root = root
        confine(root)

    def _message_dirs(self) -> Iterator[Tuple[str, str]]:
        for bucket in entries(os.path.join(self.root, "queue")):
            if not bucket.is_dir(follow_symlinks=False):
                continue
            for msgdir in entries(bucket.path):
                if msgdir.is_dir(follow_symlinks=False):
                    yield msgdir.name, msgdir.path

    def _offline(self) -> Iterator[Tuple[str, os.stat_result]]:
        path = os.path.join(self.root, "offline")
        if not os.path.isdir(path):
            return
        for entry in entries(path):
            st = entry_stat(entry)
            if st is not None and not entry.name.startswith("."):
                yield entry.name, st

    def counts(self) -> Iterable[QueueCount]:
        count = size = 0
        oldest: Optional[float] = None
        for _msgid, path in self._message_dirs():
            st = path_stat(os.path.join(path, "message"))
            if st is None:
                continue  # delivered (or still being committed) while we looked
            count += 1
            size += st.st_size
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
        yield QueueCount(QUEUE, count, size, oldest)
        offline = [st for _name, st in self._offline()]
        if offline:
            yield QueueCount(OFFLINE, len(offline), sum(st.st_size for st in offline),
                             min(st.st_mtime for st in offline))

    def messages(self) -> Iterator[Message]:
        for msgid, path in self._message_dirs():
            if not self.mine(msgid):
                continue
            st = path_stat(os.path.join(path, "message"))
            if st is None:
                continue
            group: Optional[_Group] = None
            for entry in entries(path):
                if entry.name == "message" or entry.name.startswith("."):
                    continue
                data = read_small(entry.path)
                if data is None:
                    continue
                fields = parse_envelope(data, entry.path)
                ctime = float(int(fields["ctime"]))
                if group is None:
                    group = _Group(msgid, _sender(fields["sender"]), ctime)
                group.add(fields.get("dest") or fields.get("rcpt", ""), ctime,
                          fields.get("errorline", ""), False)
            if group is not None:
                yield group.message(size=st.st_size, queue=QUEUE)
        for name, st in self._offline():
            if not self.mine(name):
                continue
            # sender and recipients are in the file's smtpctl enqueue arguments; not read
            yield Message(queue=OFFLINE, queue_id=name, arrival=st.st_mtime, size=st.st_size)


def installed(settings: Settings) -> bool:
    return (os.path.exists("/usr/sbin/smtpd") or os.path.exists("/etc/smtpd.conf")
            or os.path.exists("/etc/smtpd/smtpd.conf"))


def open_source(settings: Settings, method: str) -> CommandSource | SpoolSource:
    if method == "command":
        smtpctl = find_executable(settings.binary or "smtpctl")
        if smtpctl is None:
            raise Unavailable(f"{settings.binary or 'smtpctl'} was not found",
                              "install opensmtpd or point --mta-binary at smtpctl")
        return CommandSource(settings, smtpctl)
    if method == "spool":
        root = settings.spool_dir or DEFAULT_SPOOL
        check_readable_dir(root, NAME)
        check_readable_dir(os.path.join(root, "queue"), NAME)
        return SpoolSource(settings, root)
    raise ValueError(f"opensmtpd has no method {method!r}")
