"""check_host_uptime driven through its seams: a fake host (boot source + wall clock).

Each scenario runs the check several times against one state file while the fake
host lives through time: running, clock steps, reboots. Assertions are on the
exit code and the whole first line, perfdata included.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest

from nagios_ipc import cli
from nagios_ipc.uptime import check
from nagios_ipc.uptime.check import span
from nagios_ipc.uptime.source import Observation

BOOT_A = "11111111-1111-4111-8111-111111111111"
BOOT_B = "22222222-2222-4222-8222-222222222222"
BOOT_C = "33333333-3333-4333-8333-333333333333"


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


class FakeHost:
    """A host with a wall clock and a boot; both seams of the check in one object."""

    def __init__(self, boot: str, uptime: float, boot_id: Optional[str] = BOOT_A,
                 resolution: float = 0.01) -> None:
        self.uptime = uptime
        self.now = utc(boot) + uptime
        self.boot_id = boot_id
        self.resolution = resolution

    # clock seam
    def wall(self) -> float:
        return self.now

    # boot source seam
    def observe(self, clock: FakeHost) -> Observation:
        return Observation(clock.wall(), self.uptime, self.boot_id, self.resolution, "fake")

    # what happens to the host
    def run(self, seconds: float) -> None:
        self.now += seconds
        self.uptime += seconds

    def step_clock(self, seconds: float) -> None:
        self.now += seconds

    def reboot(self, down: float, up: float, boot_id: Optional[str]) -> None:
        self.now += down + up
        self.uptime = up
        self.boot_id = boot_id


def run_check(host: FakeHost, state: Path, *argv: str) -> Tuple[int, str]:
    build = functools.partial(check.build, source=host, clock=host)
    return cli.execute(check.parser(), build, [*argv, "--state-file", str(state)])


def first(text: str) -> str:
    return text.splitlines()[0]


PERF_STEADY = ("uptime={u}s;;;0 uptime_last_period={p}s;;;0;{p} reboots=0;0;;0 "
               "downtime_last_period=0s;;;0;{p} availability=100%;;;0;100")

Step = Callable[[FakeHost], None]


def run(seconds: float) -> Step:
    return lambda host: host.run(seconds)


def step_clock(seconds: float) -> Step:
    return lambda host: host.step_clock(seconds)


def reboot(down: float, up: float, boot_id: Optional[str]) -> Step:
    return lambda host: host.reboot(down, up, boot_id)


def then(*steps: Step) -> Step:
    """Several things happen between two runs."""
    def all_of(host: FakeHost) -> None:
        for one in steps:
            one(host)
    return all_of


# (id: why the case exists, host factory, steps between runs, argv, code, first line)
SCENARIOS: List[Tuple[str, Callable[[], FakeHost], List[Step], List[str], int, str]] = [
    ("first-run-is-ok-and-says-periods-start-next-run",
     lambda: FakeHost("2026-11-11 15:02:11", 1047840), [], [], 0,
     "HOST_UPTIME OK: up 12d 3h 4m (since 2026-11-11 15:02:11 UTC), first run: period "
     "measures start with the next run | uptime=1047840s;;;0"),
    ("steady-up-5m-period-is-whole",
     lambda: FakeHost("2026-11-11 15:02:11", 1047840), [run(300)], [], 0,
     "HOST_UPTIME OK: up 12d 3h 9m (since 2026-11-11 15:02:11 UTC), up the whole last "
     "period of 5m 0s | " + PERF_STEADY.format(u=1048140, p=300)),
    ("ten-second-interval-reports-10s-not-0-or-60",
     lambda: FakeHost("2026-11-23 19:00:00", 125.0),
     [run(10), run(10), run(10)], [], 0,
     "HOST_UPTIME OK: up 2m 35s (since 2026-11-23 19:00:00 UTC), up the whole last period "
     "of 10s | " + PERF_STEADY.format(u=155, p=10)),
    ("proc-uptime-hundredths-round-to-the-second",
     lambda: FakeHost("2026-11-23 19:00:00", 59.99), [run(10.01)], [], 0,
     "HOST_UPTIME OK: up 1m 10s (since 2026-11-23 19:00:00 UTC), up the whole last period "
     "of 10s | " + PERF_STEADY.format(u=70, p=10)),
    ("reboot-fractions-up-plus-down-is-the-period",
     lambda: FakeHost("2026-11-20 07:00:00", 86400.0),
     [reboot(89.8, 270.6, BOOT_B)], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-21 07:01:29 UTC, down "
     "at most 1m 30s of the last 6m 0s | uptime=270s;;;0 uptime_last_period=270s;;;0;360 "
     "reboots=1;0;;0 downtime_last_period=90s;;;0;360 availability=75.083%;;;0;100"),
    ("fraction-of-a-second-up-rounds-down-in-text-and-perfdata",
     lambda: FakeHost("2026-11-23 19:00:00", 472.6), [], [], 0,
     "HOST_UPTIME OK: up 7m 52s (since 2026-11-23 19:00:00 UTC), first run: period measures "
     "start with the next run | uptime=472s;;;0"),
    ("reboot-between-runs-warns-once-by-default",
     lambda: FakeHost("2026-11-20 07:00:00", 3 * 86400 + 12 * 3600 + 2 * 60 + 11 - 90),
     [reboot(90, 270, BOOT_B)], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-23 19:02:11 UTC, down "
     "at most 1m 30s of the last 6m 0s | uptime=270s;;;0 uptime_last_period=270s;;;0;360 "
     "reboots=1;0;;0 downtime_last_period=90s;;;0;360 availability=75%;;;0;100"),
    ("run-after-a-reboot-is-ok-again",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [reboot(90, 270, BOOT_B), run(300)], [], 0,
     "HOST_UPTIME OK: up 9m 30s (since 2026-11-21 07:01:30 UTC), up the whole last period "
     "of 5m 0s | " + PERF_STEADY.format(u=570, p=300)),
    ("two-reboots-between-runs-look-like-one",
     # boot B lived and died unseen between the runs: nothing on the host remembers it
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [then(reboot(60, 120, BOOT_B), reboot(30, 90, BOOT_C))], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-21 07:03:30 UTC, down "
     "at most 3m 30s of the last 5m 0s | uptime=90s;;;0 uptime_last_period=90s;;;0;300 "
     "reboots=1;0;;0 downtime_last_period=210s;;;0;300 availability=30%;;;0;100"),
    ("reboots-in-consecutive-periods-each-warn",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [reboot(60, 240, BOOT_B), reboot(60, 240, BOOT_C)], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-21 07:06:00 UTC, down "
     "at most 1m 0s of the last 5m 0s | uptime=240s;;;0 uptime_last_period=240s;;;0;300 "
     "reboots=1;0;;0 downtime_last_period=60s;;;0;300 availability=80%;;;0;100"),
    ("clock-stepped-back-1h-same-boot-no-reboot-period-from-uptime",
     lambda: FakeHost("2026-11-23 10:00:00", 7200),
     [then(run(300), step_clock(-3600))], [], 0,
     "HOST_UPTIME OK: up 2h 5m 0s (since 2026-11-23 09:00:00 UTC), up the whole last period "
     "of 5m 0s | " + PERF_STEADY.format(u=7500, p=300)),
    ("clock-stepped-forward-1h-same-boot-no-reboot",
     lambda: FakeHost("2026-11-23 10:00:00", 7200),
     [then(run(300), step_clock(3600))], [], 0,
     "HOST_UPTIME OK: up 2h 5m 0s (since 2026-11-23 11:00:00 UTC), up the whole last period "
     "of 5m 0s | " + PERF_STEADY.format(u=7500, p=300)),
    ("clock-back-across-reboot-downtime-unknown-not-negative",
     lambda: FakeHost("2026-11-23 10:00:00", 7200),
     [then(reboot(60, 240, BOOT_B), step_clock(-3600))], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-23 11:01:00 UTC, "
     "downtime unknown (the clock went back across the reboot) | uptime=240s;;;0 "
     "uptime_last_period=240s;;;0 reboots=1;0;;0"),
    ("no-boot-id-ntp-step-of-5s-is-not-a-reboot",
     lambda: FakeHost("2026-11-23 10:00:00", 7200, boot_id=None, resolution=1),
     [then(run(300), step_clock(5))], [], 0,
     "HOST_UPTIME OK: up 2h 5m 0s (since 2026-11-23 10:00:05 UTC), up the whole last period "
     "of 5m 0s | " + PERF_STEADY.format(u=7500, p=300)),
    ("no-boot-id-clock-step-back-1d-is-not-a-reboot",
     lambda: FakeHost("2026-11-01 10:00:00", 10 * 86400, boot_id=None, resolution=1),
     [then(run(300), step_clock(-86400))], [], 0,
     "HOST_UPTIME OK: up 10d 0h 5m (since 2026-10-31 10:00:00 UTC), up the whole last "
     "period of 5m 0s | " + PERF_STEADY.format(u=864300, p=300)),
    ("no-boot-id-reboot-seen-as-boot-time-after-previous-run",
     lambda: FakeHost("2026-11-01 10:00:00", 10 * 86400, boot_id=None, resolution=1),
     [reboot(120, 600, None)], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-11 10:02:00 UTC, down "
     "at most 2m 0s of the last 12m 0s | uptime=600s;;;0 uptime_last_period=600s;;;0;720 "
     "reboots=1;0;;0 downtime_last_period=120s;;;0;720 availability=83.333%;;;0;100"),
    ("minute-resolution-says-about-and-hh-mm",
     lambda: FakeHost("2026-11-01 10:00:00", 86400, boot_id=None, resolution=60),
     [run(300)], [], 0,
     "HOST_UPTIME OK: up about 1d 0h 5m (since 2026-11-01 10:00 UTC, minute resolution), up "
     "the whole last "
     "period of 5m 0s | " + PERF_STEADY.format(u=86700, p=300)),
    ("minute-resolution-reboot-says-so",
     lambda: FakeHost("2026-11-01 10:00:00", 86400, boot_id=None, resolution=60),
     [reboot(120, 600, None)], [], 1,
     "HOST_UPTIME WARNING: rebooted since last check: booted 2026-11-02 10:02 UTC, minute "
     "resolution, down at most 2m 0s of the last 12m 0s | uptime=600s;;;0 "
     "uptime_last_period=600s;;;0;720 reboots=1;0;;0 downtime_last_period=120s;;;0;720 "
     "availability=83.333%;;;0;100"),
    ("recent-boot-below-w-and-c-is-critical",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [reboot(90, 270, BOOT_B)], ["-w", "30m:", "-c", "5m:"], 2,
     "HOST_UPTIME CRITICAL: rebooted since last check: booted 2026-11-21 07:01:30 UTC, down "
     "at most 1m 30s of the last 6m 0s; up only 4m 30s, less than 5m | "
     "uptime=270s;1800:;300:;0 uptime_last_period=270s;;;0;360 reboots=1;0;;0 "
     "downtime_last_period=90s;;;0;360 availability=75%;;;0;100"),
    ("max-uptime-warns-on-unpatched-host",
     lambda: FakeHost("2026-05-01 00:00:00", 200 * 86400), [], ["--max-uptime", "180d"], 1,
     "HOST_UPTIME WARNING: up 200d 0h 0m (since 2026-05-01 00:00:00 UTC), more than 180d, "
     "first run: period measures start with the next run | uptime=17280000s;15552000;;0"),
    ("max-uptime-joins-w-start",
     lambda: FakeHost("2026-11-01 00:00:00", 86400), [], ["-w", "30m:", "--max-uptime", "180d"],
     0, "HOST_UPTIME OK: up 1d 0h 0m (since 2026-11-01 00:00:00 UTC), first run: period "
        "measures start with the next run | uptime=86400s;1800:15552000;;0"),
    ("reboot-warning-off-reboot-is-ok",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [reboot(90, 270, BOOT_B)], ["--reboots-warning", "none"], 0,
     "HOST_UPTIME OK: rebooted since last check: booted 2026-11-21 07:01:30 UTC, down at "
     "most 1m 30s of the last 6m 0s | uptime=270s;;;0 uptime_last_period=270s;;;0;360 "
     "reboots=1;;;0 downtime_last_period=90s;;;0;360 availability=75%;;;0;100"),
    ("availability-critical-names-the-percentage",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [reboot(90, 270, BOOT_B)], ["--availability-critical", "99:"], 2,
     "HOST_UPTIME CRITICAL: rebooted since last check: booted 2026-11-21 07:01:30 UTC, down "
     "at most 1m 30s of the last 6m 0s, available 75%, less than 99% | uptime=270s;;;0 "
     "uptime_last_period=270s;;;0;360 reboots=1;0;;0 downtime_last_period=90s;;;0;360 "
     "availability=75%;;99:;0;100"),
    ("boot-source-changed-restarts-the-period",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [then(run(60), lambda h: setattr(h, "boot_id", None))], [], 0,
     "HOST_UPTIME OK: up 1d 0h 1m (since 2026-11-20 07:00:00 UTC), first run: period "
     "measures start with the next run (the previous run used another boot source; period "
     "measures start with the next run) | uptime=86460s;;;0"),
    ("same-boot-id-but-uptime-shrank-is-foreign-state",
     lambda: FakeHost("2026-11-20 07:00:00", 86400),
     [lambda h: setattr(h, "uptime", 100.0)], [], 0,
     "HOST_UPTIME OK: up 1m 40s (since 2026-11-21 06:58:20 UTC), first run: period measures "
     "start with the next run (the state says this boot was up 86400s at the previous run, "
     "more than now: state from another host? period measures start with the next run) | "
     "uptime=100s;;;0"),
]


@pytest.mark.parametrize("case,make,steps,argv,code,line", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenario(tmp_path: Path, case: str, make: Callable[[], FakeHost], steps: List[Step],
                  argv: List[str], code: int, line: str) -> None:
    host = make()
    state = tmp_path / "state.json"
    result = run_check(host, state, *argv)
    for step in steps:
        step(host)
        result = run_check(host, state, *argv)
    assert (result[0], first(result[1])) == (code, line)
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600


def test_clock_step_is_named_in_long_output(tmp_path: Path) -> None:
    host = FakeHost("2026-11-23 10:00:00", 7200)
    run_check(host, tmp_path / "s")
    host.run(300)
    host.step_clock(-3600)
    code, text = run_check(host, tmp_path / "s", "--details", "always")
    assert code == 0
    assert ("wall clock stepped -1h 0m 0s between the runs; the period is measured on the "
            "uptime, which clock steps do not move") in text.splitlines()


def test_reboot_long_output_explains_the_bounds(tmp_path: Path) -> None:
    host = FakeHost("2026-11-20 07:00:00", 86400)
    run_check(host, tmp_path / "s")
    host.reboot(90, 270, BOOT_B)
    code, text = run_check(host, tmp_path / "s")
    assert code == 1
    assert text.splitlines()[1:] == [
        f"boot: 2026-11-21 07:01:30 UTC, up 270.00s (from fake, boot id {BOOT_B})",
        f"previous run: 2026-11-21 07:00:00 UTC, boot 2026-11-20 07:00:00 UTC, boot id {BOOT_A}",
        "reboots: at least 1 (boot id changed); more reboots between two runs look the same "
        "as one",
        "down at most 1m 30s: last seen up 2026-11-21 07:00:00 UTC (previous run), up again "
        "since 2026-11-21 07:01:30 UTC; it went down some time in between",
        f"state file: {tmp_path / 's'}",
    ]


@pytest.mark.parametrize("content,why", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8 text"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"wall": 1}', "unusable (no 'uptime')"),
    (b'{"wall": "x", "uptime": 1, "resolution": 1, "boot_id": null, "source": "s"}',
     "unusable ('wall' is not a non-negative number)"),
], ids=["garbage", "not-utf8", "json-not-object", "missing-key", "wrong-type"])
def test_corrupt_state_is_unknown_once_and_set_aside(tmp_path: Path, content: bytes,
                                                     why: str) -> None:
    """UNKNOWN, not "first run" OK: the lost state could have shown a reboot. The file
    is kept aside for a look, this run's state is saved, the next run measures."""
    state = tmp_path / "state.json"
    state.write_bytes(content)
    host = FakeHost("2026-11-23 10:00:00", 7200)
    code, text = run_check(host, state)
    assert (code, text.splitlines()[0]) == (
        3, f"HOST_UPTIME UNKNOWN: state file {state} was {why}: moved aside to "
           f"{state}.corrupt; the next runs measure afresh")
    assert Path(f"{state}.corrupt").read_bytes() == content
    host.run(60)
    code, text = run_check(host, state)
    assert (code, first(text).split(" | ")[0]) == (
        0, "HOST_UPTIME OK: up 2h 1m 0s (since 2026-11-23 10:00:00 UTC), up the whole last "
           "period of 1m 0s")
    assert json.loads(state.read_text())["boot_id"] == BOOT_A


