"""Boot sources: /proc parsed from real captures, psutil through a stand-in module."""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from nagios_ipc import cli
from nagios_ipc.uptime import check
from nagios_ipc.uptime.source import (
    Observation,
    ParseError,
    ProcBootSource,
    PsutilBootSource,
    default_source,
    parse_boot_id,
    parse_proc_uptime,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "uptime"
LINUX = FIXTURES / "linux-6.18"


class FixedClock:
    def __init__(self, wall: float) -> None:
        self.now = wall

    def wall(self) -> float:
        return self.now


def test_proc_source_reads_the_captured_files() -> None:
    obs = ProcBootSource(str(LINUX)).observe(FixedClock(1795461658.42))
    assert obs == Observation(1795461658.42, 722.42, "35093a5b-8ca9-4b80-9a54-5820cb279494",
                              0.01, f"{LINUX}/uptime")
    assert obs.boot_time == pytest.approx(1795460936.0)


@pytest.mark.parametrize("text", ["", "abc 1", "-1.00 2", "nan 1", "inf 1"],
                         ids=["empty", "word", "negative", "nan", "infinite"])
def test_bad_proc_uptime_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="cannot parse /proc/uptime"):
        parse_proc_uptime(text)


@pytest.mark.parametrize("text", ["", "35093a5b8ca94b809a545820cb279494", "x" * 100])
def test_bad_boot_id_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="is not a UUID"):
        parse_boot_id(text)


def test_missing_proc_file_is_one_unknown_line(tmp_path: Path) -> None:
    (tmp_path / "uptime").write_text("12.5 20.1\n")  # boot_id missing: e.g. an old kernel
    source = ProcBootSource(str(tmp_path))
    build = functools.partial(check.build, source=source, clock=FixedClock(1.8e9))
    code, text = cli.execute(check.parser(), build, ["--state-file", str(tmp_path / "s")])
    assert (code, text) == (3, f"HOST_UPTIME UNKNOWN: cannot read {tmp_path}/sys/kernel/random/"
                               f"boot_id: No such file or directory; use --boot-source "
                               f"psutil\n")
    assert not (tmp_path / "s").exists()  # nothing observed, nothing saved


def fake_psutil(monkeypatch: pytest.MonkeyPatch, boot_time: Any) -> None:
    module = types.ModuleType("psutil")

    def get() -> float:
        if isinstance(boot_time, Exception):
            raise boot_time
        return float(boot_time)

    module.boot_time = get  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "psutil", module)


@pytest.mark.parametrize("boot_time,resolution", [
    (1795460936.0, 1.0),        # this machine's btime: whole seconds
    (1795460936.251, 1.0),      # BSD/macOS kern.boottime: microseconds
    (1795460940.0, 60.0),       # :00 seconds exactly: reported as minute resolution
], ids=["whole-seconds", "microseconds", "minute-rounded"])
def test_psutil_source(monkeypatch: pytest.MonkeyPatch, boot_time: float,
                       resolution: float) -> None:
    fake_psutil(monkeypatch, boot_time)
    obs = PsutilBootSource().observe(FixedClock(boot_time + 600))
    assert (obs.uptime, obs.boot_id, obs.resolution) == (pytest.approx(600), None, resolution)


def test_psutil_missing_or_failing_is_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil -> ImportError
    with pytest.raises(ParseError, match="install python3-psutil"):
        PsutilBootSource().observe(FixedClock(1.8e9))
    fake_psutil(monkeypatch, OSError("sysctl kern.boottime failed"))
    with pytest.raises(ParseError, match=r"sysctl kern\.boottime failed"):
        PsutilBootSource().observe(FixedClock(1.8e9))


def test_default_source_choice(tmp_path: Path) -> None:
    assert isinstance(default_source("auto", str(LINUX)), ProcBootSource)
    assert isinstance(default_source("auto", str(tmp_path / "none")), PsutilBootSource)
    assert isinstance(default_source("psutil", str(LINUX)), PsutilBootSource)
    assert isinstance(default_source("proc", str(tmp_path / "none")), ProcBootSource)
