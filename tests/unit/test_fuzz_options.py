"""Arbitrary option values never crash a check's option parser (issue 8).

For every check (setup.cfg console_scripts) and every option taking a value
(threshold ranges, durations, sizes, endpoints, paths, choices...): parsing
either succeeds or is a usage error, exit 3, with the one-line
``NAME UNKNOWN: usage error: ...`` first. Never a traceback, never exit 2
(argparse's own code, CRITICAL to a scheduler).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nagios_ipc import cli
from tests.robustness import check_modules

CHECKS = check_modules()


def options(module: Any) -> List[Tuple[str, argparse.Action]]:
    parser = module.parser()
    found = []
    for action in parser._actions:  # argparse has no public list of its options
        if action.option_strings and action.nargs != 0 and not isinstance(
                action, (argparse._HelpAction, argparse._VersionAction)):
            found.append((max(action.option_strings, key=len), action))
    return found


MODULES: Dict[str, Any] = {}
for _name, _target in CHECKS.items():
    try:
        MODULES[_name] = importlib.import_module(_target)
    except ImportError:  # an optional dependency missing on this Python: not its check
        continue

NASTY = ["", " ", "-", "--", "@", "~", ":", "::", "~:", "@~:", "10:5", "1e999", "1e3", "nan",
         "inf", "-inf", "-1", "0x10", "1_000", "--help", "-h", "\x00", "\u00e9", "\u0663",
         "|", "a|b=1", "%s%n%x", "{0}{1}", "$(reboot)", "`id`", "; rm -rf /", "\n", "9" * 5000,
         "10KB:1MB", "5m:", "@0:0", "99999999999999999999999", "-99999999999999999999:"]


def assert_parses_or_usage_error(name: str, module: Any, argv: List[str]) -> None:
    def build(args: argparse.Namespace) -> Any:
        raise _Parsed()

    try:
        code, text = cli.execute(module.parser(), build, argv)
    except _Parsed:  # pragma: no cover - execute catches Exception: see below
        return
    if "internal error: _Parsed" in text:
        return  # the options parsed; building the check is not this test's business
    assert code == 3, f"{argv!r}: exit {code}: {text!r}"
    first = text.split("\n", 1)[0]
    assert first.startswith(f"{module.NAME} UNKNOWN: usage error: "), (argv, text)
    assert "Traceback" not in text and "|" not in first, text


class _Parsed(Exception):
    pass


def test_every_check_is_here() -> None:
    assert {"check_msgqueues", "check_host_uptime"} <= set(MODULES)
    for name, module in MODULES.items():
        assert options(module), f"{name} has no options with values?"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nasty_values_for_every_option(name: str) -> None:
    module = MODULES[name]
    for option, _ in options(module):
        for value in NASTY:
            assert_parses_or_usage_error(name, module, [f"{option}={value}"])
            if not value.startswith("-"):
                assert_parses_or_usage_error(name, module, [option, value])


@pytest.mark.parametrize("name", sorted(MODULES))
@given(data=st.data())
def test_arbitrary_values_for_options(name: str, data: st.DataObject) -> None:
    module = MODULES[name]
    known = options(module)
    picks = data.draw(st.lists(st.sampled_from(known), min_size=1, max_size=3), label="options")
    argv: List[str] = []
    for option, action in picks:
        if action.choices and data.draw(st.booleans()):
            value = data.draw(st.sampled_from(list(action.choices)))
        else:
            value = data.draw(st.one_of(st.text(max_size=30), st.sampled_from(NASTY),
                                        st.from_regex(r"@?~?[0-9.]{0,6}[a-zA-Z%]{0,3}:?"
                                                      r"[0-9.]{0,6}[a-zA-Z%]{0,3}",
                                                      fullmatch=True)))
        argv.append(f"{option}={value}")
    assert_parses_or_usage_error(name, module, argv)
