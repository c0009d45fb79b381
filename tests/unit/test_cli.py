"""The shared run-time: exit codes, usage errors, timeouts, output layout."""

from __future__ import annotations

import argparse
import time
from typing import Iterator, List

import nagiosplugin
import pytest

from nagios_ipc import cli
from nagios_ipc.proc import CommandError, run_command
from nagios_ipc.units import range_type


class Numbers(nagiosplugin.Resource):
    def __init__(self, values: List[float], sleep: float = 0) -> None:
        self.values = values
        self.sleep = sleep

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        if self.sleep:
            self.doing = "counting sheep"
            time.sleep(self.sleep)
        for index, value in enumerate(self.values):
            yield nagiosplugin.Metric(f"n{index}", value, context="n", min=0)


class Detail(nagiosplugin.Summary):
    def verbose(self, results: nagiosplugin.Results) -> List[str]:
        return [f"item {r.metric.name} | {r.metric.value:g}" for r in results.results]


def parser() -> cli.PluginParser:
    p = cli.PluginParser("check_toy", "TOY", "A toy check.")
    p.add_argument("values", nargs="*", type=float)
    p.add_argument("-w", "--warning", type=range_type("count"))
    p.add_argument("--sleep", type=float, default=0)
    p.add_argument("--boom", action="store_true")
    return p


def build(args: argparse.Namespace) -> nagiosplugin.Check:
    if args.boom:
        raise KeyError("kaputt")
    return nagiosplugin.Check(Numbers(args.values, args.sleep),
                              nagiosplugin.ScalarContext("n", args.warning), Detail())


def run(*argv: str) -> tuple:  # type: ignore[type-arg]
    return cli.execute(parser(), build, list(argv))


def test_ok_line_and_perfdata() -> None:
    code, text = run("1", "2.5")
    assert code == 0
    assert text == "TOY OK: n0 is 1 | n0=1;;;0 n1=2.5;;;0\n"
    assert run()[1] == "TOY UNKNOWN: no check results\n"  # no metric at all is not OK


def test_warning_shows_long_output_by_default_and_escapes_pipes() -> None:
    code, text = run("-w", "2", "1", "3")
    assert code == 1
    assert text.splitlines()[1:] == ["item n0 / 1", "item n1 / 3"]


def test_details_never_and_always() -> None:
    assert run("--details", "never", "-w", "2", "3")[1].count("\n") == 1
    assert "item n0" in run("--details", "always", "1")[1]


@pytest.mark.parametrize("argv", [["--nope"], ["-w", "5:1"], ["-w"], ["-t", "soon"],
                                  ["--details", "sometimes"], ["x"]])
def test_usage_errors_exit_3_on_stdout(argv: List[str]) -> None:
    code, text = run(*argv)
    assert code == 3
    assert text.startswith("TOY UNKNOWN: usage error: ")
    assert "usage: check_toy" in text


def test_help_and_version_exit_0() -> None:
    code, text = run("--help")
    assert code == 0 and "A toy check." in text and "--details" in text
    code, text = run("-V")
    assert code == 0 and text.startswith("check_toy ")


def test_internal_error_is_one_unknown_line() -> None:
    code, text = run("--boom")
    assert (code, text) == (3, "TOY UNKNOWN: internal error: KeyError: 'kaputt'\n")
    code, text = run("--boom", "-vvv")
    assert code == 3 and "Traceback" in text


def test_timeout_names_what_was_running() -> None:
    started = time.monotonic()
    code, text = run("-t", "0.3", "--sleep", "5", "1")
    assert time.monotonic() - started < 2
    assert code == 3
    assert text == ("TOY UNKNOWN: timed out after 0.3s while counting sheep; "
                    "raise -t or find what is slow\n")


def test_long_perfdata_moves_after_long_output() -> None:
    values = [str(v) for v in range(200)]
    _, text = run("--details", "never", *values)
    lines = text.splitlines()
    assert len(lines[0]) <= cli.FIRST_LINE_MAX
    assert len(lines) == 2 and lines[1].startswith("|") and not lines[1].startswith("| ")
    assert lines[1].endswith(" n199=199;;;0")


def test_overflow_perfdata_is_one_last_line_after_the_long_output() -> None:
    """Icinga 2 reads perfdata only after a '|' on a line, and a space after the
    bar would become part of the first label."""
    head = [f"label_{n}=1;;;0" for n in range(40)]
    tail = [f"more_{n}=2c;1;2;0;9" for n in range(100)]
    text = cli.layout("TOY OK: fine", ["detail one", "detail two"], head + tail)
    lines = text.rstrip("\n").split("\n")
    assert len(lines[0].encode()) <= cli.FIRST_LINE_MAX
    assert lines[1:3] == ["detail one", "detail two"]
    assert len(lines) == 4 and lines[3].startswith("|") and lines[3][1] != " "
    on_first = lines[0].split(" | ", 1)[1].split(" ")
    assert on_first + lines[3][1:].split(" ") == head + tail


def test_perfdata_that_fits_stays_on_the_first_line() -> None:
    text = cli.layout("TOY OK: fine", ["detail"], ["a=1", "b=2"])
    assert text == "TOY OK: fine | a=1 b=2\ndetail\n"


def test_run_command_timeout_kills_group() -> None:
    with pytest.raises(CommandError, match="did not finish"):
        run_command(["/bin/sh", "-c", "sleep 30 & sleep 30"], timeout=0.3)


def test_run_command_missing_binary() -> None:
    with pytest.raises(CommandError, match="not found"):
        run_command(["/nonexistent/ipcs"])


def test_run_command_output_cap() -> None:
    with pytest.raises(CommandError, match="printed more than"):
        run_command(["/usr/bin/yes"], max_output=1024 * 1024, timeout=5)
