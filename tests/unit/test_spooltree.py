"""Spool reads through directory descriptors: no symlink followed below the root, no
FIFO waited on, and the swap races that path strings cannot close (issue 12)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from nagios_ipc.mta import spoolscan
from nagios_ipc.mta.spooltree import OddFile, Tree, confine


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
