"""The short cuts of issue 15 give what the slow paths give, on real Postfix and Exim queues.

Short cuts proven here, each against the way it replaced, on the same queue and the same
clock (the check runs in this process with a fixed 'now', so ages agree to the second):

* spooltree.Directory (one descriptor per directory, openat per file): against every
  file read through Tree.open/Tree.lstat by its whole path, which is what a Directory
  whose own descriptor could not be had does (and what the scans did before);
* deferral reasons left for a second pass: with --details problem a queue within the
  deferred thresholds is read without them, and BacklogCheck reads them only when the
  state is not OK: against --details always, which reads them at once (the long output
  then appears in both, and must be the same to the byte);
* with --details never or an OK state, no reasons are read at all: the first line and
  perfdata against --details always.

Each queue holds the real MTA's own messages (sent through it, deferred by a refused
relay, one held or frozen, one bounce) and, so that --workers' parallel reading and the
second pass run over more than a handful of files, 2,500 more written in the MTA's own
file format (tests/integration/mta_real.py's fill_*).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from nagios_ipc import cli
from nagios_ipc.mta import check, spooltree
from tests.integration.mta_real import (EximInstance, PostfixInstance, available,
                                        fill_exim_spool, fill_postfix_queue)

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

MORE = 2500  # above check.PARALLEL_FROM: --workers 2 reads the spool in two processes


def run(argv: List[str], now: float) -> Tuple[int, str]:
    return cli.execute(check.parser(), lambda args: check.build(args, now=lambda: now), argv)


def without_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spool file read through Tree by its whole path (the slow path)."""
    def slow_init(self: spooltree.Directory, tree: spooltree.Tree, path: str) -> None:
        self.tree, self.path, self.fd = tree, path, None

    monkeypatch.setattr(spooltree.Directory, "__init__", slow_init)


@pytest.fixture(scope="module")
def postfix_queue() -> Iterator[Tuple[Path, float]]:
    instance = PostfixInstance("postfix-fastpaths")
    instance.setup()
    try:
        instance.start()
        instance.send("alice@probe.localdomain", ["bob@example.com", "carol@example.net"])
        instance.send("alice@customer.test", ["nosuchuser@probe.localdomain"])  # -> bounce
        instance.send("frank@probe.localdomain", ["hold@example.org"])
        queue = instance.wait_queue(lambda q: len(q) == 3 and all(
            m["queue_name"] == "deferred" and all("delay_reason" in r for r in m["recipients"])
            for m in q))
        held = next(m for m in queue if m["recipients"][0]["address"] == "hold@example.org")
        instance.hold(held["queue_id"])
        instance.stop()  # nothing may change the queue while the runs are compared
        now = time.time()
        fill_postfix_queue(instance.queue, MORE, now, seed=15)
        yield instance.queue, now + 3600
    finally:
        instance.cleanup()


@pytest.fixture(scope="module")
def exim_spool() -> Iterator[Tuple[Path, float]]:
    instance = EximInstance("exim-fastpaths")
    instance.setup()
    try:
        instance.send("alice@probe.localdomain", ["bob@example.com", "carol@example.net"])
        instance.send("alice@customer.test", ["nosuchuser@probe.localdomain"])  # -> bounce
        instance.send("eve@probe.localdomain", ["y@example.org"], queue_only=True)
        ids = instance.ids()
        assert len(ids) == 3
        instance.exim("-Mf", max(ids, key=lambda i: (i[:6], i)))  # the never-tried one
        now = time.time()
        fill_exim_spool(instance.spool, MORE, now, seed=15)
        yield instance.spool, now + 3600
    finally:
        instance.cleanup()


def postfix_args(queue: Path) -> List[str]:
    # stopped (above): said, and OK by --mta-down ok, so that every state can be reached
    return ["--mta", "postfix", "--spool-dir", str(queue), "--method", "spool",
            "--trend-window", "0", "--mta-down", "ok"]


