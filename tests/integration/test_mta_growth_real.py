"""check_mta_backlog's growth between runs against a real Postfix receiving mail at a
known rate (issue 14): its master runs in a private network namespace with only
loopback and relays to a port where nothing listens, so every message is deferred.
A sender submits 3 messages a second on an absolute schedule; the check runs every
1.2 seconds. The growth it reports is that rate within the stated tolerance."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from tests.integration.mta_real import PostfixInstance, available
from tests.integration.test_mta_real import check

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

RATE = 3.0  # messages a second


@pytest.fixture
def postfix() -> Iterator[PostfixInstance]:
    yield from PostfixInstance.running("postfix-trend")


def number(item: str) -> float:
    return float(item.split(";")[0].rstrip("s"))


def test_postfix_receiving_mail_at_a_known_rate(postfix: PostfixInstance,
                                                tmp_path: Path) -> None:
    stop = threading.Event()
    sent: List[float] = []

    def sender() -> None:
        start, tick = time.monotonic(), 0
        while not stop.wait(max(start + tick / RATE - time.monotonic(), 0)):
            tick += 1
            postfix.send("alice@probe.localdomain", [f"rcpt{tick}@example.com"])
            sent.append(time.monotonic())

    args = ["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", "spool",
            "-w", "none", "-c", "2000", "--growing-samples", "3", "--details", "always",
            "--state-file", str(tmp_path / "trend.json")]
    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # the pipeline (pickup, qmgr, smtp: refused) in steady state
        outs = []
        for index in range(5):
            if index:
                time.sleep(1.2)
            outs.append(check(args))
        count_only = check([*args[:-2], "--count-only", "--state-file",
                            str(tmp_path / "count.json")])
    finally:
        stop.set()
        thread.join(timeout=30)
    first, last = outs[0], outs[-1]
    assert first.code == 0 and "growth: first sample in " in first.stdout, first.stdout
    assert "messages_growth" not in first.perfdata
    truth = RATE * 60  # 180 a minute
    messages = number(last.perfdata["messages_growth"])
    deferred = number(last.perfdata["deferred_growth"])
    # all queues: every submitted message counts from maildrop on (15 %); deferred lags
    # the pipeline by a varying few messages (30 %)
    assert abs(messages - truth) <= 0.15 * truth, last.stdout
    assert abs(deferred - truth) <= 0.30 * truth, last.stdout
    queued = number(last.perfdata["deferred"])
    expected = (2001 - queued) / (deferred / 60)
    ttc = number(last.perfdata["time_to_critical"])
    assert abs(ttc - expected) <= 2, (ttc, expected)
    print(f"messages {messages}/min, deferred {deferred}/min (truth {truth:.0f}/min), "
          f"time to critical {ttc:.0f} s (from the measured rate {expected:.0f} s)")
    assert last.code == 1, last.stdout  # the CRITICAL level within the hour: WARNING
    assert last.summary.startswith(f"MTA_BACKLOG WARNING: postfix: {int(queued)} deferred (+")
    assert ", CRITICAL level in ~" in last.summary
    assert last.perfdata["time_to_critical"].endswith("s;3600:;;0")
    assert "growth over " in last.stdout
    # --count-only measures the same, from directory entries only (its own history:
    # one run, so a first sample)
    assert count_only.code == 0 and "growth: first sample in " in count_only.stdout


def test_postfix_drained_is_never_alerted(postfix: PostfixInstance, tmp_path: Path) -> None:
    for index in range(30):
        postfix.send("alice@probe.localdomain", [f"d{index}@example.com"])
    postfix.wait_queue(lambda q: len(q) == 30 and all(m["queue_name"] == "deferred"
                                                      for m in q))
    args = ["--mta", "postfix", "--config-dir", str(postfix.etc), "--method", "spool",
            "--count-only", "--growing-samples", "2", "--growth-warning", "0",
            "--state-file", str(tmp_path / "trend.json")]
    outs = [check(args)]
    ids = [m["queue_id"] for m in postfix.postqueue()]
    for chunk in (ids[:10], ids[10:20]):
        time.sleep(1.1)
        subprocess.run(["postsuper", "-c", str(postfix.etc), "-d", "-"],
                       input="\n".join(chunk).encode(), check=True, capture_output=True)
        outs.append(check(args))
    for out in outs:
        assert out.code == 0, out.stdout
        assert "time_to_critical" not in out.perfdata
    assert number(outs[-1].perfdata["deferred_growth"]) < 0
