"""check_mta_backlog: growth between runs, time to the CRITICAL level, stuck mail
(nagios_ipc/mta/growth.py), on the captured Postfix spool grown by copies of its own
deferred messages, with the trend's clock given."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from nagios_ipc import cli
from nagios_ipc.mta import check, postfix
from nagios_ipc.trend import Moment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mta"
SPOOL = FIXTURES / "postfix-3.7.11-spool"  # captured: 4 deferred, 1 hold, 1 maildrop
NOW = 1796492035 + 3600.0
BOOT = "0f0e0d0c-0b0a-4908-8706-050403020100"
TEMPLATE = "E/E148F1661B3"  # one of the captured deferred messages


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "queue"
    shutil.copytree(SPOOL, root)
    for queue in postfix.QUEUES:
        (root / queue).mkdir(exist_ok=True)
    return root


def grow_to(root: Path, deferred: int) -> None:
    """Copies of a captured deferred message until *deferred* are queued."""
    folder = root / "deferred" / "A"
    folder.mkdir(exist_ok=True)
    have = sum(1 for path in (root / "deferred").rglob("*") if path.is_file())
    for index in range(have, deferred):
        shutil.copy(root / "deferred" / TEMPLATE, folder / f"A{index:010X}")


def drain_to(root: Path, deferred: int) -> None:
    copies = sorted((root / "deferred" / "A").glob("*"))
    have = 4 + len(copies)
    for path in copies[:max(have - deferred, 0)]:
        path.unlink()


def run_at(boot: float, argv: List[str]) -> Tuple[int, str]:
    def build(args):  # type: ignore[no-untyped-def]
        return check.build(args, now=lambda: NOW + boot,
                           moment=lambda: Moment(BOOT, boot, NOW + boot))

    return cli.execute(check.parser(), build, argv)


def series(root: Path, counts: List[int], *extra: str, step: float = 60.0
           ) -> List[Tuple[int, str]]:
    out = []
    for index, count in enumerate(counts):
        grow_to(root, count)
        drain_to(root, count)
        out.append(run_at(1000.0 + step * index,
                          ["--mta", "postfix", "--spool-dir", str(root), "--method", "spool",
                           *extra]))
    return out


def test_first_run_has_no_growth(spool: Path) -> None:
    code, text = series(spool, [4], "--details", "always")[0]
    assert code == 0 and "growth" not in text.splitlines()[0]
    assert "growth: first sample in " in text


def test_deferred_growing_toward_the_critical_level(spool: Path) -> None:
    """+100 deferred a minute, at 204 with -c 500: the CRITICAL level (501) in 178 s,
    within the default --time-to-critical-warning of an hour: WARNING, in words."""
    outs = series(spool, [4, 104, 204], "--count-only", "-w", "none", "--details", "always")
    code, text = outs[2]
    assert code == 1, text
    first = text.splitlines()[0]
    assert first.startswith("MTA_BACKLOG WARNING: postfix: 204 deferred (+100/min for 2m), "
                            "CRITICAL level in ~3m | ")
    assert first.endswith(
        " deferred=204;;500;0 messages_growth=100 deferred_growth=100 "
        "messages_growth_maildrop=0 messages_growth_incoming=0 messages_growth_active=0 "
        "messages_growth_deferred=100 messages_growth_hold=0 messages_growth_corrupt=0 "
        "time_to_critical=178s;3600:;;0")
    assert "growth over 2m (3 samples): messages +100/min for 2m, deferred +100/min for 2m" \
        in text


def test_growth_threshold_and_capacity(spool: Path) -> None:
    outs = series(spool, [4, 34, 64], "--growth-warning", "20", "--capacity", "100",
                  "-w", "none", "--details", "never")
    code, text = outs[2]
    assert code == 2, text  # 100 messages: 66 now +30/min: full in 68 s, under 10m
    assert "time_to_full=68s;3600:;600:;0" in text
    assert "postfix: 66 messages (+30/min for 2m), capacity 100 in ~68s" in text
    assert "postfix: 64 deferred (+30/min for 2m)" in text


def test_a_drain_never_alerts(spool: Path) -> None:
    outs = series(spool, [204, 104, 54, 14], "--growth-warning", "0", "-w", "none",
                  "-c", "none", "--details", "never")
    for code, text in outs:
        assert code == 0, text
        assert "time_to_critical" not in text
    assert "deferred_growth=-" in outs[-1][1]


def test_stuck_not_slow(spool: Path) -> None:
    """The captured deferred messages stay (the count flat) while they age with the
    clock: stuck, and the long output says so."""
    outs = series(spool, [4, 4, 4], "--details", "always", "--age-warning", "none",
                  "--age-critical", "none")
    code, text = outs[2]
    assert code == 0 and "deferred_age_growth=60s" in text
    assert ("stuck, not slow: the oldest deferred postfix message aged with the clock "
            "over 2m while the deferred count stayed flat at 4: nothing of it is being "
            "delivered") in text
    # a growth threshold sees the same: the deferred hint says stuck
    code, text = series(spool, [5, 5, 5], "--details", "never", "--growth-warning=1:",
                        "--age-warning", "none", "--age-critical", "none")[2]
    assert code == 1 and text.startswith(
        "MTA_BACKLOG WARNING: postfix: 5 deferred (+0/min), stuck, not slow | ")


def test_trend_window_0_and_state_file_errors(spool: Path, tmp_path: Path) -> None:
    code, text = series(spool, [4, 104], "--trend-window", "0", "--count-only", "-w",
                        "none")[1]
    assert code == 0 and "growth" not in text
    code, text = series(spool, [4], "--state-file", str(tmp_path / "no" / "s"))[0]
    assert code == 3 and "state directory" in text.splitlines()[0]
