"""Reading below a spool root without following a symlink at any level.

Kept apart from :mod:`spoolscan` so that the Postfix and Exim spool scans, the
cheapest paths, import nothing more than ``os`` and ``stat`` for it.
"""

from __future__ import annotations

import errno
import os
import stat

from ..filekind import kind as _kind
from .model import ParseError

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

    T = TypeVar("T")

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted in a queue opens at once instead of waiting for a writer
O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MAX_DIR_FDS = 64  # directory descriptors kept open per tree (ulimit -n is often 1024)
# what opening a symlink (O_NOFOLLOW: ELOOP), a non-directory (O_DIRECTORY: ENOTDIR), a
# socket or a device without a driver (ENXIO, ENODEV) answers: an odd file, said by name
ODD_ERRNOS = (errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.ENODEV)


class OddFile(ParseError):
    """A symlink, FIFO, device or socket where the spool holds only files and
    directories: never followed or read."""


def odd(path: str, what: str, mode: int) -> OddFile:
    return OddFile(f"{path} is {_kind(mode)} where the queue has {what}: not followed; "
                   f"remove it (the MTA never makes one)")


class Tree:
    """A spool directory read through descriptors: the root is opened once (it may
    itself be a symlink, as when an admin moved the spool), every directory below
    it with openat(O_NOFOLLOW|O_DIRECTORY) from its parent's descriptor, every file
    with openat(O_NOFOLLOW|O_NONBLOCK) and checked to be a regular file. So no
    symlink at any level below the root is followed, and a directory swapped for a
    symlink between listing and opening is refused, not read (the race that path
    strings cannot close). Paths stay strings for the callers: the tree maps them
    to (directory descriptor, name)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.normpath(root)
        self._fds: Dict[str, int] = {}

    def rel(self, path: str) -> str:
        path = os.path.normpath(path)
        if path == self.root:
            return ""
        if self.root == "/":
            return path[1:]
        if not path.startswith(self.root + "/"):
            raise ValueError(f"{path} is not below {self.root}")
        return path[len(self.root) + 1:]

    def dir_fd(self, rel: str) -> int:
        """Descriptor of the directory *rel* (relative to the root; '' is the root)."""
        fd = self._fds.get(rel)
        if fd is not None:
            return fd
        if len(self._fds) >= MAX_DIR_FDS:
            self.close()
        if not rel:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            parent, _, name = rel.rpartition("/")
            parent_fd = self.dir_fd(parent)
            try:
                fd = os.open(name, O_DIR, dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno not in ODD_ERRNOS:
                    raise
                info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                raise odd(f"{self.root}/{rel}", "directories", info.st_mode) from None
        self._fds[rel] = fd
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _split(self, path: str) -> Tuple[int, str]:
        parent, _, name = self.rel(path).rpartition("/")
        return self.dir_fd(parent), name

    def _again(self, call: Callable[[], T]) -> T:
        """*call*, once more with the cached directories closed if descriptors ran out
        (a small ulimit -n): the walk then reopens only what it needs."""
        try:
            return call()
        except OSError as exc:
            if exc.errno != errno.EMFILE or not self._fds:
                raise
            self.close()
            return call()

    def _fresh(self, path: str) -> int:
        # a new open file description for each listing: a cached descriptor's offset
        # would be shared by two listings at once, or by --workers' forked children
        return os.open(".", O_DIR, dir_fd=self.dir_fd(self.rel(path)))

    def scandir(self, path: str) -> _Listing:
        """os.scandir of a directory below the root (entries carry names only); a
        context manager, as os.scandir's iterator is."""
        return _Listing(self._again(lambda: self._fresh(path)))

    def listdir(self, path: str) -> List[str]:
        fd = self._again(lambda: self._fresh(path))
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def lstat(self, path: str) -> os.stat_result:
        def call() -> os.stat_result:
            fd, name = self._split(path)
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        return self._again(call)

    def open(self, path: str) -> Optional[int]:
        """A read-only descriptor of the regular file *path*; None when it vanished.
        Raises OddFile for anything but a regular file."""
        return self._again(lambda: self._open(path))

    def _open(self, path: str) -> Optional[int]:
        try:
            fd, name = self._split(path)
        except FileNotFoundError:
            return None  # its directory went (a hash dir emptied and removed)
        try:
            handle = os.open(name, O_FILE, dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno not in ODD_ERRNOS:
                raise
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            raise odd(path, "files", info.st_mode) from None
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            os.close(handle)
            raise odd(path, "files", mode)
        return handle


class Directory:
    """One directory below a tree's root, held by a descriptor of its own while many
    files in it are read: opening a name is then one openat() and one fstat(), not the
    path-to-descriptor mapping of Tree.open per file (a third of a full spool scan's
    CPU time at 100,000 messages). Anything but a plain success (a symlink, a FIFO, a
    vanished file, no permission, no descriptors left) is handed to Tree.open or
    Tree.lstat with the whole path, so the answer, refusal or exception is theirs.
    When the directory itself cannot be opened this way, every call takes that path."""

    __slots__ = ("fd", "path", "tree")

    def __init__(self, tree: Tree, path: str) -> None:
        self.tree = tree
        self.path = path
        self.fd: Optional[int] = None
        try:
            self.fd = tree._again(lambda: tree._fresh(path))
        except (OSError, OddFile):  # vanished, no permission, a symlink: the per-file
            pass                    # calls say it, when (and if) a file is read

    def open(self, name: str) -> Optional[int]:
        """Tree.open(path/name)."""
        if self.fd is not None:
            try:
                handle = os.open(name, O_FILE, dir_fd=self.fd)
            except OSError:
                pass
            else:
                if stat.S_ISREG(os.fstat(handle).st_mode):
                    return handle
                os.close(handle)
        return self.tree.open(f"{self.path}/{name}")

    def lstat(self, name: str) -> os.stat_result:
        """Tree.lstat(path/name)."""
        if self.fd is not None:
            try:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                pass
        return self.tree.lstat(f"{self.path}/{name}")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Listing:
    """os.scandir over a descriptor of our own, closed with the iterator."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        try:
            self._it = os.scandir(fd)
        except BaseException:  # ours to close whatever went wrong; re-raised
            os.close(fd)
            raise

    def __enter__(self) -> Iterator[os.DirEntry]:  # type: ignore[type-arg]
        return self._it

    def __exit__(self, *exc: object) -> None:
        self._it.close()
        os.close(self._fd)

    def __iter__(self) -> Iterator[os.DirEntry]:  # type: ignore[type-arg]
        return iter(self._it)


_TREES: Dict[str, Tree] = {}  # by root: one set of directory descriptors per spool and run


def confine(root: str) -> Tree:
    """A new Tree for a spool root, replacing an older one of the same root (a
    source made anew sees the directories as they are now); paths below the root
    are then read through it by the helpers in spoolscan."""
    root = os.path.normpath(root)
    old = _TREES.pop(root, None)
    if old is not None:
        old.close()
    tree = _TREES[root] = Tree(root)
    return tree


def tree_of(path: str) -> Tree:
    """The Tree of the deepest confined root above *path*; for a path outside every
    confined root, its own directory (only the last component is then unfollowed)."""
    path = os.path.normpath(path)
    best = None
    for root, tree in _TREES.items():
        if (path == root or path.startswith(root + "/") or root == "/") and (
                best is None or len(root) > len(best.root)):
            best = tree
    if best is None:
        best = _TREES[os.path.dirname(path) or "."] = Tree(os.path.dirname(path) or ".")
    return best