def exim_args(spool: Path) -> List[str]:
    return ["--mta", "exim", "--spool-dir", str(spool), "--method", "spool",
            "--trend-window", "0"]


# argument sets: (id, arguments, why)
CASES = [
    ("defaults", [], "CRITICAL on the deferred count: reasons read at once"),
    ("age-only", ["-w", "100000", "-c", "200000"],
     "within the deferred thresholds but CRITICAL on age: the second pass reads reasons"),
    ("bytes-only", ["-w", "100000", "-c", "200000", "--age-warning", "none",
                    "--age-critical", "none", "--bytes-warning", "1"],
     "WARNING on bytes only: second pass"),
    ("ok", ["-w", "100000", "-c", "200000", "--age-warning", "none",
            "--age-critical", "none"], "OK: no reasons read, none shown"),
    ("one-worker", ["-w", "100000", "-c", "200000", "--workers", "1"],
     "second pass in one process"),
    ("domain", ["--domain", "example.com=1,2", "--top", "2", "-w", "100000", "-c", "200000"],
     "a watched domain over its threshold: second pass, top 2"),
]


@pytest.mark.parametrize("mta", ["postfix", "exim"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_directory_reads_equal_whole_path_reads(
        mta: str, case: Tuple[str, List[str], str], postfix_queue: Tuple[Path, float],
        exim_spool: Tuple[Path, float], monkeypatch: pytest.MonkeyPatch) -> None:
    root, now = postfix_queue if mta == "postfix" else exim_spool
    argv = (postfix_args if mta == "postfix" else exim_args)(root) + case[1] + [
        "--details", "always"]
    fast = run(argv, now)
    without_directories(monkeypatch)
    slow = run(argv, now)
    assert fast == slow
    assert fast[0] in (0, 1, 2), fast[1]
    assert f"messages={MORE + 3};" in fast[1]


@pytest.mark.parametrize("mta", ["postfix", "exim"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reasons_later_equal_reasons_at_once(
        mta: str, case: Tuple[str, List[str], str], postfix_queue: Tuple[Path, float],
        exim_spool: Tuple[Path, float]) -> None:
    root, now = postfix_queue if mta == "postfix" else exim_spool
    argv = (postfix_args if mta == "postfix" else exim_args)(root) + case[1]
    at_once = run([*argv, "--details", "always"], now)
    later = run(argv, now)  # --details problem
    never = run([*argv, "--details", "never"], now)
    lines = at_once[1].splitlines()
    first_and_perf = lines[:1] + [line for line in lines[1:] if line.startswith("|")]
    assert never == (at_once[0], "\n".join(first_and_perf) + "\n")
    if at_once[0] == 0:
        assert later == never
    else:
        assert later == at_once
        if mta == "postfix" or case[0] != "ok":
            assert "top deferral reasons:" in later[1]


@pytest.mark.parametrize("case", CASES[:2] + CASES[4:5], ids=[c[0] for c in CASES[:2] + CASES[4:5]])
def test_exim_bytes_parsers_equal_the_text_parsers(
        case: Tuple[str, List[str], str], exim_spool: Tuple[Path, float],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """exim.header_fast and exim.msglog_reasons (the -H file and msglog read from bytes)
    against parse_header_file and parse_msglog on the decoded text, which is what the
    scan falls back to whenever the bytes parsers decline."""
    from nagios_ipc.mta import exim

    root, now = exim_spool
    argv = exim_args(root) + case[1] + ["--details", "always"]
    fast = run(argv, now)
    monkeypatch.setattr(exim, "header_fast", lambda data, message_id: None)
    monkeypatch.setattr(exim, "msglog_reasons",
                        lambda log: exim.parse_msglog(log.decode("utf-8", "replace")))
    slow = run(argv, now)
    assert fast == slow
    assert fast[0] in (0, 1, 2), fast[1]
    assert f"messages={MORE + 3};" in fast[1]
