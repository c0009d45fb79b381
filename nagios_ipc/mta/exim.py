"""Exim: the spool directory scanned directly, or ``exim -bp``.

Spool: ``input/ID-H`` (envelope: sender, arrival time, flags such as
``-frozen``, the tree of recipients already done, the recipients) and
``input/ID-D`` (the body) per message, in one-character subdirectories when
``split_spool_directory`` is set; ``msglog/ID`` holds the per-message log with
the deferral reasons. Counting reads directory entries only (frozen messages
cannot be told apart without reading their header files: they count as queued).

Command: ``exim -bp`` (age, size, id, sender, ``*** frozen ***``, then the
recipients, ``D`` marking those done), streamed. Non-admin users are refused
unless ``queue_list_requires_admin = false``.

Named queues (Exim >= 4.88: ``queue = NAME`` in an ACL or router, or ``-qG``) live in
``<spool>/NAME/input`` and ``<spool>/NAME/msglog``; ``exim -bp`` and ``-bpc`` list only
the default queue, ``exim -bp -qGNAME`` a named one. Each named queue is reported as the
queues ``NAME`` and ``NAME.frozen`` (``NAME.named`` when it is called like a default
queue), found by listing the spool directory.

Message ids: 4.96 ``1xVYEa-0007ll-13`` (6-6-2), 4.97+ ``1rJAB4-00000002Vh-0bcd``
(6-11-4); the first 6 characters are the arrival time in base 62.
"""

from __future__ import annotations

import os
import re

from .listing import Skipped
from .model import Message, ParseError, QueueCount, Settings, Unavailable

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, Iterator, List, Optional, Tuple

    from .spooltree import Directory

NAME = "exim"
METHODS = ("spool", "command")
QUEUES = ("queued", "frozen")
DEFERRED_QUEUES = ("queued",)
SPOOL_SUBDIRS = ("input", "msglog", "db")  # the default queue's and Exim's own
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # what is reported as a named queue
BINARIES = ("exim4", "exim")
DEFAULT_SPOOLS = ("/var/spool/exim4", "/var/spool/exim")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID = re.compile(r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}$")
# a header line: "NNNf " at the start of a line (searched with its newline as a literal
# prefix, which the regex engine finds with a fast scan: a ^ under re.M is tried at
# every position, 1.6 us an -H file of four headers against 0.9)
_HEADER_LENGTH = re.compile(r"\n(\d{3})[A-Za-z* ] ")

SUDO_FIX = "run it as root via contrib/sudoers.d/nagios_ipc"
LIST_FIX = "set queue_list_requires_admin = false"


def _binary(settings: Settings) -> Optional[str]:
    from ..proc import find_executable

    if settings.binary:
        return find_executable(settings.binary)
    for name in BINARIES:
        path = find_executable(name)
        if path:
            return path
    return None


def _base_argv(settings: Settings) -> List[str]:
    binary = _binary(settings)
    if binary is None:
        wanted = settings.binary or " or ".join(BINARIES)
        raise Unavailable(f"{wanted} not found (searched /usr/sbin, /usr/bin, /sbin, /bin, "
                          f"/usr/local/sbin, /usr/local/bin)",
                          "install Exim, or give its binary with --mta-binary")
    argv = [binary]
    if settings.config_file:
        argv += ["-C", settings.config_file]
    return argv


def installed(settings: Settings) -> bool:
    if settings.spool_dir and os.path.isdir(os.path.join(settings.spool_dir, "input")):
        return True
    return _binary(settings) is not None


