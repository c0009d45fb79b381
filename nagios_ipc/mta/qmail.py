"""qmail (netqmail, notqmail): a spool scan of /var/qmail/queue, or
``qmail-qread`` plus ``qmail-qstat``.

Queues, qmail's own: ``local`` and ``remote`` (messages with recipients still
to deliver on that side) and ``todo`` (queued by qmail-queue, not yet
preprocessed by qmail-send: a growing todo means qmail-send is stuck or
overloaded). A message is one message, as qmail-qstat counts it: one with both
local and remote recipients is in ``remote`` while a remote recipient waits,
else in ``local`` (a count-only scan, which opens no file, puts it where it has a
remote/ file); one being preprocessed (in todo/ and already in a channel) is not
in ``todo``. Deferred (local + remote) is the same either way.

Spool layout (qmail-send(8), INTERNALS): every message is named by the inode of
its ``mess/<split>/<inode>`` file; ``info/<split>/<inode>`` holds ``F<sender>\\0``
(an empty sender is a bounce) and its mtime is the arrival (qmail-send writes it
once and measures queuelifetime from it; qmail-qread prints that time);
``local/`` and ``remote/<split>/<inode>`` hold ``T<recipient>\\0`` records (``D``
once delivered); ``todo/<inode>`` (or ``todo/<split>/<inode>`` with big-todo)
holds ``u<uid>\\0p<pid>\\0F<sender>\\0T<recipient>\\0...``. Counting lists the
channel directories and stats info/ and mess/ files; nothing is opened.
qmail records no deferral reasons in the queue (they are in the log only).

``qmail-qread`` prints per message
``<d Mon yyyy hh:mm:ss> GMT  #<inode>  <size>  <<sender>> [ bouncing]`` then one
``\\t<local|remote>\\t<recipient>`` line per recipient (``  done`` in front once
delivered); it does not list todo, which ``qmail-qstat`` counts.
"""

from __future__ import annotations

import calendar
import os
import re
import time

from ..proc import CommandError, exit_text, find_executable, run_command
from .listing import Skipped
from .model import Message, ParseError, QueueCount, Settings, Unavailable
from .spoolscan import (Entry, Partitioned, check_readable_dir, clip, confine, entries,
                        entry_stat, path_stat, read_small, sudo_fix, text_lines)

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Tuple

NAME = "qmail"
METHODS = ("spool", "command")

DEFAULT_QUEUE = "/var/qmail/queue"
BIN_DIRS = ("/var/qmail/bin",)
CHANNELS = ("local", "remote")
QUEUES = ("local", "remote", "todo")
DEFERRED_QUEUES = CHANNELS  # all waiting for delivery; todo is not yet preprocessed
LISTING_FIX = "(qmail-qread needs root too: the queue is private to the qmail users)"


def _records(data: bytes, source: str, allowed: str) -> List[Tuple[str, str]]:
    """NUL-terminated records ``<letter><text>\\0`` -> [(letter, text)]."""
    if data and not data.endswith(b"\0"):
        raise ParseError(f"qmail queue file {source} is truncated (no final NUL)")
    records: List[Tuple[str, str]] = []
    for raw in data.split(b"\0")[:-1]:
        if not raw:
            continue  # the envelope's closing empty record (todo files)
        text = raw.decode("utf-8", "replace")
        if text[0] not in allowed:
            raise ParseError(f"qmail queue file {source}: unknown record {clip(text)}")
        records.append((text[0], text[1:]))
    return records


def parse_info(data: bytes, source: str) -> str:
    """info/ file -> envelope sender ('' for a bounce)."""
    records = _records(data, source, "F")
    if len(records) != 1:
        raise ParseError(f"qmail info file {source} does not hold exactly one sender")
    return records[0][1]


def parse_recipients(data: bytes, source: str) -> Tuple[List[str], int]:
    """local/ or remote/ file -> (recipients still to deliver, number done)."""
    pending: List[str] = []
    done = 0
    for kind, address in _records(data, source, "TD"):
        if kind == "T":
            pending.append(address)
        else:
            done += 1
    return pending, done


def parse_todo(data: bytes, source: str) -> Tuple[Optional[str], List[str]]:
    """todo/ file -> (sender, recipients)."""
    sender: Optional[str] = None
    recipients: List[str] = []
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # patches add some
    for kind, text in _records(data, source, letters):
        if kind == "F":
            sender = text
        elif kind == "T":
            recipients.append(text)
    return sender, recipients


