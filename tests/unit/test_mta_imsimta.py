"""Messaging Server: imsimta qm listings in their documented format (no system to
capture from; see tests/fixtures/mta/imsimta/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from nagios_ipc.mta import imsimta
from nagios_ipc.mta.model import Message, ParseError, Settings, Unavailable

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta" / "imsimta"


def directory(name: str) -> List[Message]:
    return list(imsimta.parse_directory((FIXTURES / name).read_text().splitlines()))


@pytest.mark.parametrize("name, expected", [
    ("ZZ0F7O00I03CJHZD.00", 0), ("ZY0F7O00I03CJHZD.00", 1), ("ZA0F7O00I03CJHZD.00", 25),
    ("Z00F7O00I03CJHZD.00", 35), ("YZ0F7O00I03CJHZD.00", 36), ("3/ZX0F7N00B0QRSTU.06", 2),
    ("zz.00", None), ("ZZ0F7O00I03CJHZD", None),
])
def test_attempts_from_the_file_name(name: str, expected: object) -> None:
    assert imsimta.attempts(name) == expected


def test_documented_example() -> None:
    messages = directory("qm-directory_doc-example.txt")
    assert [(m.queue, m.queue_id, m.size) for m in messages] == [
        ("sims-ms", "sims-ms/ZZ0F7O00I03CJHZD.00", 1024),
        ("sims-ms", "sims-ms/ZZ0F7O00I03CILY6.00", 1024)]
    # 11:52:29 at -0800 is 19:52:29 UTC
    assert messages[0].arrival == 919885949.0


def test_active_delayed_per_channel() -> None:
    queues = [(m.queue, m.held) for m in directory("qm-directory_two-channels.txt")]
    assert queues == [("tcp_local", False), ("tcp_local.delayed", False),
                      ("tcp_local.delayed", False), ("sims-ms", False)]


def test_held_listing() -> None:
    messages = directory("qm-directory-held_two-channels.txt")
    assert [(m.queue, m.held) for m in messages] == [("hold.held", True),
                                                     ("tcp_local.held", True)]


@pytest.mark.parametrize("text", [
    "1 ZZ0F7O00I03CJHZD.00            1 24-Feb-1999 11:52:29\n",            # row before channel
    "Channel: sims-ms   Size Queued since\n1 notafile 1 24-Feb-1999 11:52:29\n",
    "Channel: sims-ms   Size Queued since\n1 ZZ0F7O00I03CJHZD.00 1 30-Feb-1999 11:52:29\n",
    "%QM-E-NOSUCHCHANNEL, no such channel\n",
    "qm.maint> \n",
])
def test_directory_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        list(imsimta.parse_directory(text.splitlines()))


def test_qm_messages_documented_examples() -> None:
    # as rendered on the vendor's page (whitespace collapsed)
    doc = ["host active messages delayed messages", "", "siroe.com 32 47", "",
           "west.siroe.com 0 3"]
    assert imsimta.parse_qm_messages(doc) == [("siroe.com", 32, 47), ("west.siroe.com", 0, 3)]
    blog = ["host                             active messages  delayed messages",
            "example.com                             0                 2000",
            "sesta.com                               0                 3000"]
    assert imsimta.parse_qm_messages(blog) == [("example.com", 0, 2000), ("sesta.com", 0, 3000)]
    with pytest.raises(ParseError):
        imsimta.parse_qm_messages(["example.com 0 2000"])


def test_command_source(tmp_path: Path) -> None:
    stub = tmp_path / "imsimta"
    stub.write_text(f"""#!/bin/sh
case "$*" in
  "qm directory") cat {FIXTURES}/qm-directory_two-channels.txt ;;
  "qm directory -held") cat {FIXTURES}/qm-directory-held_two-channels.txt ;;
  *) exit 64 ;;
esac
""")
    stub.chmod(0o755)
    source = imsimta.open_source(Settings(binary=str(stub)), "command")
    counts = {c.queue: (c.messages, c.bytes) for c in source.counts()}
    assert counts == {"tcp_local": (1, 3072), "tcp_local.delayed": (2, 14336),
                      "sims-ms": (1, 1024), "hold.held": (1, 4096),
                      "tcp_local.held": (1, 9216)}


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        imsimta.open_source(Settings(binary=str(tmp_path / "imsimta")), "command")
    with pytest.raises(ValueError):
        imsimta.open_source(Settings(), "spool")
