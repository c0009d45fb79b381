"""check_msgqueues' fast path at scale (issue 15) against its reference path.

split_table (the kernel's table read without converting it) must either decline or
give exactly the rows parse_proc_rows gives; a check whose System V source takes
the fast path (idle queues counted, not built) must print exactly what the
reference path (every queue built) prints. Tables: the real captures of
tests/fixtures/msgqueues and tables generated in the kernel's format; the limits
each queue would get from MSG_STAT_ANY are given (the real msgctl is compared in
tests/integration/test_msgqueues_fast_path.py, on real queues).
"""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nagios_ipc import cli
from nagios_ipc.msgqueues import check
from nagios_ipc.msgqueues.model import ParseError
from nagios_ipc.msgqueues.sysv import SysvProcSource, Table, parse_proc_rows, split_table

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "msgqueues"
MIXED = (FIXTURES / "proc-sysvipc-msg_linux-6.18_mixed.txt").read_bytes()
EMPTY = (FIXTURES / "proc-sysvipc-msg_linux-6.18_empty.txt").read_bytes()
BIG = gzip.open(FIXTURES / "proc-sysvipc-msg_linux-6.18_32000-queues.txt.gz").read()
HEADER = EMPTY.splitlines()[0] + b"\n"
NOW = 1_795_465_175.0
NAMES = {0: "root", 1: "daemon", 65534: "nobody"}


def reference_rows(raw: bytes) -> Tuple[List[str], List[List[int]]]:
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="ascii", errors="replace").read()
    return parse_proc_rows(text)


def assert_same_as_reference(raw: bytes) -> Optional[Table]:
    """split_table declines, or it reads what the reference reads."""
    table = split_table(raw, ints=("msqid", "key"), kept=("uid", "perms"),
                        nonzero=("cbytes", "qnum", "lrpid"))
    if table is None:
        return None
    header, rows = reference_rows(raw)  # and the reference does not raise
    assert table.header == header
    assert [table.row(row) for row in range(table.count)] == rows
    assert [table.row(row) for row in reversed(range(table.count))] == rows[::-1]
    for name in ("msqid", "key"):
        assert table.ints[name] == [row[header.index(name)] for row in rows]
    for name in ("uid", "perms"):
        assert list(map(int, table.kept[name])) == [row[header.index(name)] for row in rows]
    for name in ("cbytes", "qnum", "lrpid"):
        assert table.nonzero[name] == [index for index, row in enumerate(rows)
                                       if row[header.index(name)]]
    return table


@pytest.mark.parametrize("raw", [MIXED, EMPTY, BIG, HEADER.rstrip(b"\n") + b"\n",
                                 MIXED.rstrip(b"\n")], ids=["mixed", "empty", "32000",
                                                            "header", "no-last-newline"])
def test_real_tables_take_the_fast_path(raw: bytes) -> None:
    assert assert_same_as_reference(raw) is not None


LINE = b"      4096          7   660         128          2 11226     0     0     0     0     0 1795461575          0 1795461575\n"  # noqa: E501


