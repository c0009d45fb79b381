"""Spool reads through directory descriptors: no symlink followed below the root, no
FIFO waited on, and the swap races that path strings cannot close (issue 12)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Callable

import pytest

from nagios_ipc.mta import spoolscan
from nagios_ipc.mta.spooltree import Directory, OddFile, Tree, confine


@pytest.fixture()
def spool(tmp_path: Path) -> Path:
    (tmp_path / "spool" / "deferred" / "A").mkdir(parents=True)
    (tmp_path / "spool" / "deferred" / "A" / "ABC123").write_bytes(b"queue file")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "ABC123").write_bytes(b"root:secret")
    return tmp_path / "spool"


def test_file_swapped_for_a_symlink_after_listing(spool: Path) -> None:
    tree = Tree(str(spool))
    listed = [e.name for e in spoolscan.entries(str(spool / "deferred" / "A"))]
    assert listed == ["ABC123"]
    path = spool / "deferred" / "A" / "ABC123"
    path.unlink()
    path.symlink_to(spool.parent / "secret" / "ABC123")  # the race: after the listing
    with pytest.raises(OddFile, match="is a symlink where the queue has files"):
        tree.open(str(path))


def test_directory_swapped_for_a_symlink_after_listing(spool: Path) -> None:
    confine(str(spool))
    assert [e.name for e in spoolscan.entries(str(spool / "deferred"))] == ["A"]
    (spool / "deferred" / "A" / "ABC123").unlink()
    (spool / "deferred" / "A").rmdir()
    (spool / "deferred" / "A").symlink_to(spool.parent / "secret")
    with pytest.raises(OddFile, match="deferred/A is a symlink where the queue has dir"):
        list(spoolscan.entries(str(spool / "deferred" / "A")))
    with pytest.raises(OddFile):
        spoolscan.read_small(str(spool / "deferred" / "A" / "ABC123"))


def test_root_may_be_a_symlink(spool: Path, tmp_path: Path) -> None:
    # an admin moved the spool and left a link: the root itself is followed, once
    (tmp_path / "link").symlink_to(spool)
    confine(str(tmp_path / "link"))
    assert spoolscan.read_small(str(tmp_path / "link" / "deferred" / "A" / "ABC123")) == \
        b"queue file"


def test_fifo_socket_and_vanished(spool: Path) -> None:
    confine(str(spool))
    os.mkfifo(spool / "deferred" / "A" / "FIFO1")  # a plain open would wait for a writer
    with pytest.raises(OddFile, match="is a FIFO"):
        spoolscan.read_small(str(spool / "deferred" / "A" / "FIFO1"))
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(spool / "deferred" / "A" / "SOCK1"))
    server.close()
    with pytest.raises(OddFile, match="is a socket"):
        spoolscan.read_head(str(spool / "deferred" / "A" / "SOCK1"))
    assert spoolscan.read_small(str(spool / "deferred" / "A" / "GONE")) is None
    assert spoolscan.read_small(str(spool / "deferred" / "B" / "GONE")) is None


def test_descriptors_stay_bounded(spool: Path) -> None:
    for index in range(200):
        (spool / "deferred" / f"D{index}").mkdir()
        (spool / "deferred" / f"D{index}" / "X").write_bytes(b"x")
    tree = confine(str(spool))
    before = len(os.listdir("/proc/self/fd"))
    for index in range(200):
        assert spoolscan.read_small(str(spool / "deferred" / f"D{index}" / "X")) == b"x"
    assert len(os.listdir("/proc/self/fd")) - before <= 70
    tree.close()


# --- Directory: one descriptor per directory, the same answers as Tree by path (issue 15) ---


def outcome(call: Callable[[], object]) -> object:
    """What a read gives: its bytes, None, or the exception's type and text."""
    try:
        fd = call()
    except Exception as exc:  # the comparison is the point
        return (type(exc).__name__, str(exc))
    if fd is None or not isinstance(fd, int):
        return fd
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_directory_answers_as_tree_open_for_every_kind_of_entry(spool: Path) -> None:
    folder = spool / "deferred" / "A"
    os.mkfifo(folder / "FIFO1")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "SOCK1"))
    server.close()
    (folder / "LINK1").symlink_to(spool.parent / "secret" / "ABC123")
    (folder / "DIR1").mkdir()
    os.symlink("/dev/null", folder / "DEV1")
    tree = confine(str(spool))
    names = ["ABC123", "FIFO1", "SOCK1", "LINK1", "DIR1", "DEV1", "GONE"]
    with Directory(tree, str(folder)) as directory:
        assert directory.fd is not None
        got = {name: outcome(lambda n=name: directory.open(n)) for name in names}  # type: ignore[misc]
    want = {name: outcome(lambda n=name: tree.open(f"{folder}/{n}")) for name in names}  # type: ignore[misc]
    assert got == want
    assert got["ABC123"] == b"queue file" and got["GONE"] is None
    assert got["FIFO1"][0] == "OddFile" and "is a FIFO" in got["FIFO1"][1]  # type: ignore
    assert "is a symlink" in got["LINK1"][1]  # type: ignore[index]


def test_directory_lstat_as_tree_lstat(spool: Path) -> None:
    folder = spool / "deferred" / "A"
    (folder / "LINK1").symlink_to(spool.parent / "secret" / "ABC123")
    tree = confine(str(spool))
    with Directory(tree, str(folder)) as directory:
        for name in ("ABC123", "LINK1"):
            mine, theirs = directory.lstat(name), tree.lstat(f"{folder}/{name}")
            assert (mine.st_ino, mine.st_mode, mine.st_size) == (
                theirs.st_ino, theirs.st_mode, theirs.st_size)
        with pytest.raises(FileNotFoundError):
            directory.lstat("GONE")


def test_directory_swapped_after_opening_is_not_followed(spool: Path) -> None:
    # the descriptor keeps the directory that was opened: a symlink put in its place
    # later is never read through
    tree = confine(str(spool))
    with Directory(tree, str(spool / "deferred" / "A")) as directory:
        (spool / "deferred" / "A").rename(spool / "deferred" / "gone")
        (spool / "deferred" / "A").symlink_to(spool.parent / "secret")
        assert outcome(lambda: directory.open("ABC123")) == b"queue file"


def test_directory_that_is_a_symlink_or_gone_answers_as_tree(spool: Path) -> None:
    (spool / "deferred" / "L").symlink_to(spool.parent / "secret")
    tree = confine(str(spool))
    for folder in (spool / "deferred" / "L", spool / "deferred" / "B"):
        with Directory(tree, str(folder)) as directory:
            assert directory.fd is None  # every call takes Tree's path
            path = f"{folder}/ABC123"
            assert outcome(lambda: directory.open("ABC123")) == outcome(
                lambda: tree.open(path))  # noqa: B023 - called at once
    assert "is a symlink where the queue has directories" in str(
        outcome(lambda: Directory(tree, str(spool / "deferred" / "L")).open("ABC123")))


def test_directory_descriptors_are_closed(spool: Path) -> None:
    tree = confine(str(spool))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        with Directory(tree, str(spool / "deferred" / "A")) as directory:
            assert outcome(lambda: directory.open("ABC123")) == b"queue file"
    assert len(os.listdir("/proc/self/fd")) - before <= 3
    tree.close()