def spool_directory(settings: Settings) -> str:
    if settings.spool_dir:
        return settings.spool_dir
    from ..proc import CommandError, run_command

    argv = [*_base_argv(settings), "-bP", "spool_directory"]
    try:
        done = run_command(argv, timeout=min(settings.timeout, 5.0))
    except CommandError as exc:
        raise Unavailable(f"cannot find the spool directory: {exc}",
                          "give it with --spool-dir") from None
    text = done.stdout.decode("utf-8", "replace").strip()
    _, _, value = text.partition("=")
    value = value.strip()
    if done.returncode != 0 or not value.startswith("/"):
        for default in DEFAULT_SPOOLS:
            if os.path.isdir(os.path.join(default, "input")):
                return default
        raise Unavailable(f"'{' '.join(argv)}' failed: {done.stderr_line or text or 'no output'}",
                          "give the spool directory with --spool-dir")
    return value


def queue_label(named: str, frozen: bool) -> str:
    """The reported queue of a message in named queue *named* ('' the default one)."""
    if not named:
        return "frozen" if frozen else "queued"
    if named in QUEUES or named.endswith((".frozen", ".named")):
        named += ".named"
    return f"{named}.frozen" if frozen else named


def deferred_queues(queues: Tuple[str, ...]) -> Tuple[str, ...]:
    """Every queue but the frozen ones (named queues included: their mail waits too)."""
    return tuple(q for q in queues if q != "frozen" and not q.endswith(".frozen"))


def named_queues(root: str) -> List[str]:
    """The named queues of the spool at *root*: its subdirectories that hold an input/."""
    from .spoolscan import entries

    found = []
    for entry in entries(root):
        name = entry.name
        if name in SPOOL_SUBDIRS or not _QUEUE_NAME.match(name):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        if any(sub.name == "input" for sub in entries(entry.path)):
            found.append(name)
    return sorted(found)


def open_source(settings: Settings, method: str) -> EximSpool | EximBp:
    if method == "spool":
        return EximSpool(spool_directory(settings), settings)
    if method == "command":
        return EximBp(settings)
    raise Unavailable(f"exim has no method '{method}'", "use --method spool or command")


def id_time(message_id: str) -> Optional[int]:
    """Arrival time (epoch seconds) from the first 6 base-62 characters of an id."""
    if not _ID.match(message_id):
        return None
    value = 0
    for char in message_id[:6]:
        value = value * 62 + BASE62.index(char)
    return value


# --- spool ------------------------------------------------------------------------------


def _read_tree(lines: List[str], index: int, done: List[str]) -> int:
    """Skip the balanced tree of recipients already done (``XX`` when empty)."""
    if index >= len(lines):
        raise ParseError("header file ends inside the non-recipients tree")
    line = lines[index]
    if line.startswith("XX"):
        return index + 1
    if len(line) < 3 or line[0] not in "YN" or line[1] not in "YN":
        raise ParseError(f"bad non-recipients tree line {line[:40]!r}")
    done.append(line[3:])
    index += 1
    if line[0] == "Y":
        index = _read_tree(lines, index, done)
    if line[1] == "Y":
        index = _read_tree(lines, index, done)
    return index


# the four fixed lines (id, owner, sender, arrival), then "-flag" lines up to -frozen
# (an atomic group, not a possessive one: Python 3.11.2 gets a possessive group wrong)
_FROZEN = re.compile(rb"(?:[^\n]*+\n){4}(?>(?:-(?!frozen)[^\n]*+\n)*)-frozen\b")


def header_frozen(data: bytes) -> bool:
    """Whether an ``-H`` file's flags include ``-frozen`` (the flags end at the first
    line after the fourth that does not start with '-')."""
    return _FROZEN.match(data) is not None