@pytest.mark.parametrize("case,raw", [
    # each one a table the kernel never prints: the reference path reads it and says why
    ("11-digit", HEADER + LINE.replace(b"1795461575 ", b"17954615750 ")),
    ("past-int32", HEADER + LINE.replace(b"11226", b"3000000000")),
    ("key-past-int32", HEADER + LINE.replace(b"      4096", b"-2147483649")),
    ("negative-11", HEADER + LINE.replace(b"11226", b"-1234567890")),
    ("dash-inside", HEADER + LINE.replace(b"11226", b"11-26")),
    ("dash-alone", HEADER + LINE.replace(b"11226", b"    -")),
    ("double-dash", HEADER + LINE.replace(b"11226", b"--226")),
    ("plus", HEADER + LINE.replace(b"11226", b"+1226")),
    ("blank-line", HEADER + LINE + b"\n" + LINE),
    ("spaces-line", HEADER + LINE + b"     \n" + LINE),
    ("short-line", HEADER + LINE + b" 1 2 3\n"),
    ("long-line", HEADER + LINE.replace(b"\n", b" 5\n")),
    ("two-short-lines", HEADER + b" ".join(LINE.split()[:7]) + b"\n"
     + b" ".join(LINE.split()[7:]) + b"\n"),
    ("carriage-return", HEADER + LINE.replace(b"\n", b"\r\n")),
    ("non-ascii", HEADER + LINE.replace(b"11226", b"1\xff226")),
    ("tab", HEADER + LINE.replace(b" 11226", b"\t11226")),
    ("upper-header", HEADER.upper() + LINE),
    ("missing-column", HEADER.replace(b" ctime", b"") + LINE),
    ("no-newline", HEADER.rstrip(b"\n")),
    ("nothing", b""),
    ("line-of-70000", HEADER + b" " * 70000 + LINE),
    ("vertical-tab", HEADER + LINE.replace(b" 11226", b"\x0b11226")),
    ("form-feed", HEADER + LINE + b"\x0c" + LINE),
    ("semicolon", HEADER + LINE.replace(b" 11226", b" ; 1226")),
    ("separator-in-key", HEADER + LINE.replace(b"      4096", b"     40\x1c96")),
    ("letter-in-key", HEADER + LINE.replace(b"      4096", b"      40x6")),
    ("minus-in-pid", HEADER + LINE.replace(b"11226", b"-1226")),
    ("last-chunk-garbage", BIG[:-30] + b"x" + BIG[-29:]),
    ("last-chunk-short-line", BIG + b" 1 2 3\n"),
])
def test_anything_else_goes_the_reference_way(case: str, raw: bytes) -> None:
    assert split_table(raw, ("msqid", "key")) is None, case
    assert assert_same_as_reference(raw) is None, case
    try:
        reference_rows(raw)  # whatever it makes of it, it is the one to decide
    except ParseError:
        pass


def test_what_int_takes_in_a_converted_column_is_taken_by_both() -> None:
    """parse_proc_rows reads every column with int(), which takes +5 and 1_0: so does
    split_table in the columns it converts (key, msqid); elsewhere it declines."""
    for key in (b"        +5", b"       1_0", b"     -4096", b"0000004096"):
        assert assert_same_as_reference(HEADER + LINE.replace(b"      4096", key)) \
            is not None, key


def test_rows_of_other_lengths_are_found() -> None:
    """Table.row finds a line by arithmetic while all lines of a chunk are as long
    (the kernel's while every value fits its width), else by splitting the chunk: a
    pid past 99999 widens its line."""
    wide = LINE.replace(b"11226", b"4194304")
    middle = BIG.index(b"\n", 300000) + 1  # a line in the fifth 64 KiB chunk
    for raw in (HEADER + LINE * 3 + wide + LINE * 3, HEADER + wide + LINE * 2,
                HEADER + LINE * 2 + wide, BIG[:middle] + wide + BIG[middle:]):
        table = assert_same_as_reference(raw)
        assert table is not None


def test_values_up_to_int32_stay_on_the_fast_path() -> None:
    for value in (b"2147483647", b"1999999999", b"0000000007"):
        raw = HEADER + LINE.replace(b"1795461575\n", value + b"\n")
        assert assert_same_as_reference(raw) is not None, value
    assert assert_same_as_reference(HEADER + LINE.replace(b"      4096", b"-999999999")) \
        is not None


def mutations(raw: bytes) -> st.SearchStrategy[bytes]:
    cut = st.integers(0, len(raw)).map(lambda n: raw[:n])
    spliced = st.tuples(st.integers(0, len(raw)), st.integers(0, 12),
                        st.binary(max_size=12) | st.text("0123456789 -\n", max_size=12)
                        .map(str.encode)).map(lambda t: raw[:t[0]] + t[2] + raw[t[0] + t[1]:])
    return st.one_of(cut, spliced)


@given(st.one_of(st.binary(), mutations(MIXED), mutations(BIG[:3000])))
def test_split_table_is_the_reference_or_declines(raw: bytes) -> None:
    try:
        assert_same_as_reference(raw)
    except ParseError:
        raise AssertionError("split_table took a table the reference refuses") from None


# --- the whole check: fast path and reference path --------------------------------------


