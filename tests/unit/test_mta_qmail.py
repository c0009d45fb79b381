"""qmail: queues built in temp dirs in qmail's on-disk layout (files named by the
mess file's inode, split in 23 subdirectories), and qmail-qread/qmail-qstat output
written from their source (qmail is not packaged in Debian 12: see the fixtures' README)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from nagios_ipc.mta import qmail
from nagios_ipc.mta.model import Message, ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "qmail"
SPLIT = 23


class Queue:
    """Writes messages the way qmail-queue and qmail-send leave them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("mess", "info", "local", "remote"):
            for n in range(SPLIT):
                (root / sub / str(n)).mkdir(parents=True)
        for sub in ("todo", "intd", "bounce", "pid", "lock"):
            (root / sub).mkdir()

    def add(self, sender: str, local: List[str], remote: List[str], size: int,
            arrival: float, done: Optional[List[str]] = None, todo: bool = False) -> str:
        tmp = self.root / "pid" / "tmp"
        tmp.write_bytes(b"x" * size)
        inode = str(tmp.stat().st_ino)
        split = str(int(inode) % SPLIT)
        tmp.rename(self.root / "mess" / split / inode)
        if todo:
            envelope = f"u0\0p123\0F{sender}\0" + "".join(f"T{r}\0" for r in local + remote)
            path = self.root / "todo" / inode
            path.write_bytes((envelope + "\0").encode())
            os.utime(path, (arrival, arrival))
            return inode
        info = self.root / "info" / split / inode
        info.write_bytes(f"F{sender}\0".encode())
        os.utime(info, (arrival, arrival))
        for channel, rcpts in (("local", local), ("remote", remote)):
            if rcpts:
                records = "".join(f"T{r}\0" for r in rcpts)
                records += "".join(f"D{r}\0" for r in (done or []) if channel == "remote")
                (self.root / channel / split / inode).write_bytes(records.encode())
        return inode


def test_spool_counts_and_messages(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "queue")
    multi = queue.add("reports@probe.localdomain", ["ops@probe.localdomain"],
                      ["carol@customer.test", "announce@lists.example.net"], 4263,
                      1795457335, done=["billing@example.invalid"])
    bounce = queue.add("", [], ["newsletter@lists.example.net"], 4260, 1795457348)
    todo = queue.add("alice@probe.localdomain", [], ["bob@example.invalid"], 1835,
                     1795457400, todo=True)
    source = qmail.open_source(Settings(spool_dir=str(queue.root)), "spool")
    counts = {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in source.counts()}
    # a message is one message (local and remote recipients: counted in remote), as
    # qmail-qstat counts mess/ files
    assert counts == {"local": (0, 0, None),
                      "remote": (2, 4263 + 4260, 1795457335.0),
                      "todo": (1, 1835, 1795457400.0)}
    messages: Dict[Tuple[str, str], Message] = {(m.queue, m.queue_id): m for m in source.messages()}
    assert set(messages) == {("remote", multi), ("remote", bounce), ("todo", todo)}
    remote = messages[("remote", multi)]
    assert remote.recipients == ("carol@customer.test", "announce@lists.example.net",
                                 "ops@probe.localdomain")
    assert messages[("remote", bounce)].sender == ""
    assert messages[("todo", todo)].recipients == ("bob@example.invalid",)
    assert messages[("todo", todo)].size == 1835


def test_spool_count_opens_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = Queue(tmp_path / "queue")
    queue.add("a@b", ["c@d"], [], 10, 1795457335)
    source = qmail.open_source(Settings(spool_dir=str(queue.root)), "spool")

    real_open = os.open

    def no_open(*args: Any, **kwargs: Any) -> int:
        if len(args) > 1 and args[1] & os.O_DIRECTORY:
            return real_open(*args, **kwargs)  # directories are read through descriptors
        raise AssertionError(f"a count-only scan opened {args[0]}")

    monkeypatch.setattr("builtins.open", no_open)
    monkeypatch.setattr(os, "open", no_open)
    assert sum(c.messages for c in source.counts()) == 1


def test_spool_not_a_qmail_queue(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        qmail.open_source(Settings(spool_dir=str(tmp_path)), "spool")


@pytest.mark.parametrize("data", [b"Fa@b", b"Xa@b\0", b"Fa@b\0Fc@d\0"])
def test_info_garbage(data: bytes) -> None:
    with pytest.raises(ParseError, match="info-file"):
        qmail.parse_info(data, "info-file")


@pytest.mark.parametrize("data", [b"Ta@b", b"Qa@b\0"])
def test_recipients_garbage(data: bytes) -> None:
    with pytest.raises(ParseError, match="rcpt-file"):
        qmail.parse_recipients(data, "rcpt-file")


def test_qread_listing() -> None:
    lines = (FIXTURES / "qmail-qread.txt").read_text().splitlines()
    messages = list(qmail.parse_qread(lines))
    # one message each (local and remote recipients: in remote while a remote one waits)
    assert [(m.queue, m.queue_id) for m in messages] == [
        ("remote", "2623017"), ("remote", "2623051"), ("remote", "2623102")]
    assert messages[0].recipients == ("carol@customer.test", "announce@lists.example.net",
                                      "ops@probe.localdomain")
    assert messages[0].arrival == 1795457335 and messages[0].size == 4263
    assert messages[1].sender == ""
    assert messages[2].arrival == 1796454062
    # the second opinion: qmail-qstat of the same moment (mess/ files, todo/ files);
    # #2623077 left while qmail-qread looked
    in_queue, todo = qmail.parse_qstat((FIXTURES / "qmail-qstat.txt").read_text())
    assert len(messages) + todo == in_queue


@pytest.mark.parametrize("text", [
    "\tremote\ta@b\n",                                        # recipient before a message
    "23 Nov 2026 18:08:55 GMT  #1  10  <a@b>\n",               # no trailing space
    "31 Feb 2026 18:08:55 GMT  #1  10  <a@b> \n",              # no such date
])
def test_qread_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        list(qmail.parse_qread(text.splitlines()))


def test_qstat() -> None:
    assert qmail.parse_qstat((FIXTURES / "qmail-qstat.txt").read_text()) == (4, 1)
    for text in ("", "messages in queue: 4\n", "messages in queue: x\nfoo\n"):
        with pytest.raises(ParseError):
            qmail.parse_qstat(text)


def stubs(tmp_path: Path, qread: str) -> str:
    (tmp_path / "qmail-qread").write_text(qread)
    (tmp_path / "qmail-qstat").write_text(f"#!/bin/sh\ncat {FIXTURES}/qmail-qstat.txt\n")
    for name in ("qmail-qread", "qmail-qstat"):
        (tmp_path / name).chmod(0o755)
    return str(tmp_path / "qmail-qread")


def test_command_source(tmp_path: Path) -> None:
    binary = stubs(tmp_path, f"#!/bin/sh\ncat {FIXTURES}/qmail-qread.txt\n")
    source = qmail.open_source(Settings(binary=binary), "command")
    counts = {c.queue: (c.messages, c.bytes, c.oldest_arrival) for c in source.counts()}
    assert counts == {"local": (0, 0, None),
                      "remote": (3, 4263 + 4260 + 204876, 1795457335.0),
                      "todo": (1, None, None)}


def test_command_refused(tmp_path: Path) -> None:
    binary = stubs(tmp_path, "#!/bin/sh\necho 'fatal: unable to chdir: access denied'\n"
                             "exit 111\n")
    source = qmail.open_source(Settings(binary=binary), "command")
    with pytest.raises(Unavailable) as info:
        list(source.messages())
    assert "sudoers" in info.value.fix