def parse_header_file(text: str, message_id: str = ""
                      ) -> Tuple[float, str, List[str], bool, int]:
    """(arrival, sender, pending recipients, frozen, header bytes) from an ``-H`` file."""
    # the envelope ends at the first blank line (no envelope line is empty); the
    # headers after it are only summed
    end = text.find("\n\n")
    lines = (text[:end + 1] if end >= 0 else text).split("\n")
    if len(lines) < 6 or not lines[0].endswith("-H"):
        raise ParseError(f"not an Exim spool header file: {text[:40]!r}")
    if message_id and lines[0][:-2] != message_id:
        raise ParseError(f"header file names {lines[0][:-2]!r}, not {message_id!r}")
    sender_line = lines[2]
    if not (sender_line.startswith("<") and sender_line.endswith(">")):
        raise ParseError(f"bad sender line {sender_line[:60]!r}")
    sender = sender_line[1:-1]
    try:
        arrival: float = int(lines[3].split()[0])
    except (ValueError, IndexError):
        raise ParseError(f"bad arrival line {lines[3][:40]!r}") from None
    frozen = False
    index = 4
    size = len(lines)
    while index < size:
        option = lines[index]
        if option[:1] != "-":
            break
        kind = option[1:2]  # one comparison for most flags, not two startswith() calls
        if kind == "f" and option.startswith("-frozen"):
            frozen = True
        elif kind == "r" and option.startswith("-received_time_usec "):
            try:
                arrival += float(option.split()[1])
            except (ValueError, IndexError):
                pass
        index += 1
    done: List[str] = []
    if lines[index:index + 1] and lines[index].startswith("XX"):
        index += 1  # no recipient done yet: the tree is empty (most messages)
    else:
        index = _read_tree(lines, index, done)
    try:
        count = int(lines[index])
    except (ValueError, IndexError):
        raise ParseError("bad recipient count line") from None
    recipients = []
    done_set = set(done)
    for line in lines[index + 1:index + 1 + count]:
        if line and line[-1].isdigit() and "#" in line[-3:]:
            line = line.split(" ", 1)[0]  # "addr orcpt len,flags errors_to len,pno#3"
        if line not in done_set:
            recipients.append(line)
    if index + 1 + count > len(lines):
        raise ParseError("header file ends inside the recipient list")
    # the headers follow the blank line after the recipients: "NNNf text" (NNN its length);
    # from the blank line's own newline, so that the first header line is found too
    header_bytes = sum(map(int, _HEADER_LENGTH.findall(text, end + 1))) if end >= 0 else 0
    return arrival, sender, recipients, frozen, header_bytes


# the common -H file, from its bytes: non-empty lines (so that the first blank line, where
# the envelope ends, is the one after the recipients), an ASCII arrival time, flag lines
# (-received_time_usec, which Exim writes first, captured), an empty non-recipients tree
# (XX) and the recipient count
_FAST_H = re.compile(rb"[^\n]+\n<([^\n]*)>\n(\d+)(?: [^\n]*)?\n"
                     rb"(?:-received_time_usec (\.?\d+)\n)?((?:-[^\n]*\n)*)XX\n(\d+)\n")
_HEADER_LENGTH_B = re.compile(rb"\n(\d{3})[A-Za-z* ] ")


def header_fast(data: bytes, message_id: bytes
                ) -> Optional[Tuple[float, str, List[str], bool, int]]:
    """parse_header_file's answer for an -H file of the common shape, else None (the
    caller then runs parse_header_file: every odd case, and every error, is its).
    About 2 us a file against 3 (no decoding of the whole file, no list of its lines)."""
    start = len(message_id) + 3
    if data[:start] != message_id + b"-H\n":
        return None
    match = _FAST_H.match(data, start)
    if match is None:
        return None
    sender, arrival_b, usec, flags, count_b = match.groups()
    if b"-received_time_usec " in flags:
        return None  # another one, or one that is not a plain number
    pos = match.end()
    end = data.find(b"\n\n", pos - 1)
    if end < 0:
        return None
    names = data[pos:end].split(b"\n") if end >= pos else []
    if len(names) != int(count_b):
        return None  # more or fewer lines than counted: parse_header_file decides
    recipients = []
    for name in names:
        line = name.decode("utf-8", "surrogateescape")
        if line[-1].isdigit() and "#" in line[-3:]:
            line = line.split(" ", 1)[0]  # "addr orcpt len,flags errors_to len,pno#3"
        recipients.append(line)
    headers = data[end:]
    if headers.isascii():
        header_bytes = sum(map(int, _HEADER_LENGTH_B.findall(headers)))
    else:  # \d of the text pattern matches other scripts' digits too
        header_bytes = sum(map(int, _HEADER_LENGTH.findall(
            headers.decode("utf-8", "surrogateescape"))))
    return (int(arrival_b) + float(usec) if usec else int(arrival_b),
            sender.decode("utf-8", "surrogateescape"), recipients,
            flags.startswith(b"-frozen") or b"\n-frozen" in flags, header_bytes)