def kernel_line(key: int, msqid: int, perms: int, cbytes: int, qnum: int, lspid: int,
                lrpid: int, uid: int, cuid: int, stime: int, rtime: int, ctime: int) -> str:
    """A row as ipc/msg.c's sysvipc_msg_proc_show prints it."""
    return (f"{key:10d} {msqid:10d}  {perms:4o}  {cbytes:10d} {qnum:10d} {lspid:5d} "
            f"{lrpid:5d} {uid:5d} {0:5d} {cuid:5d} {0:5d} {stime:10d} {rtime:10d} "
            f"{ctime:10d}\n")


ROW = st.tuples(
    st.sampled_from([0, 0, 4096, 4097, 0x162E, -5, 0x7FFFFFFF, -0x80000000])
    | st.integers(-2**31, 2**31 - 1),                         # key (IPC_PRIVATE is 0)
    st.sampled_from([0o600, 0o660, 0o666]),                    # perms
    st.sampled_from([(0, 0)] * 6 + [(128, 2), (512, 1), (0, 3), (16384, 9)]),  # cbytes, qnum
    st.sampled_from([0, 0, 11226, 4194304]),                   # lspid
    st.sampled_from([0, 0, 11227, 999999]),                    # lrpid: alive or gone
    st.sampled_from([0, 0, 0, 1, 65534, 54321]),               # uid
    st.sampled_from([16384, 16384, 16384, 512, 0, 128]),       # qbytes (MSG_STAT_ANY)
)


def table_of(rows: Sequence[Tuple[Any, ...]]) -> Tuple[str, Dict[int, int]]:
    text = HEADER.decode()
    limits: Dict[int, int] = {}
    for index, (key, perms, (cbytes, qnum), lspid, lrpid, uid, qbytes) in enumerate(rows):
        msqid = index * 3 + (index % 5) * 32768  # ascending, as the kernel's slots
        used = 1795461575 if cbytes or qnum else 0
        text += kernel_line(key, msqid, perms, cbytes, qnum, lspid, lrpid, uid, 0, used,
                            used if lrpid else 0, 1795461000 + index)
        limits[msqid] = qbytes
    return text, limits


class Reference:
    """The source without its fast path."""

    def __init__(self, source: SysvProcSource) -> None:
        self.source = source
        self.kind = source.kind

    def __getattr__(self, name: str) -> Any:
        if name == "batch":
            raise AttributeError(name)
        return getattr(self.source, name)


def run_both(path: Path, limits: Dict[int, int], *argv: str,
             keys: Optional[Dict[int, int]] = None) -> Tuple[Tuple[int, str], Tuple[int, str]]:
    ids = list(limits)  # in the table's order, as the kernel's slots are

    def stat_all() -> Tuple[List[int], List[int], List[int]]:
        assert keys is not None
        return ids, [keys[i] for i in ids], [limits[i] for i in ids]

    def name(uid: int) -> str:
        return NAMES.get(uid, str(uid))

    def read_limits(wanted: Dict[int, int]) -> Dict[int, Tuple[int, str]]:
        return {m: (limits[m], "MSG_STAT_ANY") for m in wanted if m in limits}

    def sources(fast: bool) -> Any:
        def make(args: argparse.Namespace) -> Tuple[List[object], List[str]]:
            if fast:
                return [SysvProcSource(name, path=str(path), limits=read_limits,
                                       stat_all=stat_all)], []
            return [Reference(SysvProcSource(name, path=str(path), limits=read_limits))], []
        return make

    def run(fast: bool) -> Tuple[int, str]:
        def build(args: argparse.Namespace) -> Any:
            return check.build(args, make_sources=sources(fast), now=lambda: NOW,
                               alive=lambda pid: pid == 11227)
        return cli.execute(check.parser(), build, [*argv, "--trend-window", "0"])

    return run(True), run(False)


OPTIONS = [
    [],
    ["--details", "always"],
    ["--report-by", "both", "--details", "always"],
    ["--report-by", "total", "--details", "always", "--details-limit", "3"],
    ["--max-owners", "1", "--details", "always"],
    ["--fill-warning", "@0", "--details", "always"],
    ["--owner", "root", "--details", "always"],
]


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=40), st.sampled_from(OPTIONS))
def test_fast_check_is_the_reference_check(tmp_path_factory: pytest.TempPathFactory,
                                           rows: List[Tuple[Any, ...]],
                                           argv: List[str]) -> None:
    text, limits = table_of(rows)
    path = tmp_path_factory.mktemp("table") / "msg"
    path.write_text(text)
    keys = {int(line.split()[1]): int(line.split()[0]) for line in text.splitlines()[1:]}
    fast, reference = run_both(path, limits, "--type", "sysv", *argv, keys=keys)
    assert fast == reference


