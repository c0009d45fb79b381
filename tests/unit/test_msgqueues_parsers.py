"""Parsers of /proc/sysvipc/msg, mqueue files and ipcs -qa, on captured and documented output."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Dict, List

import pytest

from nagios_ipc.msgqueues.ipcs import parse_ipcs
from nagios_ipc.msgqueues.model import ParseError
from nagios_ipc.msgqueues.posix import parse_mqueue_file
from nagios_ipc.msgqueues.sysv import SysvProcSource, parse_proc_msg

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "msgqueues"


def fixture(name: str) -> str:
    path = FIXTURES / name
    if name.endswith(".gz"):
        return gzip.open(path, "rt").read()
    return path.read_text()


def test_proc_mixed_capture() -> None:
    rows = parse_proc_msg(fixture("proc-sysvipc-msg_linux-6.18_mixed.txt"))
    assert [(r["key"], r["msqid"], r["perms"], r["cbytes"], r["qnum"]) for r in rows] == [
        (4096, 7, 660, 128, 2), (4097, 8, 600, 512, 1), (11442, 9, 666, 0, 0)]


def test_proc_empty_capture_is_no_queues() -> None:
    assert parse_proc_msg(fixture("proc-sysvipc-msg_linux-6.18_empty.txt")) == []


def test_proc_32000_queues() -> None:
    rows = parse_proc_msg(fixture("proc-sysvipc-msg_linux-6.18_32000-queues.txt.gz"))
    assert len(rows) == 32000
    assert sum(r["cbytes"] for r in rows) == 10


BAD_PROC = [
    ("nothing-at-all", ""),
    ("header-missing-columns", "key msqid perms\n1 2 3\n"),
    ("short-line", fixture("proc-sysvipc-msg_linux-6.18_mixed.txt").rstrip() + "\n 1 2 3\n"),
    ("not-numeric", fixture("proc-sysvipc-msg_linux-6.18_empty.txt")
     + " a b c d e f g h i j k l m n\n"),
    ("binary-garbage", "\x00\xff\x13garbage"),
]


@pytest.mark.parametrize("case,text", BAD_PROC, ids=[c[0] for c in BAD_PROC])
def test_proc_garbage_raises_parse_error(case: str, text: str) -> None:
    with pytest.raises(ParseError):
        parse_proc_msg(text)


def test_sysv_source_uses_limits_and_names_the_fallback(tmp_path: Path) -> None:
    proc = tmp_path / "msg"
    proc.write_text(fixture("proc-sysvipc-msg_linux-6.18_mixed.txt"))
    mnb = tmp_path / "msgmnb"
    mnb.write_text("16384\n")
    source = SysvProcSource(lambda uid: {0: "root"}.get(uid, str(uid)), path=str(proc),
                            msgmnb_path=str(mnb),
                            limits=lambda keys: {8: (512, "MSG_STAT_ANY")})
    queues = {q.id: q for q in source.queues()}
    assert queues[8].limit_bytes == 512 and queues[8].full and queues[8].fill == 100
    assert queues[7].limit_source == "msgmnb default" and queues[7].limit_bytes == 16384
    assert queues[7].perms == 0o660 and queues[7].key == "0x00001000"
    assert queues[7].owner == "root" and queues[7].lspid == 11226 and queues[7].rtime is None
    assert source.notes == ["2 System V queue limit(s) not readable (no MSG_STAT_ANY, no read "
                            "permission): assumed the default msgmnb 16384 B"]


def test_sysv_source_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    source = SysvProcSource(str, path=str(tmp_path / "missing"))
    with pytest.raises(ParseError, match=r"cannot read .*missing: No such file"):
        source.queues()


@pytest.mark.parametrize("text,size", [
    ("QSIZE:129        NOTIFY:2     SIGNO:0     NOTIFY_PID:8260     \n", 129),
    ("QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n", 0),
    ("QSIZE:30", 30),
])
def test_mqueue_file(text: str, size: int) -> None:
    assert parse_mqueue_file(text) == size


@pytest.mark.parametrize("text", ["", "QSIZE:", "qsize:1 ", "NOTIFY:0 QSIZE:1", "QSIZE:-1 "])
def test_mqueue_file_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse_mqueue_file(text)


IPCS = [
    # (fixture, expected [(id, key, owner, perms, messages, bytes, qbytes, lspid, lrpid)])
    ("ipcs-qa_aix-7.2.txt", [
        (0, "0x4107001c", "root", 0o660, 0, 0, 4096, 11796, 12362),
        (1, "0x0d05e36c", "appusr", 0o666, 8, 4096, 4096, 20630, None),
        (2, "0x00000000", "db2i", 0o600, 3, 512, 65535, 31002, 31002)]),
    ("ipcs-qa_hpux-11.31.txt", [
        (0, "0x3c0c0d5b", "root", 0o622, 0, 0, 16384, 1265, 1237),
        (1, "0x3e0c0d5b", "root", 0o644, 0, 0, 16384, 1237, 1265),
        (1026, "0x5a1b2c3d", "oracle", 0o660, 64, 16384, 16384, 4711, None)]),
    ("ipcs-qa_solaris-11.4.txt", [
        (0, "0x000004d2", "root", 0o644, 0, 0, 4096, None, None),
        (1, "0x061002a5", "webservd", 0o660, 2, 120, 4096, 811, 902)]),
    ("ipcs-qa_empty_solaris-11.4.txt", []),
]


@pytest.mark.parametrize("name,expected", IPCS, ids=[c[0] for c in IPCS])
def test_ipcs_each_os(name: str, expected: List[tuple]) -> None:  # type: ignore[type-arg]
    queues = parse_ipcs(fixture(name))
    assert [(q.id, q.key, q.owner, q.perms, q.messages, q.bytes, q.limit_bytes, q.lspid,
             q.lrpid) for q in queues] == expected


def test_ipcs_full_queue_detected() -> None:
    full = {q.id: q.full for q in parse_ipcs(fixture("ipcs-qa_hpux-11.31.txt"))}
    assert full == {0: False, 1: False, 1026: True}


BAD_IPCS: Dict[str, str] = {
    "no-header": "q 0 0x1 --rw------- root root 0 0 0\n",
    "linux-ipcs-q-format": "------ Message Queues --------\nkey msqid owner perms used-bytes "
                           "messages\n0x00001234 0 root 600 0 0\n",
    "header-without-qbytes": "T ID KEY MODE OWNER GROUP\nq 0 0x1 --rw------- root root\n",
    "truncated-line": fixture("ipcs-qa_aix-7.2.txt").rstrip()[:-30] + "\n",
    "number-garbage": fixture("ipcs-qa_solaris-11.4.txt").replace(" 120 ", " x2 "),
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(BAD_IPCS))
def test_ipcs_garbage_raises_parse_error(case: str) -> None:
    with pytest.raises(ParseError):
        parse_ipcs(BAD_IPCS[case])
