"""Postfix: the queue directory scanned directly, or ``postqueue -j``.

Spool: the queues are directories under ``queue_directory`` (maildrop,
incoming, active, deferred, hold, corrupt; deferred and hold may be hashed into
one-character subdirectories). Counting reads directory entries only. Reading
a message opens its queue file and walks the envelope records (type byte,
7-bit length, data) up to the end marker, jumping over the message content;
deferral reasons come from the per-message log ``defer/<hash>/<ID>``.
A deferred file's mtime is its next retry time: the age comes from the
arrival-time record.

Command: ``postqueue -j`` prints one JSON object per message (Postfix >= 3.1);
it works for any user listed in ``authorized_mailq_users`` while Postfix runs.
"""

from __future__ import annotations

import os
import re
import stat

from .model import Message, NotRunning, ParseError, QueueCount, Settings, Unavailable

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterator, List, Optional, Tuple

    from .spooltree import Directory, Tree

NAME = "postfix"
METHODS = ("spool", "command")
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
# where files being written live: postdrop writes a maildrop file 0644 and cleanup an
# incoming file 0600, and each sets the owner's x bit when the file is complete; showq
# (mail_open_ok.c) lists nothing else, and a file a killed postdrop left stays unfinished
# for good. Deferred, active and hold only ever receive finished files (a stat per file
# there would cost the count-only run on a huge queue its speed).
UNFINISHED_QUEUES = ("maildrop", "incoming")
DEFERRED_QUEUES = ("deferred",)
DEFAULT_CONFIG_DIR = "/etc/postfix"
DEFAULT_QUEUE_DIR = "/var/spool/postfix"
READ_CHUNK = 16384  # one read holds the whole envelope of nearly every message

SUDO_FIX = "run it as root via contrib/sudoers.d/nagios_ipc"
# postqueue (mail_conf.c) run by a user other than root with -c DIR that the default
# main.cf does not list
ALTERNATE_REFUSED = re.compile(r'specify "alternate_config_directories = (.+?)" or '
                               r'"multi_instance_directories = .+?" in (\S+)')
MAILQ_FIX = "add this user to authorized_mailq_users in main.cf"


def _config_dir(settings: Settings) -> str:
    return settings.config_dir or DEFAULT_CONFIG_DIR


def installed(settings: Settings) -> bool:
    from ..proc import find_executable

    if settings.spool_dir and os.path.isdir(os.path.join(settings.spool_dir, "deferred")):
        return True
    return (find_executable("postconf") is not None
            and os.path.isfile(os.path.join(_config_dir(settings), "main.cf")))