@pytest.mark.parametrize("argv", OPTIONS, ids=lambda a: " ".join(a) or "defaults")
def test_32000_queue_capture(tmp_path: Path, argv: List[str]) -> None:
    path = tmp_path / "msg"
    path.write_bytes(BIG)
    _header, rows = reference_rows(BIG)
    keys = {row[1]: row[0] for row in rows}
    limits = {row[1]: 16384 for row in rows}
    fast, reference = run_both(path, limits, "--type", "sysv", *argv, keys=keys)
    assert fast == reference
    batch = SysvProcSource(str, path=str(path), stat_all=lambda: (
        list(keys), list(keys.values()), list(limits.values()))).batch()
    assert len(batch.queues) == 1 and sum(len(p.rows) for p in batch.idle) == 31999
    assert "queues_root=32000;;;0" in fast[1] or "queues_total=32000;;;0" in fast[1] or \
        "--owner" in argv


def test_a_limit_read_another_way_takes_the_reference_path(tmp_path: Path) -> None:
    """A queue MSG_STAT_ANY did not answer for (or a key that does not match): every
    queue built, its limit read as read_limits reads it."""
    path = tmp_path / "msg"
    path.write_bytes(MIXED)
    _header, rows = reference_rows(MIXED)
    keys = {row[1]: row[0] for row in rows}
    limits = {row[1]: 16384 for row in rows}
    source = SysvProcSource(str, path=str(path), stat_all=lambda: (
        [7, 8], [keys[7], keys[8]], [16384, 512]))
    batch = source.batch()
    assert (len(batch.queues), batch.idle) == (3, [])
    wrong_key = SysvProcSource(str, path=str(path), stat_all=lambda: (
        [7, 8, 9], [keys[7], keys[8], keys[9] + 1], [16384, 512, 16384]))
    assert wrong_key.batch().idle == []
    fast = SysvProcSource(str, path=str(path), stat_all=lambda: (
        [7, 8, 9], [keys[7], keys[8], keys[9]], [16384, 512, 16384]))
    batch = fast.batch()
    assert [q.id for q in batch.queues] == [7, 8] and [p.rows for p in batch.idle] == [[2]]
    assert batch.idle[0].first() == SysvProcSource(
        str, path=str(path), limits=lambda k: {m: (limits[m], "MSG_STAT_ANY")
                                               for m in k}).queues()[2]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([0, -1, 1, 7, 2**31 - 1, -2**31]),
                          st.integers(-2**31, 2**31 - 1), st.integers(-3, 3)),
                min_size=1, max_size=3000),
       st.integers(1, 12), st.data())
def test_first_by_key_is_nsmallest_by_key(keys: List[int], count: int,
                                          data: st.DataObject) -> None:
    """The rows of the first detail lines of idle queues: taken by a sample's bound
    where there are 80 or more rows per line asked for, else by nsmallest itself;
    both must give what nsmallest over every row gives, ties (IPC_PRIVATE's 0, equal
    keys) in row order; all rows or an ascending subset (one owner's)."""
    import heapq

    from nagios_ipc.msgqueues.sysv import _FastTable

    fast = _FastTable.__new__(_FastTable)
    fast.keys, fast._order = keys, None
    every = list(range(len(keys)))
    rows = every if data.draw(st.booleans()) else sorted(
        data.draw(st.sets(st.sampled_from(every), min_size=1)))
    unsigned = [key & 0xFFFFFFFF for key in keys]
    assert fast.first_by_key(rows, count) == heapq.nsmallest(count, rows,
                                                             key=unsigned.__getitem__)