_DEFER = re.compile(r"^\S+ \S+ (?:\S+ )?(\S+@?\S*) .*?\bdefer \(-?\d+\)(?::)?\s*(.*)$")


def parse_msglog(text: str) -> Dict[str, str]:
    """recipient -> last deferral reason from a per-message log."""
    reasons: Dict[str, str] = {}
    for line in text.split("\n"):
        if " defer (" in line:
            _defer_line(line, reasons)
    return reasons


def _defer_line(line: str, reasons: Dict[str, str]) -> None:
    parts = line.split(" ", 3)
    if len(parts) < 4:
        return
    _, _, rest = line.partition(" defer (")
    _, _, reason = rest.partition(")")
    reason = reason.lstrip(":").strip()
    reasons[parts[2]] = reason or "deferred"


def msglog_reasons(log: bytes) -> Dict[str, str]:
    """parse_msglog(log decoded as UTF-8 with replacement), decoding only the lines
    that say " defer (" (most of a msglog does not); a line that is not ASCII takes
    the general path (a replaced byte near a line's end must be decoded as there)."""
    reasons: Dict[str, str] = {}
    at = log.find(b" defer (")
    while at >= 0:
        start = log.rfind(b"\n", 0, at) + 1
        end = log.find(b"\n", at)
        if end < 0:
            end = len(log)
        line = log[start:end]
        if not line.isascii():
            return parse_msglog(log.decode("utf-8", "replace"))
        _defer_line(line.decode("ascii"), reasons)
        at = log.find(b" defer (", end)
    return reasons