def _literal_queue_directory(config_dir: str) -> Optional[str]:
    """queue_directory when main.cf sets it to a plain path (no $expansion), else None.

    Spares the ~30 ms of running postconf, most of a count-only run's cost. A main.cf
    that does not set it at all means Postfix's built-in default, /var/spool/postfix
    in every mainstream build: taken when that directory holds a Postfix queue (a
    build with another default and no queue there still asks postconf)."""
    import stat

    try:  # never through a symlink, never a FIFO (a --config-dir may be the caller's)
        fd = os.open(os.path.join(config_dir, "main.cf"),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    value = None
    lines = text.split(b"\n")
    mentioned = False
    for index, line in enumerate(lines):
        if line.startswith(b"queue_directory") and line[15:].lstrip()[:1] == b"=":
            mentioned = True
            continuation = index + 1 < len(lines) and lines[index + 1][:1] in (b" ", b"\t")
            raw = line.split(b"=", 1)[1].strip()
            value = None if continuation else raw  # the last setting wins, as in Postfix
    if value and value.startswith(b"/") and b"$" not in value and b" " not in value:
        return value.decode("utf-8", "surrogateescape")
    if not mentioned and b"queue_directory" not in text and all(
            os.path.isdir(os.path.join(DEFAULT_QUEUE_DIR, queue))
            for queue in ("deferred", "active", "maildrop")):
        return DEFAULT_QUEUE_DIR
    return None


def queue_directory(settings: Settings) -> str:
    """--spool-dir, else main.cf's plain queue_directory, else what ``postconf -h
    queue_directory`` says, else the default."""
    if settings.spool_dir:
        return settings.spool_dir
    literal = _literal_queue_directory(_config_dir(settings))
    if literal:
        return literal
    from ..proc import CommandError, find_executable, run_command

    postconf = find_executable("postconf")
    if postconf is None:
        return DEFAULT_QUEUE_DIR
    argv = [postconf]
    if settings.config_dir:
        argv += ["-c", settings.config_dir]
    argv += ["-h", "queue_directory"]
    try:
        done = run_command(argv, timeout=min(settings.timeout, 5.0))
    except CommandError as exc:
        raise Unavailable(f"cannot find the queue directory: {exc}",
                          "give it with --spool-dir") from None
    value = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not value.startswith("/"):
        raise Unavailable(f"'{' '.join(argv)}' failed: {done.stderr_line or 'no output'}",
                          "give the queue directory with --spool-dir, or the instance "
                          "with --config-dir")
    return value


def open_source(settings: Settings, method: str) -> PostfixSpool | PostqueueJson:
    if method == "spool":
        return PostfixSpool(queue_directory(settings), settings)
    if method == "command":
        return PostqueueJson(settings)
    raise Unavailable(f"postfix has no method '{method}'", "use --method spool or command")


# --- queue files -----------------------------------------------------------------------


def parse_queue_file(data: bytes, read_at: Optional[Callable[[int], bytes]] = None
                     ) -> Tuple[Optional[float], Optional[int], Optional[str], List[str], bool]:
    """(arrival, size, sender, pending recipients, complete) from a queue file's bytes.

    Walks the records: 'C' size ("content_size data_offset rcpt_count ..."),
    'T' arrival ("seconds [microseconds]"), 'S' sender ('' = null sender),
    'R' recipient (done recipients are rewritten in place to 'D'), 'M' starts
    the content (skipped by jumping to data_offset + content_size, where the
    extracted records are), 'p' pointer (jump to its offset), 'E' the end.
    *read_at(offset)* returns the file's bytes from offset when the records go
    beyond *data* (big messages); without it, the walk stops at the end of data.
    ``complete`` is False when the end record was not reached (a file being
    written, or cut short).
    """
    arrival: Optional[float] = None
    size: Optional[int] = None
    data_offset = -1
    sender: Optional[str] = None
    recipients: List[str] = []
    base = 0          # file offset of data[0]
    pos = 0
    end = len(data)
    jumps = 0
    while True:
        start = pos
        stop = -1
        if pos + 2 <= end:
            rtype = data[pos]
            length = data[pos + 1]
            pos += 2
            if length & 0x80:  # 7 bits a byte, least significant first
                length &= 0x7F
                shift = 7
                while pos < end:
                    byte = data[pos]
                    pos += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        stop = pos + length
                        break
                    shift += 7
                    if shift > 35:
                        raise ParseError(f"record length out of range at offset {base + start}")
            else:
                stop = pos + length
        if stop < 0 or stop > end:  # the record goes on beyond what was read
            more = read_at(base + start) if read_at is not None else b""
            if len(more) <= end - start:
                return arrival, size, sender, recipients, False
            base += start
            data, pos, end = more, 0, len(more)
            continue
        if rtype == 65 or rtype == 79:  # 'A' attribute, 'O' original recipient: not needed
            pos = stop
            continue
        if rtype == 82:      # 'R' recipient
            recipients.append(data[pos:stop].decode("utf-8", "surrogateescape"))
        elif rtype == 83:    # 'S' sender
            sender = data[pos:stop].decode("utf-8", "surrogateescape")
        elif rtype == 84:    # 'T' arrival time
            fields = data[pos:stop].split()
            try:
                arrival = int(fields[0])
                if len(fields) > 1:
                    arrival += int(fields[1]) / 1e6
            except (ValueError, IndexError):
                raise ParseError(f"bad arrival time record "
                                 f"{_excerpt(data[pos:stop], 40)}") from None
        elif rtype == 67:    # 'C' sizes
            fields = data[pos:stop].split()
            try:
                size = int(fields[0])
                data_offset = int(fields[1])
            except (ValueError, IndexError):
                raise ParseError(f"bad size record {_excerpt(data[pos:stop], 40)}") from None
        elif rtype == 77 or rtype == 112:  # 'M' content follows / 'p' pointer: jump
            if rtype == 77:
                if data_offset <= 0 or size is None:
                    # a maildrop file (postdrop) has no size record to jump by: its
                    # envelope (sender, recipients) is all before the content, and walking
                    # the content record by record costs time the submitter chooses (a few
                    # 9 MB local submissions timed the check out while pickup was stopped)
                    return arrival, size, sender, recipients, False
                target = data_offset + size
            else:
                try:
                    target = int(data[pos:stop] or b"0")
                except ValueError:
                    raise ParseError(f"bad pointer record {_excerpt(data[pos:stop], 40)}") from None
            if target > 0:
                jumps += 1
                if jumps > 10000:
                    raise ParseError("pointer records loop")
                if base <= target <= base + end:
                    pos = target - base
                    continue
                more = read_at(target) if read_at is not None else b""
                if not more:
                    return arrival, size, sender, recipients, False
                base, data, pos, end = target, more, 0, len(more)
                continue
        elif rtype == 69:    # 'E' end of file
            return arrival, size, sender, recipients, True
        elif rtype < 32 or rtype > 127:
            raise ParseError(f"record type {rtype} at offset {base + start} is not a Postfix "
                             f"record")
        pos = stop


def parse_defer_log(data: bytes) -> Dict[str, str]:
    """recipient -> reason from a defer log (attribute lines name=value, blank-separated)."""
    reasons: Dict[str, str] = {}
    recipient = None
    for line in data.split(b"\n"):
        if line.startswith(b"recipient="):
            recipient = line[10:].decode("utf-8", "surrogateescape")
        elif line.startswith(b"reason="):
            reasons[recipient or ""] = line[7:].decode("utf-8", "surrogateescape")
    return reasons


def defer_reasons(data: bytes) -> Tuple[str, ...]:
    """The reason= values of a defer log, in order (one per recipient)."""
    out = []
    start = data.find(b"\nreason=")
    while start >= 0:
        stop = data.find(b"\n", start + 8)
        out.append(data[start + 8:stop if stop >= 0 else len(data)].decode("utf-8",
                                                                           "surrogateescape"))
        start = data.find(b"\nreason=", start + 8)
    return tuple(out)


def _read_file(path: str) -> Optional[bytes]:
    """The first READ_CHUNK bytes, None when the file is gone (delivered meanwhile)."""
    from .spooltree import tree_of

    try:
        fd = tree_of(path).open(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise Unavailable(f"{path} not readable by {_user()}",
                          f"{SUDO_FIX}; or {MAILQ_FIX}") from None
    if fd is None:
        return None
    try:
        return os.read(fd, READ_CHUNK)
    finally:
        os.close(fd)


def _read_in(directory: Directory, name: str) -> Optional[bytes]:
    """_read_file of *name* in an open queue directory."""
    try:
        fd = directory.open(name)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise Unavailable(f"{directory.path}/{name} not readable by {_user()}",
                          f"{SUDO_FIX}; or {MAILQ_FIX}") from None
    if fd is None:
        return None
    try:
        return os.read(fd, READ_CHUNK)
    finally:
        os.close(fd)


def _finished(lstat: Callable[[str], os.stat_result], name: str) -> bool:
    """Postfix has finished writing the queue file *name* (owner bits rwx); *lstat*: a
    Directory's (a name in it) or a Tree's (a path)."""
    try:
        mode = lstat(name).st_mode
    except FileNotFoundError:
        return False  # gone since the directory was read
    return mode & stat.S_IRWXU == stat.S_IRWXU


class PostfixSpool:
    """Reads the queue directory; needs read access (root or postfix)."""

    mta = NAME
    method = "spool"
    reasons_apart = True  # deferral reasons cost a file of their own per message

    def __init__(self, root: str, settings: Settings) -> None:
        from .spooltree import confine

        self.root = root
        self.tree = confine(root)
        self.settings = settings
        self._defer_dirs: Optional[List[str]] = None
        self._defer_index: Optional[Dict[str, str]] = None
        self.part = (0, 1)  # (k, n): this view reads the k-th of n shares of the queue
        self.doing = f"scanning the Postfix queue {root}"
        for queue in ("deferred", "active", "incoming"):
            path = os.path.join(root, queue)
            if not os.path.isdir(path):
                if not os.access(root, os.X_OK):
                    break
                raise Unavailable(f"{path} is not a Postfix queue directory",
                                  "give the queue directory with --spool-dir, or the instance "
                                  "with --config-dir")
        for queue in QUEUES:
            path = os.path.join(root, queue)
            if os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
                user = _user()
                raise Unavailable(f"{path} not readable by {user} (0700 postfix)",
                                  f"{SUDO_FIX}; or {MAILQ_FIX}")
        if not os.access(os.path.join(root, "deferred"), os.R_OK | os.X_OK):
            raise Unavailable(f"{root}/deferred not readable by {_user()}",
                              f"{SUDO_FIX}; or {MAILQ_FIX}")

    @property
    def stopped(self) -> Optional[NotRunning]:
        """NotRunning when a master ran on this queue and is gone (its pid file is there
        and unlocked: Postfix's own 'postfix status' test), else None."""
        if master_stopped(self.root):
            start = ("postfix start" if not self.settings.config_dir
                     else f"postfix -c {self.settings.config_dir} start")
            return NotRunning("its master.pid is not locked", start)
        return None

    def partitions(self, count: int) -> List[PostfixSpool]:
        """*count* views that together read every message once (for parallel reading):
        hashed subdirectories are shared out by name, files outside them go to the first."""
        import copy

        views = []
        for k in range(count):
            view = copy.copy(self)
            view.part = (k, count)
            views.append(view)
        return views

    def _entries(self, queue: str) -> Iterator[Tuple[str, str, str]]:
        """(directory, subdirectory, queue id) of every file of *queue*, hashed dirs
        included (this view's share of them)."""
        stack = [""]
        top = os.path.join(self.root, queue)
        k, n = self.part
        while stack:
            sub = stack.pop()
            if n > 1 and (ord(sub[0]) % n if sub else 0) != k:
                if sub or not k:
                    continue
                # the top directory: share k > 0 takes only its hash subdirectories
                try:
                    names = self.tree.listdir(top)
                except OSError:  # OddFile included: the scan of share 0 reports it
                    continue
                stack.extend(name for name in names if len(name) == 1 and ord(name) % n == k)
                continue
            directory = f"{top}/{sub}" if sub else top
            try:
                it = self.tree.scandir(directory)
            except FileNotFoundError:
                continue
            except PermissionError:
                raise Unavailable(f"{os.path.join(top, sub)} not readable by {_user()}",
                                  f"{SUDO_FIX}; or {MAILQ_FIX}") from None
            with it:
                for entry in it:
                    name = entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if len(name) == 1:  # a hash subdirectory
                            stack.append(os.path.join(sub, name) if sub else name)
                    elif name[0] != ".":
                        yield directory, sub, name

    def _find_defer_log(self, defer_top: str, queue_id: str) -> Optional[bytes]:
        """The defer log of a message whose queue is not hashed like defer/ (hold/ is
        flat; hash_queue_names may hash defer/ and not deferred/, or the reverse):
        defer/<first character>/ID or defer/ID, else where a one-time index of defer/
        found it (any hashing: another depth, long queue IDs)."""
        if self._defer_index is not None:
            where = self._defer_index.get(queue_id)
            return _read_file(where) if where else None
        if self._defer_dirs is None:
            self._defer_dirs = self._defer_subdirs(defer_top)
        first = queue_id[0]
        for path in ((f"{defer_top}/{first}/{queue_id}",) if first in self._defer_dirs
                     else ()) + (f"{defer_top}/{queue_id}",):
            log = _read_file(path)
            if log is not None:
                return log
        self._defer_index = self._index_defer(defer_top)
        where = self._defer_index.get(queue_id)
        return _read_file(where) if where else None

    def _index_defer(self, top: str) -> Dict[str, str]:
        """queue ID -> path of every defer log below *top* (hash directories are one
        character long, at any depth)."""
        index: Dict[str, str] = {}
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                with self.tree.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            if len(entry.name) == 1:
                                stack.append(f"{directory}/{entry.name}")
                        elif entry.name[0] != ".":
                            index.setdefault(entry.name, f"{directory}/{entry.name}")
            except OSError:  # gone meanwhile, or not readable: those logs stay unfound
                continue
        return index

    def counts(self) -> Iterator[QueueCount]:
        """Names only (os.listdir, no per-entry objects): queue ids are never one
        character long, hash subdirectories always are. In maildrop and incoming a
        file counts once Postfix has finished writing it, as postqueue counts it."""
        for queue in QUEUES:
            count = 0
            ready = queue in UNFINISHED_QUEUES
            stack = [os.path.join(self.root, queue)]
            while stack:
                directory = stack.pop()
                try:
                    names = self.tree.listdir(directory)
                except FileNotFoundError:
                    continue
                except PermissionError:
                    raise Unavailable(f"{directory} not readable by {_user()}",
                                      f"{SUDO_FIX}; or {MAILQ_FIX}") from None
                if not names:
                    continue
                if min(map(len, names)) > 1 and not ready:  # a leaf: queue files only
                    count += len(names)                      # (C-speed test)
                    continue
                for name in names:
                    if len(name) == 1:
                        stack.append(f"{directory}/{name}")
                    elif name[0] != "." and (not ready or _finished(self.tree.lstat,
                                                                     f"{directory}/{name}")):
                        count += 1
            yield QueueCount(queue, count)

    def _defer_subdirs(self, defer_top: str) -> List[str]:
        try:
            with self.tree.scandir(defer_top) as it:
                return sorted(e.name for e in it
                              if e.is_dir(follow_symlinks=False) and len(e.name) == 1)
        except OSError:  # no defer/ yet (nothing deferred), or not a directory
            return []

    def _size(self, path: str) -> Optional[int]:
        try:
            return self.tree.lstat(path).st_size
        except FileNotFoundError:
            return None

    def _damaged(self, queue: str, path: str, queue_id: str,
                 exc: ParseError) -> Tuple[str, str, str]:
        """Message.damaged of a queue file that does not parse."""
        when = "if it is released and tried" if queue == "hold" else "when it next tries it"
        config = f" -c {self.settings.config_dir}" if self.settings.config_dir else ""
        return (os.path.relpath(path, self.root), str(exc),
                f"Postfix moves it to corrupt/ {when}; postsuper{config} -d {queue_id} "
                f"removes it")

    def messages(self) -> Iterator[Message]:
        from .spooltree import Directory

        want_reasons = self.settings.reasons
        envelopes = self.settings.envelopes
        root = self.root
        tree = self.tree
        parse = parse_queue_file
        current: Optional[str] = None
        files = logs = None
        try:
            for queue in QUEUES:
                defer_top = f"{root}/defer" if queue in ("deferred", "hold") else None
                if not envelopes and (defer_top is None or not want_reasons):
                    continue  # only deferred and held mail have defer logs
                strict = queue in ("active", "deferred", "hold")
                held = queue == "hold"
                ready = queue in UNFINISHED_QUEUES
                for directory, sub, queue_id in self._entries(queue):
                    if directory != current or files is None:
                        # the files of one directory come together: one descriptor for
                        # it (and for its defer log directory) while they are read
                        if files is not None:
                            files.close()
                        if logs is not None:
                            logs.close()
                            logs = None
                        current = directory
                        files = Directory(tree, directory)
                        if want_reasons and defer_top is not None and sub:
                            logs = Directory(tree, f"{defer_top}/{sub}")
                            if logs.fd is None:  # defer/ is not hashed like this queue
                                logs = None
                    if not envelopes:  # the defer log alone (the queue file was read before)
                        log = _read_in(logs, queue_id) if logs is not None else None
                        if log is None:
                            log = self._find_defer_log(defer_top or root, queue_id)
                        yield Message(queue, queue_id, reasons=defer_reasons(log) if log else (),
                                      held=held)
                        continue
                    path = f"{directory}/{queue_id}"
                    if queue == "corrupt":
                        # not parsed (Postfix could not): aged by its mtime, which the move
                        # keeps (a rename) and which is about when qmgr took the file up (a
                        # deferred file's retry time, a flush's now) and so moved it here
                        try:
                            info = files.lstat(queue_id)
                        except FileNotFoundError:
                            continue  # removed since the directory was read
                        now = self.settings.now
                        yield Message(queue, queue_id,
                                      min(info.st_mtime, now) if now else info.st_mtime,
                                      info.st_size)
                        continue
                    if ready and not _finished(files.lstat, queue_id):
                        continue  # still being written (or left half-written): not mail yet
                    data = _read_in(files, queue_id)
                    if data is None:
                        continue  # delivered or moved since the directory was read
                    try:
                        arrival, size, sender, rcpts, _complete = parse(
                            data, _reader(path, tree) if len(data) >= READ_CHUNK else None)
                    except ParseError as exc:
                        if strict:
                            # one damaged file (a bad record) is that message's problem, not
                            # the queue's: postqueue lists the rest, and qmgr moves the file
                            # to corrupt/ only when it next opens it (hours away, deferred)
                            yield Message(queue, queue_id, held=held,
                                          damaged=self._damaged(queue, path, queue_id, exc))
                            continue
                        arrival, size, sender, rcpts = None, None, None, []
                    if queue == "maildrop" and size is None:
                        size = self._size(path)
                    reasons: Tuple[str, ...] = ()
                    if want_reasons and defer_top is not None:
                        # defer/ is hashed like deferred/ (the default); hold/ is flat,
                        # and hash_queue_names may hash the two differently
                        log = _read_in(logs, queue_id) if logs is not None else None
                        if log is None:
                            log = self._find_defer_log(defer_top, queue_id)
                        if log:
                            reasons = defer_reasons(log)
                    yield Message(queue, queue_id, arrival, size, sender, tuple(rcpts), reasons,
                                  held)
        finally:
            if files is not None:
                files.close()
            if logs is not None:
                logs.close()


def master_stopped(root: str) -> bool:
    """True when ``<queue>/pid/master.pid`` exists and no master holds its lock.

    A running master holds an exclusive flock() on it for its whole life and leaves
    the file behind when it stops. The lock is taken and dropped at once (``postfix
    status`` does the same; a master starting in that instant would refuse to). No
    file, or no permission to open it (not root), claims nothing."""
    import fcntl

    try:
        fd = os.open(os.path.join(root, "pid", "master.pid"),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False  # locked: the master runs
    finally:
        os.close(fd)  # drops the lock if taken
    return True


def _reader(path: str, tree: Optional[Tree] = None):  # type: ignore[no-untyped-def]
    """pread(offset) on the queue file *path*, for records beyond the first read."""
    from .spooltree import tree_of

    tree = tree or tree_of(path)

    def read_at(offset: int) -> bytes:
        fd = tree.open(path)
        if fd is None:
            return b""
        try:
            return os.pread(fd, 1 << 20, offset)
        finally:
            os.close(fd)
    return read_at


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (KeyError, ImportError):
        return str(os.geteuid())


# --- postqueue -j ----------------------------------------------------------------------


def _excerpt(data: bytes, size: int = 80) -> str:
    """Bad input quoted as text (a byte string's b'' and escapes mean nothing to a reader)."""
    text = data[:size].decode("utf-8", "replace")
    return repr("".join(ch if ch.isprintable() else "?" for ch in text)
                + ("..." if len(data) > size else ""))


def parse_postqueue_line(line: bytes) -> Message:
    """One line of ``postqueue -j`` into a Message."""
    import json

    try:
        obj = json.loads(line)
        queue = obj["queue_name"]
        queue_id = obj["queue_id"]
    except (ValueError, KeyError, TypeError):
        raise ParseError(f"not a postqueue -j line: {_excerpt(line)}") from None
    if not isinstance(queue, str) or not isinstance(queue_id, str):
        raise ParseError(f"not a postqueue -j line: {_excerpt(line)}")
    sender = obj.get("sender")
    if sender == "MAILER-DAEMON":  # postqueue's spelling of the null sender
        sender = ""
    recipients = []
    reasons = []
    for rcpt in obj.get("recipients") or ():
        if isinstance(rcpt, dict):
            if isinstance(rcpt.get("address"), str):
                recipients.append(rcpt["address"])
            if isinstance(rcpt.get("delay_reason"), str):
                reasons.append(rcpt["delay_reason"])
    arrival = _plausible(obj.get("arrival_time"), 253402300799)  # up to year 9999
    size = _plausible(obj.get("message_size"), 2**63 - 1)
    return Message(queue, queue_id,
                   float(arrival) if arrival is not None else None,
                   int(size) if size is not None else None,
                   sender if isinstance(sender, str) else None,
                   tuple(recipients), tuple(reasons), queue == "hold")


def _plausible(value: object, most: float) -> Optional[float]:
    """A JSON number within 0..most, else None (unknown): json.loads reads 1e999 as inf
    and NaN as nan, which would break int() and every age computed from them."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if 0 <= value <= most else None


def queue_name_of(line: bytes) -> str:
    """The queue_name of a postqueue -j line without parsing all of it."""
    head = b'{"queue_name": "'
    if line.startswith(head):
        stop = line.find(b'"', len(head))
        if stop > 0:
            return line[len(head):stop].decode("ascii", "replace")
    return parse_postqueue_line(line).queue


class PostqueueJson:
    """``postqueue -j``, streamed line by line."""

    mta = NAME
    method = "command"
    # showq lists maildrop, incoming, active, deferred and hold only: how many files sit
    # in corrupt/ and since when is unknown here (left out, never 0)
    unlisted = ("corrupt",)
    notes = ("corrupt: not listed by postqueue (--method spool reads it)",)

    def __init__(self, settings: Settings) -> None:
        from ..proc import find_executable

        self.settings = settings
        binary = settings.binary or "postqueue"
        path = find_executable(binary)
        if path is None:
            raise Unavailable(f"{binary} not found (searched /usr/sbin, /usr/bin, /sbin, /bin, "
                              f"/usr/local/sbin, /usr/local/bin)",
                              "install Postfix's postqueue, or give its path with --mta-binary")
        self.argv = [path, "-j"]
        if settings.config_dir:
            self.argv[1:1] = ["-c", settings.config_dir]
        self.doing = f"reading the output of '{' '.join(self.argv)}'"
        self.stopped: Optional[NotRunning] = None
        self.start_command = ("postfix start" if not settings.config_dir
                              else f"postfix -c {settings.config_dir} start")

    def _lines(self) -> Iterator[bytes]:
        from ..proc import exit_text, stream_lines

        result: Dict[str, object] = {}
        for line in stream_lines(self.argv, timeout=self.settings.timeout, result=result):
            if line.strip():
                yield line
        code = result.get("returncode")
        raw = result.get("stderr")
        if not code and isinstance(raw, bytes) and b"ail system is down" in raw:
            # root's postqueue reads the queue files itself when showq does not answer
            self.stopped = NotRunning("postqueue read the queue files", self.start_command)
        if code:
            stderr = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            last = [x.strip() for x in stderr.strip().splitlines() if "fatal" in x] or \
                stderr.strip().splitlines()[-1:] or ["no message"]
            said = last[-1].split("fatal: ", 1)[-1]  # its name and 'fatal:' say nothing new
            text = f"'postqueue -j' failed ({exit_text(code)}): {said}"
            lowered = stderr.lower()
            if "mail system is down" in lowered:
                # showq is a Postfix daemon: for users other than root, nothing is listed
                raise NotRunning("postqueue: mail system is down", self.start_command)
            refused = ALTERNATE_REFUSED.search(stderr)
            if refused:
                # a non-root postqueue -c takes only the instances the default main.cf
                # lists: authorized_mailq_users cannot help here
                directory, main_cf = refused.groups()
                raise Unavailable(f"'postqueue -j' refused the instance {directory} to "
                                  f"{_user()}",
                                  f"add {directory} to {main_cf} "
                                  f"alternate_config_directories; or {SUDO_FIX}",
                                  overrules=(MAILQ_FIX,))
            if "not allowed" in lowered or "permission denied" in lowered or \
                    "not authorized" in lowered:
                raise Unavailable(text, f"{MAILQ_FIX}; or {SUDO_FIX}")
            # a failed listing is not output to parse: nothing was listed
            raise Unavailable(text, "run it by hand to see why")

    def counts(self) -> Iterator[QueueCount]:
        tally: Dict[str, int] = dict.fromkeys((q for q in QUEUES if q not in self.unlisted), 0)
        for line in self._lines():
            name = queue_name_of(line)
            tally[name] = tally.get(name, 0) + 1
        for queue, count in tally.items():
            yield QueueCount(queue, count)

    def messages(self) -> Iterator[Message]:
        for line in self._lines():
            yield parse_postqueue_line(line)