@pytest.mark.parametrize("seed", range(12))
def test_first_by_key_by_a_sample_on_many_rows(seed: int) -> None:
    """Thousands of rows, so the sample's bound is what picks (80 rows per line
    asked for): keys spread, few and tied, all 0 (IPC_PRIVATE), negative."""
    import heapq
    import random

    from nagios_ipc.msgqueues.sysv import _FastTable

    rng = random.Random(seed)
    size = rng.randint(1000, 12000)
    spread = [lambda: rng.randint(-2**31, 2**31 - 1), lambda: rng.randint(0, 5),
              lambda: 0, lambda: rng.choice([-1, 0, 1, 2**31 - 1])][seed % 4]
    keys = [spread() for _ in range(size)]
    fast = _FastTable.__new__(_FastTable)
    fast.keys, fast._order = keys, None
    unsigned = [key & 0xFFFFFFFF for key in keys]
    for rows in (list(range(size)), sorted(rng.sample(range(size), size // 2))):
        for count in (1, 5, 12, 100):
            assert fast.first_by_key(rows, count) == heapq.nsmallest(
                count, rows, key=unsigned.__getitem__), (count, len(rows))


@pytest.mark.parametrize("field,value", [("key", 2**31), ("key", -2**31 - 1),
                                         ("msqid", 2**31), ("msqid", 2**40)])
@pytest.mark.parametrize("given_stat", [False, True])
def test_msqid_or_key_past_int32_is_named_as_the_reference_names_it(
        tmp_path: Path, field: str, value: int, given_stat: bool) -> None:
    """batch() leaves msqid and key unbounded in split_table (the kernel's C ints
    bound them where the fast path is taken): a table that holds one past int32
    must still fail as queues() fails, whether the readings matched it (a test's
    stat_all, which can) or not (a test file: msgctl knows no such queue)."""
    _header, rows = reference_rows(MIXED)
    text = MIXED.decode()
    old = rows[1][1 if field == "msqid" else 0]
    line = text.splitlines()[2]
    tokens = line.split()
    tokens[1 if field == "msqid" else 0] = str(value)
    path = tmp_path / "msg"
    path.write_text(text.replace(line, " ".join(tokens)))
    ids = [row[1] for row in rows]
    keys = [row[0] for row in rows]
    (ids if field == "msqid" else keys)[1] = value
    assert old != value
    stat = (lambda: (ids, keys, [16384] * len(ids))) if given_stat else (lambda: None)
    limits = {msqid: (16384, "MSG_STAT_ANY") for msqid in ids}
    reference = SysvProcSource(str, path=str(path), limits=lambda k: limits)
    fast = SysvProcSource(str, path=str(path), stat_all=stat, limits=lambda k: limits)
    if field == "key" and value == 2**31:  # the unsigned view of a key: the kernel's own
        batch = fast.batch()
        assert (batch.queues, batch.idle) == (reference.queues(), [])  # every queue built
        return
    with pytest.raises(ParseError) as expected:
        reference.queues()
    with pytest.raises(ParseError) as got:
        fast.batch()
    assert str(got.value) == str(expected.value) and "outside" in str(got.value)


@pytest.mark.parametrize("ctime,taken", [
    (b"1795461575", True), (b"0999999999", True), (b"2147483647", True),
    (b"2147483648", False), (b"2999999999", False), (b"999999999 ", True),
    (b"17954615x5", False), (b"17954615750", False), (b"179546157 0", None)])
def test_a_column_of_one_width_is_checked_as_any_other(ctime: bytes, taken: bool) -> None:
    """perms and ctime columns of one width are proved by the spaces' places (no
    len() per token): the same verdicts, on the last of 2,000 lines or on all."""
    lines = [LINE] * 2000
    last = LINE.replace(b"1795461575\n", ctime.rstrip() + b"\n")
    for raw in (HEADER + b"".join(lines[:-1]) + last, HEADER + last * 2000):
        table = assert_same_as_reference(raw)
        if taken is not None:
            assert (table is not None) == taken, (ctime, len(raw))


def test_a_long_token_beside_short_ones_is_not_taken_for_one_width() -> None:
    """An 11-digit perms and eight of 2 digits add up to nine of 3: the spaces'
    places, not the total alone, must find it (split_table declines 11 digits)."""
    long = LINE.replace(b"   660 ", b" 66000000000 ")
    short = LINE.replace(b"   660 ", b" 66 ")
    for raw in (HEADER + LINE * 300 + long + short * 8 + LINE * 300,
                HEADER + short * 8 + LINE * 600 + long):
        assert assert_same_as_reference(raw) is None