class EximSpool:
    """Reads input/ and msglog/ of the spool directory (needs Exim's group or root)."""

    mta = NAME
    method = "spool"
    reasons_apart = True  # deferral reasons cost a file of their own per message

    def __init__(self, root: str, settings: Settings) -> None:
        from .spooltree import confine

        self.root = root
        self.tree = confine(root)
        self.settings = settings
        self.input = os.path.join(root, "input")
        self.notes: List[str] = []
        self._named: Optional[List[str]] = None
        self.doing = f"scanning the Exim spool {root}"
        if not os.path.isdir(self.input):
            if os.access(root, os.X_OK) or not os.path.isdir(root):
                raise Unavailable(f"{self.input} is not an Exim spool input directory",
                                  "give the spool directory with --spool-dir")
        if not os.access(self.input, os.R_OK | os.X_OK):
            from .postfix import _user

            raise Unavailable(f"{self.input} not readable by {_user()}",
                              f"{SUDO_FIX}; or {LIST_FIX}")

    part = (0, 1)  # (k, n): this view reads the k-th of n shares of the spool

    def partitions(self, count: int) -> List[EximSpool]:
        """*count* views that together read every message once (shared out by the
        last character of the message id)."""
        import copy

        views = []
        for k in range(count):
            view = copy.copy(self)
            view.part = (k, count)
            views.append(view)
        return views

    def _queue_dirs(self) -> List[Tuple[str, str, str]]:
        """(named queue or '' for the default, its input dir, its msglog dir)."""
        dirs = [("", self.input, f"{self.root}/msglog")]
        if self._named is None:
            try:
                self._named = named_queues(self.root)
            except Unavailable as exc:  # input/ readable, the spool directory not listable
                self._named = []
                self.notes.append(f"named queues not looked for: {exc.reason}")
        for name in self._named:
            dirs.append((name, f"{self.root}/{name}/input", f"{self.root}/{name}/msglog"))
        return dirs

    def _headers(self, input_dir: str) -> Iterator[Tuple[str, str]]:
        """(subdirectory, message id) of every -H file (this view's share of them)."""
        k, n = self.part
        if n > 1:
            for sub, message_id in self._all_headers(input_dir):
                if ord(message_id[-1]) % n == k:
                    yield sub, message_id
            return
        yield from self._all_headers(input_dir)

    def _all_headers(self, input_dir: str) -> Iterator[Tuple[str, str]]:
        stack = [""]
        while stack:
            sub = stack.pop()
            try:
                it = self.tree.scandir(os.path.join(input_dir, sub) if sub else input_dir)
            except FileNotFoundError:
                continue
            except PermissionError:
                raise Unavailable(f"cannot read {os.path.join(input_dir, sub)}",
                                  f"{SUDO_FIX}; or {LIST_FIX}") from None
            with it:
                for entry in it:
                    name = entry.name
                    if name.endswith("-H"):
                        yield sub, name[:-2]
                    elif not sub and len(name) == 1 and entry.is_dir(follow_symlinks=False):
                        stack.append(name)

    def queue_names(self) -> List[str]:
        return [queue_label(named, frozen) for named, _, _ in self._queue_dirs()
                for frozen in (False, True)]

    def size_hint(self) -> int:
        """Messages in all queues, from directory entries only."""
        return sum(1 for _, input_dir, _ in self._queue_dirs()
                   for _ in self._all_headers(input_dir))

    def counts(self) -> Iterator[QueueCount]:
        """Per queue, frozen apart: each -H file is read for its flags (one small read a
        message, ~2 us; the message's body and log are not), so that the deferred count
        means the same as in a full run."""
        from .spooltree import Directory

        for named, input_dir, _msglog in self._queue_dirs():
            queued = frozen = 0
            current: Optional[str] = None
            inputs = None
            try:
                for sub, message_id in self._headers(input_dir):
                    if sub != current or inputs is None:
                        if inputs is not None:
                            inputs.close()
                        current = sub
                        inputs = Directory(self.tree, f"{input_dir}/{sub}" if sub
                                           else input_dir)
                    try:
                        data = _read_in(inputs, message_id + "-H")
                    except PermissionError:
                        from .postfix import _user

                        raise Unavailable(f"{inputs.path}/{message_id}-H not readable by "
                                          f"{_user()}", f"{SUDO_FIX}; or {LIST_FIX}") from None
                    if data is None:
                        continue  # delivered since the directory was read
                    if header_frozen(data):
                        frozen += 1
                    else:
                        queued += 1
            finally:
                if inputs is not None:
                    inputs.close()
            yield QueueCount(queue_label(named, False), queued)
            yield QueueCount(queue_label(named, True), frozen)

    def messages(self) -> Iterator[Message]:
        for named, input_dir, msglog in self._queue_dirs():
            yield from self._messages(named, input_dir, msglog)

    def _messages(self, named: str, top: str, msglog: str) -> Iterator[Message]:
        """The messages of one queue. The loop is written out (no helper call per file,
        the common -H shape parsed from bytes by header_fast): a per-message function
        layer is ~0.3 us, and a run reads 100,000 of them. Anything out of the ordinary
        (a file not regular, gone or large, an -H file of another shape) takes the
        general calls, so answers, refusals and errors are theirs."""
        from .spooltree import O_FILE, Directory

        want_reasons = self.settings.reasons
        tree = self.tree
        labels = (queue_label(named, False), queue_label(named, True))
        make = tuple.__new__  # Message(...) is a Python-level __new__ per message
        os_open, os_read, os_close, os_fstat, os_stat = (os.open, os.read, os.close,
                                                         os.fstat, os.stat)
        current: Optional[str] = None
        inputs = logs = None
        in_fd = log_fd = None
        k, n = self.part
        try:
            for sub, message_id in self._all_headers(top):
                if n > 1 and ord(message_id[-1]) % n != k:
                    continue  # another view's share (as _headers)
                if sub != current or inputs is None:
                    # the files of one directory come together: one descriptor for each
                    # of its input and msglog directories while they are read
                    if inputs is not None:
                        inputs.close()
                    if logs is not None:
                        logs.close()
                        logs = None
                    current = sub
                    inputs = Directory(tree, f"{top}/{sub}" if sub else top)
                    in_fd = inputs.fd
                    log_fd = None
                    if want_reasons:
                        logs = Directory(tree, f"{msglog}/{sub}" if sub else msglog)
                        log_fd = logs.fd
                name = message_id + "-H"
                data: Optional[bytes] = None
                if in_fd is not None:  # Directory.open and _read_fd, written out
                    try:
                        fd = os_open(name, O_FILE, dir_fd=in_fd)
                    except OSError:
                        pass
                    else:
                        try:
                            if os_fstat(fd).st_mode & 0o170000 == 0o100000:  # S_ISREG
                                data = os_read(fd, 65536)
                                if len(data) == 65536:
                                    data = None  # a large one: the general read
                        except OSError:
                            data = None  # the general read meets it again, and says it
                        finally:
                            os_close(fd)
                if data is None:
                    try:
                        data = _read_in(inputs, name)
                    except PermissionError:
                        from .postfix import _user

                        raise Unavailable(f"{inputs.path}/{name} not readable by "
                                          f"{_user()}", f"{SUDO_FIX}; or {LIST_FIX}") from None
                    if data is None:
                        continue  # delivered since the directory was read
                try:
                    parsed = header_fast(data, message_id.encode("utf-8", "surrogateescape"))
                except UnicodeEncodeError:  # not a name read from a directory
                    parsed = None
                if parsed is None:
                    try:
                        parsed = parse_header_file(data.decode("utf-8", "surrogateescape"),
                                                   message_id)
                    except ParseError as exc:
                        raise ParseError(f"{inputs.path}/{name}: {exc}") from None
                arrival, sender, rcpts, frozen, header_bytes = parsed
                size: Optional[int] = None
                d_name = message_id + "-D"
                try:
                    if in_fd is None:
                        raise OSError
                    size = (header_bytes + os_stat(d_name, dir_fd=in_fd,
                                                   follow_symlinks=False).st_size
                            - (len(message_id) + 3) + 1)
                except OSError:
                    try:
                        size = (header_bytes + inputs.lstat(d_name).st_size
                                - (len(message_id) + 3) + 1)
                    except FileNotFoundError:
                        pass
                reasons: Tuple[str, ...] = ()
                if logs is not None and not frozen:
                    log: Optional[bytes] = None
                    done = False
                    if log_fd is not None:
                        try:
                            fd = os_open(message_id, O_FILE, dir_fd=log_fd)
                        except OSError:
                            pass
                        else:
                            try:
                                if os_fstat(fd).st_mode & 0o170000 == 0o100000:
                                    log = os_read(fd, 65536)
                                    done = len(log) < 65536  # else the general tail read
                            except OSError:
                                done = False
                            finally:
                                os_close(fd)
                    if not done:
                        try:
                            log = _read_in(logs, message_id, tail=True)
                        except PermissionError:
                            log = None  # reasons are detail: the counts stand without them
                    if log:
                        by_rcpt = msglog_reasons(log)
                        if by_rcpt:
                            reasons = tuple(by_rcpt[r] for r in rcpts if r in by_rcpt)
                yield make(Message, (labels[frozen], message_id, arrival, size, sender,
                                     tuple(rcpts), reasons, frozen, None))
        finally:
            if inputs is not None:
                inputs.close()
            if logs is not None:
                logs.close()