def test_unwritable_state_dir_is_unknown_with_the_fix(tmp_path: Path) -> None:
    # works as root too: the "directory" is a regular file
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, text = run_check(FakeHost("2026-11-23 10:00:00", 7200), blocker / "state.json")
    assert code == 3
    assert text == (f"HOST_UPTIME UNKNOWN: cannot open lock file {blocker}/state.json.lock: "
                    f"Not a directory; give --state-file a path in a directory this user "
                    f"(uid {os.getuid()}) owns and can write, or fix the permissions of "
                    f"{blocker}\n")


def test_missing_state_dir_given_by_user_is_unknown(tmp_path: Path) -> None:
    code, text = run_check(FakeHost("2026-11-23 10:00:00", 7200), tmp_path / "no" / "s.json")
    assert (code, text) == (3, f"HOST_UPTIME UNKNOWN: state directory {tmp_path}/no does not "
                               f"exist; create it or give --state-file elsewhere\n")


def test_default_state_file_per_set_of_options(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAGIOS_IPC_STATE_DIR", str(tmp_path))
    host = FakeHost("2026-11-23 10:00:00", 7200)
    build = functools.partial(check.build, source=host, clock=host)
    for argv in ([], ["-t", "5", "-v"], ["-w", "30m:"], ["--max-uptime", "180d"]):
        assert cli.execute(check.parser(), build, argv)[0] == 0
    # -t/-v do not change the meaning: 3 instances, 3 files
    assert len(list(tmp_path.glob("check_host_uptime-*.json"))) == 3


@pytest.mark.parametrize("argv,text", [
    (["-w", "30m:1h", "--max-uptime", "180d"],
     "HOST_UPTIME UNKNOWN: usage error: -w already has an upper end; give either -w "
     "START:END or -w START: --max-uptime END\n"),
    (["-w", "30m:", "--max-uptime", "5m"],
     "HOST_UPTIME UNKNOWN: usage error: --max-uptime 5m is below the start of -w (30m)\n"),
], ids=["max-uptime-and-w-end", "max-uptime-below-w-start"])
def test_conflicting_options_are_unknown(tmp_path: Path, argv: List[str], text: str) -> None:
    assert run_check(FakeHost("2026-11-23 10:00:00", 7200), tmp_path / "s", *argv) == (3, text)


@pytest.mark.parametrize("argv", [["-w", "30x:"], ["--reboots-warning", "a"],
                                  ["--boot-source", "sysctl"], ["--availability-warning", "x"]])
def test_usage_errors_exit_3(tmp_path: Path, argv: List[str]) -> None:
    code, text = run_check(FakeHost("2026-11-23 10:00:00", 7200), tmp_path / "s", *argv)
    assert code == 3 and text.startswith("HOST_UPTIME UNKNOWN: usage error: ")


def test_help_documents_every_perfdata_label() -> None:
    code, text = cli.execute(check.parser(), check.build, ["--help"])
    assert code == 0
    for label in ("uptime", "uptime_last_period", "reboots", "downtime_last_period",
                  "availability"):
        assert f"\n  {label} " in text


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (10, "10s"), (90, "1m 30s"), (300, "5m 0s"), (3600, "1h 0m 0s"),
    (1047840, "12d 3h 4m"), (200 * 86400, "200d 0h 0m"), (-5, "0s"), (59.6, "1m 0s"),
])
def test_span(seconds: float, text: str) -> None:
    assert span(seconds) == text