class SpoolSource(Partitioned):
    mta = NAME
    method = "spool"

    def __init__(self, settings: Settings, root: str) -> None:
        self.settings = settings
        self.root = root
        confine(root)
        self._split: Optional[int] = None

    def _split_files(self, directory: str) -> Iterator[Tuple[str, str, Entry]]:
        """(split subdir, inode name, entry) in a split directory (flat also accepted)."""
        for top in entries(os.path.join(self.root, directory)):
            if top.is_dir(follow_symlinks=False):
                for entry in entries(top.path):
                    if entry.name.isdigit():
                        yield top.name, entry.name, entry
            elif top.name.isdigit():
                yield "", top.name, top

    def _mess_split(self, inode: str) -> str:
        if self._split is None:
            dirs = [e.name for e in entries(os.path.join(self.root, "mess"))
                    if e.name.isdigit()]
            self._split = len(dirs) or 1
        return str(int(inode) % self._split)

    def _paths(self, split: str, inode: str) -> Tuple[str, str]:
        split = split or self._mess_split(inode)
        return (os.path.join(self.root, "mess", split, inode),
                os.path.join(self.root, "info", split, inode))

    def _other(self, channel: str, split: str, inode: str) -> str:
        other = "local" if channel == "remote" else "remote"
        return os.path.join(self.root, other, split, inode) if split else \
            os.path.join(self.root, other, inode)

    def counts(self) -> Iterable[QueueCount]:
        figures: Dict[str, List[Optional[float]]] = {c: [0, 0, None] for c in CHANNELS}
        placed = set()  # inodes counted in a channel: each message once
        for channel in ("remote", "local"):
            row = figures[channel]
            for split, inode, _entry in self._split_files(channel):
                if inode in placed:
                    continue  # remote and local recipients: counted in remote
                mess_path, info_path = self._paths(split, inode)
                mess = path_stat(mess_path)
                info = path_stat(info_path)
                if mess is None:
                    continue  # delivered and cleaned while we looked
                placed.add(inode)
                row[0] = (row[0] or 0) + 1
                row[1] = (row[1] or 0) + mess.st_size
                arrival = (info or mess).st_mtime
                row[2] = arrival if row[2] is None else min(row[2], arrival)
        for channel in CHANNELS:
            number, total, first = figures[channel]
            yield QueueCount(channel, int(number or 0), int(total or 0), first)
        count = size = 0
        oldest: Optional[float] = None
        for _split, inode, entry in self._split_files("todo"):
            if inode in placed:
                continue  # being preprocessed: already in its channel
            st = entry_stat(entry)
            if st is None:
                continue
            mess = path_stat(self._paths("", inode)[0])
            count += 1
            size += mess.st_size if mess is not None else 0
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
        yield QueueCount("todo", count, size, oldest)

    def messages(self) -> Iterator[Message]:
        placed = set()
        for channel in ("remote", "local"):
            for split, inode, entry in self._split_files(channel):
                if channel == "local" and path_stat(self._other("local", split, inode)):
                    placed.add(inode)
                    continue  # has a remote/ file: read with remote
                placed.add(inode)
                if not self.mine(inode):
                    continue
                mess_path, info_path = self._paths(split, inode)
                mess = path_stat(mess_path)
                info_data = read_small(info_path)
                data = read_small(entry.path)
                info = path_stat(info_path)
                if mess is None or data is None or info_data is None or info is None:
                    continue  # delivered meanwhile
                pending, _done = parse_recipients(data, entry.path)
                queue = channel
                if channel == "remote":
                    other_path = self._other("remote", split, inode)
                    other = read_small(other_path)
                    local = parse_recipients(other, other_path)[0] if other else []
                    if not pending and local:
                        queue = "local"  # the remote side is done; local mail waits
                    pending = pending + local
                yield Message(queue=queue, queue_id=inode, arrival=info.st_mtime,
                              size=mess.st_size, sender=parse_info(info_data, info_path),
                              recipients=tuple(pending))
        for _split, inode, entry in self._split_files("todo"):
            if inode in placed or not self.mine(inode):
                continue
            data = read_small(entry.path)
            st = entry_stat(entry)
            if data is None or st is None:
                continue
            sender, recipients = parse_todo(data, entry.path)
            mess = path_stat(self._paths("", inode)[0])
            yield Message(queue="todo", queue_id=inode, arrival=st.st_mtime,
                          size=mess.st_size if mess is not None else None, sender=sender,
                          recipients=tuple(recipients))


_HEAD = re.compile(r"^(\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d) GMT  #(\d+)  (\d+)  "
                   r"<(.*)> ( bouncing)?$")
_RCPT = re.compile(r"^(  done)?\t(local|remote)\t(.*)$")


