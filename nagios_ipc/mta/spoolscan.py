"""Small pieces the spool-scanning and listing MTA modules share.

Reading a spool: a directory that cannot be listed is ``Unavailable`` (with the
fix), a file that vanished between listing and reading is skipped (the MTA
delivered it meanwhile), anything else odd is a ``ParseError`` naming the file.
"""

from __future__ import annotations

import copy
import os
import stat
import zlib

from ..proc import CommandError, exit_text, find_executable, stream_lines
from .model import Settings, Unavailable
from .spooltree import OddFile, Tree, confine, odd, tree_of  # noqa: F401 - shared names

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

    T = TypeVar("T")

SUDO_FIX = "run it as root via contrib/sudoers.d/nagios_ipc"
MAX_QUEUE_FILE = 64 * 1024 * 1024  # bytes of a control/envelope file read at most (one at
                                   # a time: a qf of 100,000 recipients is about 4 MB)


def sudo_fix(mta: str, extra: str = "") -> str:
    """The sudo rule, then the MTA's own way (*extra*) as a second fix."""
    extra = extra[3:] if extra.startswith("or ") else extra
    if extra.startswith("("):  # a remark on the sudo rule, not another fix
        return f"{SUDO_FIX} {extra}"
    return f"{SUDO_FIX}; or {extra}" if extra else SUDO_FIX


def check_readable_dir(path: str, mta: str, extra_fix: str = "") -> None:
    """Raise Unavailable unless *path* is a directory this user can list."""
    if not os.path.isdir(path):
        raise Unavailable(f"{mta} queue directory {path} does not exist",
                          f"point --spool-dir at the {mta} queue directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise Unavailable(f"{mta} queue directory {path} is not readable by this user",
                          sudo_fix(mta, extra_fix))


class Entry:
    """A directory entry below a confined root, with its whole path."""

    __slots__ = ("_entry", "name", "path")

    def __init__(self, entry: os.DirEntry, directory: str) -> None:  # type: ignore[type-arg]
        self._entry = entry
        self.name = entry.name
        self.path = f"{directory}/{entry.name}"

    def is_dir(self, follow_symlinks: bool = False) -> bool:
        return self._entry.is_dir(follow_symlinks=False)

    def is_file(self, follow_symlinks: bool = False) -> bool:
        return self._entry.is_file(follow_symlinks=False)

    def is_symlink(self) -> bool:
        return self._entry.is_symlink()

    def inode(self) -> int:
        return self._entry.inode()

    def stat(self, follow_symlinks: bool = False) -> os.stat_result:
        return self._entry.stat(follow_symlinks=False)


def entries(path: str) -> Iterator[Entry]:
    """Directory entries of *path* (never through a symlink); a directory that
    vanished gives none."""
    path = os.path.normpath(path)
    try:
        iterator = tree_of(path).scandir(path)
    except FileNotFoundError:
        return
    except PermissionError:
        raise Unavailable(f"cannot list {path}: permission denied",
                          "run the check as the MTA's queue owner or root "
                          "(contrib/sudoers.d/nagios_ipc)") from None
    with iterator:
        for entry in iterator:
            yield Entry(entry, path)


def entry_stat(entry: Entry) -> Optional[os.stat_result]:
    """stat of a regular file entry (not following links); None when it vanished."""
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def path_stat(path: str) -> Optional[os.stat_result]:
    try:
        st = tree_of(path).lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def open_file(path: str) -> Optional[int]:
    """A descriptor of the queue file *path* (never through a symlink); None when it
    vanished; Unavailable without permission."""
    try:
        return tree_of(path).open(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise Unavailable(f"cannot read {path}: permission denied",
                          "run the check as the MTA's queue owner or root "
                          "(contrib/sudoers.d/nagios_ipc)") from None


def _read(path: str, read: Callable[[BinaryIO, int], T]) -> Optional[T]:
    """read(open file, its size) on *path*; None when it vanished."""
    fd = open_file(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        return read(handle, os.fstat(fd).st_size)


def read_small(path: str, limit: int = MAX_QUEUE_FILE) -> Optional[bytes]:
    """The first *limit* bytes of a queue control file; None when it vanished."""
    # the file's own size, not the limit: read(limit) allocates the whole limit
    return _read(path, lambda handle, size: handle.read(min(size + 1, limit)))


def read_head(path: str, limit: int = 65536) -> Optional[Tuple[bytes, int]]:
    """(head of the file up to *limit* bytes, file size); None when it vanished."""
    return _read(path, lambda handle, size: (handle.read(limit), size))


def binary(settings: Settings, names: Sequence[str], mta: str,
           extra_dirs: Sequence[str] = ()) -> str:
    """The listing binary: --mta-binary, else the first of *names* found in the
    fixed directories (never $PATH). Raises Unavailable naming what is missing."""
    if settings.binary:
        found = find_executable(settings.binary)
        if found is None:
            raise Unavailable(f"{settings.binary} is missing or not executable",
                              f"point --mta-binary at the {mta} listing command")
        return found
    search = (*extra_dirs, "/usr/sbin", "/usr/bin", "/sbin", "/bin",
              "/usr/local/sbin", "/usr/local/bin")
    for name in names:
        found = find_executable(name, search)
        if found is not None:
            return found
    raise Unavailable(f"{mta} listing command {names[0]} not found in {', '.join(search)}",
                      f"install {mta} or point --mta-binary at it")


def text_lines(argv: List[str], settings: Settings) -> Iterator[str]:
    """A command's output lines as text (undecodable bytes replaced), streaming.

    A non-zero exit raises CommandError with the last stderr line, after the
    lines it printed (a listing cut short by an error is never taken whole)."""
    result: Dict[str, object] = {}
    for raw in stream_lines(argv, timeout=settings.timeout, result=result):
        yield raw.decode("utf-8", "replace").rstrip("\r")
    code = result.get("returncode")
    if code != 0:
        err = result.get("stderr", b"")
        lines = err.decode("utf-8", "replace").strip().splitlines() if isinstance(
            err, bytes) else []
        last = lines[-1].strip() if lines else "no message"
        raise CommandError(f"'{' '.join(argv)}' failed ({exit_text(code)}): {last}")


def clip(text: str, size: int = 80) -> str:
    """A bounded, printable excerpt of bad input for an error message."""
    text = text.strip()
    return repr(text[:size] + ("..." if len(text) > size else ""))


def strip_angle(address: str) -> str:
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        return address[1:-1].strip()
    return address


class Partitioned:
    """Spool sources that can be read in shares by parallel workers (check --workers):
    every view lists the directories, but reads only the messages whose key falls in
    its share, so together the views read each message once."""

    part: Tuple[int, int] = (0, 1)

    def partitions(self, count: int) -> List[Partitioned]:
        views = []
        for index in range(count):
            view = copy.copy(self)
            view.part = (index, count)
            views.append(view)
        return views

    def mine(self, key: str) -> bool:
        index, count = self.part
        return count == 1 or zlib.crc32(key.encode("utf-8", "replace")) % count == index