def _read(path: str, tail: bool = False) -> Optional[bytes]:
    """A spool file (up to 1 MiB; with *tail*, its last 64 KiB when longer: a msglog
    grows by every retry and the latest lines say why), None when gone."""
    from .spooltree import tree_of

    fd = tree_of(path).open(path)  # PermissionError: the callers say what it means
    return None if fd is None else _read_fd(fd, tail)


def _read_in(directory: Directory, name: str, tail: bool = False) -> Optional[bytes]:
    """_read of *name* in an open spool directory."""
    fd = directory.open(name)  # PermissionError: the callers say what it means
    return None if fd is None else _read_fd(fd, tail)


def _read_fd(fd: int, tail: bool) -> bytes:
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:
            if tail:
                end = os.fstat(fd).st_size
                data = os.pread(fd, 65536, max(end - 65536, 0))
                return data[data.find(b"\n") + 1:]  # from a whole line on
            data += os.read(fd, 1 << 20)
        return data
    finally:
        os.close(fd)


# --- exim -bp ---------------------------------------------------------------------------

# queue.c: "%2dm " (or h, d), the size in 5 columns (blank when the -D file cannot be
# stat'ed: a message being written), the id, " <sender>", " (login)" when an untrusted
# caller set the sender (-f '<>' from vacation, cron, web applications), then
# " *** frozen ***"
_BP_HEAD = re.compile(r"^\s*(\d+)([smhdw])\s+(?:(\d+(?:\.\d+)?[KMG]?)\s+)?([0-9A-Za-z-]{12,})"
                      r"\s+<(.*?)>(?: \(([^()]*)\))?(\s+\*\*\* frozen \*\*\*)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def parse_size(text: str) -> int:
    """exim -bp's size: 512, 2.9K, 1.2M (a plain '1.5' too: the regex allows it)."""
    try:
        if text and text[-1] in _SIZES:
            return int(float(text[:-1]) * _SIZES[text[-1]])
        return int(float(text))
    except (ValueError, OverflowError):  # '', 'x', 'nan', '1e999'
        raise ParseError(f"not an exim -bp size: {text[:20]!r}") from None


def parse_bp(lines: Iterator[str], now: float, named: str = "",
             skipped: Optional[Skipped] = None) -> Iterator[Message]:
    """Messages from ``exim -bp`` lines (a blank line ends each message).

    Indented lines are the recipients; an indented line Exim adds about a message
    (``*** spool read error ***``) is skipped and counted in *skipped*. A line where a
    message's first line belongs that is not one is an error: a message could be
    missing from the count."""
    skipped = skipped if skipped is not None else Skipped("exim -bp")
    head: Optional[Tuple[str, float, Optional[int], str, bool]] = None
    recipients: List[str] = []
    number = 0
    for raw in lines:
        number += 1
        line = raw.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield _bp_message(head, recipients, named)
                head, recipients = None, []
            continue
        indented = line[:1] in " \t" and head is not None and not _BP_HEAD.match(line)
        if not indented:
            match = _BP_HEAD.match(line)
            if not match:
                if head is not None:  # a note between a message's lines
                    skipped.skip(line, number, "not a recipient line")
                    continue
                raise skipped.fail(line, number, "not an exim -bp message line (a message "
                                   "could be missing from the count)")
            if head is not None:  # no blank line between two messages
                yield _bp_message(head, recipients, named)
                recipients = []
            skipped.understood += 1
            age, unit, size, message_id, sender, _login, frozen = match.groups()
            arrival: float = now - int(age) * _UNITS[unit]
            exact = id_time(message_id)
            # the id's time is exact to the second; trust it when it agrees with the age
            if exact is not None and abs(exact - arrival) <= _UNITS[unit] + 120:
                arrival = exact
            head = (message_id, arrival, parse_size(size) if size else None, sender,
                    bool(frozen))
            continue
        text = line.strip()
        if text.startswith("***"):
            skipped.skip(line, number, "a note about the message, not a recipient")
            continue
        skipped.understood += 1
        if text.startswith(("D ", "+D ")):
            continue  # delivered already
        if text.startswith("+ "):
            text = text[2:]
        recipients.append(text)
    if head is not None:
        yield _bp_message(head, recipients, named)
    skipped.finish()


def _bp_message(head: Tuple[str, float, Optional[int], str, bool], recipients: List[str],
                named: str = "") -> Message:
    message_id, arrival, size, sender, frozen = head
    return Message(queue_label(named, frozen), message_id, arrival, size, sender,
                   tuple(recipients), (), frozen)


class EximBp:
    """``exim -bp``, streamed."""

    mta = NAME
    method = "command"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.argv = [*_base_argv(settings), "-bp"]
        self.skipped = Skipped("exim -bp")
        self.notes: List[str] = []
        self._named: Optional[List[str]] = None
        self.doing = f"reading the output of '{' '.join(self.argv)}'"
        if settings.config_file and os.geteuid() != 0:
            # Exim drops root for -C unless called by root or the Exim user; it then
            # lists an unreadable spool as empty: refuse rather than report a wrong OK
            spool = settings.spool_dir or spool_directory(settings)
            if not os.access(os.path.join(spool, "input"), os.R_OK | os.X_OK):
                from .postfix import _user

                raise Unavailable(f"exim -C drops root for {_user()} (its listing would be "
                                  f"empty)", f"drop --mta-config; or {SUDO_FIX}")

    def _lines(self, argv: Optional[List[str]] = None) -> Iterator[str]:
        from ..proc import exit_text, stream_lines

        argv = argv or self.argv
        result: Dict[str, object] = {}
        for line in stream_lines(argv, timeout=self.settings.timeout, result=result):
            yield line.decode("utf-8", "replace")
        code = result.get("returncode")
        if code:
            raw = result.get("stderr")
            stderr = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else ""
            last = stderr.splitlines()[-1].strip() if stderr else "no message"
            last = last[6:] if last.startswith("exim: ") else last  # its name says nothing new
            text = f"'{os.path.basename(argv[0])} {argv[-1]}' failed ({exit_text(code)}): {last}"
            if "permission denied" in stderr.lower() or "not permitted" in stderr.lower():
                raise Unavailable(text, f"{LIST_FIX}; or {SUDO_FIX}")
            # a failed listing is not output to parse: nothing was listed
            raise Unavailable(text, "run it by hand to see why")

    def named(self) -> List[str]:
        """The named queues, from a listing of the spool directory (exim -bp does not
        show them); none, with a note for the long output, when it cannot be listed."""
        if self._named is None:
            try:
                root = self.settings.spool_dir or spool_directory(self.settings)
                self._named = named_queues(root)
            except (Unavailable, ParseError) as exc:
                self._named = []
                reason = exc.reason if isinstance(exc, Unavailable) else str(exc)
                self.notes.append(f"named queues not looked for: {reason}")
        return self._named

    def queue_names(self) -> List[str]:
        return [queue_label(named, frozen) for named in ("", *self.named())
                for frozen in (False, True)]

    def counts(self) -> Iterator[QueueCount]:
        """Per queue, frozen apart, from ``exim -bp`` (``-bpc`` cannot tell frozen
        messages apart, and the deferred count must mean the same as in a full run)."""
        figures: Dict[str, int] = {queue_label(name, frozen): 0
                                   for name in ("", *self.named()) for frozen in (False, True)}
        for message in self.messages():
            figures[message.queue] = figures.get(message.queue, 0) + 1
        for queue, count in figures.items():
            yield QueueCount(queue, count)

    def messages(self) -> Iterator[Message]:
        yield from parse_bp(self._lines(), self.settings.now, "", self.skipped)
        for name in self.named():
            yield from parse_bp(self._lines([*self.argv, f"-qG{name}"]), self.settings.now,
                                name, self.skipped)