def parse_qread(lines: Iterable[str], source: str = "qmail-qread",
                skipped: Optional[Skipped] = None) -> Iterator[Message]:
    """Stream ``qmail-qread``: one Message per message, in ``remote`` while a remote
    recipient waits, else in ``local`` (see the module's docstring).

    An indented line that is not a recipient is skipped and counted in *skipped*
    (nagios_ipc/mta/listing.py); any other line that is not a message's first line is
    an error (a message could be missing from the count)."""
    skipped = skipped if skipped is not None else Skipped(source)
    head: Optional[Tuple[str, float, int, str]] = None
    channels: Dict[str, List[str]] = {}   # channel -> recipients still to deliver
    number = 0

    def finish() -> Iterator[Message]:
        if head is None:
            return
        inode, arrival, size, sender = head
        if channels.get("remote"):
            queue = "remote"
        elif channels.get("local"):
            queue = "local"
        else:  # every recipient done: qmail-send is about to remove it
            queue = "remote" if "remote" in channels else "local"
        yield Message(queue=queue, queue_id=inode, arrival=arrival, size=size,
                      sender=sender, recipients=(*channels.get("remote", ()),
                                                 *channels.get("local", ())))

    for line in lines:
        number += 1
        if not line:
            continue
        if line.startswith("warning: trouble with #"):
            skipped.understood += 1
            continue  # the message left the queue while qmail-qread looked
        match = _HEAD.match(line)
        if match:
            yield from finish()
            try:
                arrival = float(calendar.timegm(time.strptime(match.group(1),
                                                              "%d %b %Y %H:%M:%S")))
            except (ValueError, OverflowError):
                raise skipped.fail(line, number, "bad date") from None
            head = (match.group(2), arrival, int(match.group(3)), match.group(4))
            channels = {}
            skipped.understood += 1
            continue
        rcpt = _RCPT.match(line)
        if rcpt and head is not None:
            addresses = channels.setdefault(rcpt.group(2), [])
            if not rcpt.group(1):
                addresses.append(rcpt.group(3))
            skipped.understood += 1
            continue
        if head is not None and line[0] in " \t":
            skipped.skip(line, number, "not a recipient line")
            continue
        raise skipped.fail(line, number, "not a qmail-qread message line (a message could "
                                         "be missing from the count)")
    yield from finish()
    skipped.finish()


_QSTAT = re.compile(r"^messages in queue( but not yet preprocessed)?: (\d+)$")


def parse_qstat(text: str, source: str = "qmail-qstat") -> Tuple[int, int]:
    """``qmail-qstat`` -> (messages in queue, not yet preprocessed)."""
    found: Dict[bool, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _QSTAT.match(line.strip())
        if not match:
            raise ParseError(f"{source}: unexpected line {clip(line)}")
        found[bool(match.group(1))] = int(match.group(2))
    if len(found) != 2:
        raise ParseError(f"{source}: expected the two 'messages in queue' lines, got "
                         f"{clip(text)}")
    return found[False], found[True]


class CommandSource:
    mta = NAME
    method = "command"

    def __init__(self, settings: Settings, qread: str, qstat: Optional[str]) -> None:
        self.settings = settings
        self.qread = qread
        self.qstat = qstat
        self.skipped = Skipped("qmail-qread")

    def _lines(self) -> Iterator[str]:
        for line in text_lines([self.qread], self.settings):
            if line.startswith("fatal: "):  # qmail-qread reports on stdout, exit 111
                raise Unavailable(f"qmail-qread: {line[7:]}", sudo_fix(NAME, LISTING_FIX))
            yield line

    def messages(self) -> Iterator[Message]:
        yield from parse_qread(self._lines(), "qmail-qread", self.skipped)

    def _todo(self) -> Optional[int]:
        if self.qstat is None:
            return None
        done = run_command([self.qstat], timeout=self.settings.timeout)
        if done.returncode != 0:
            raise CommandError(f"qmail-qstat failed ({exit_text(done.returncode)}): "
                               f"{done.stderr_line or 'no message'}")
        return parse_qstat(done.stdout.decode("utf-8", "replace"))[1]

    def counts(self) -> Iterable[QueueCount]:
        figures = {channel: [0, 0, 0.0] for channel in CHANNELS}
        for message in self.messages():
            row = figures[message.queue]
            row[0] += 1
            row[1] += message.size or 0
            if message.arrival is not None and (not row[2] or message.arrival < row[2]):
                row[2] = message.arrival
        result = [QueueCount(channel, int(n), int(size), oldest or None)
                  for channel, (n, size, oldest) in figures.items()]
        todo = self._todo()
        if todo is not None:
            result.append(QueueCount("todo", todo))
        return result


def installed(settings: Settings) -> bool:
    queue = settings.spool_dir or DEFAULT_QUEUE
    return os.path.exists("/var/qmail/bin/qmail-send") or all(
        os.path.isdir(os.path.join(queue, sub)) for sub in ("mess", "info", "todo"))


def open_source(settings: Settings, method: str) -> SpoolSource | CommandSource:
    if method == "spool":
        root = settings.spool_dir or DEFAULT_QUEUE
        check_readable_dir(root, NAME)
        for sub in ("mess", "info", "local", "remote", "todo"):
            check_readable_dir(os.path.join(root, sub), NAME)
        return SpoolSource(settings, root)
    if method == "command":
        if settings.binary:
            qread = find_executable(settings.binary)
            qstat = find_executable(os.path.join(os.path.dirname(settings.binary),
                                                 "qmail-qstat"))
        else:
            search = (*BIN_DIRS, "/usr/sbin", "/usr/bin", "/usr/local/bin")
            qread = find_executable("qmail-qread", search)
            qstat = find_executable("qmail-qstat", search)
        if qread is None and settings.binary:
            raise Unavailable(f"{settings.binary} is missing or not executable",
                              "point --mta-binary at qmail-qread (qmail-qstat beside it)")
        if qread is None:
            raise Unavailable("qmail-qread was not found (/var/qmail/bin)",
                              "install qmail or point --mta-binary at qmail-qread")
        return CommandSource(settings, qread, qstat)
    raise ValueError(f"qmail has no method {method!r}")
