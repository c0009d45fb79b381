"""The plugin guidelines, checked over every check in setup.cfg with its real data.

Every console script must have a scenario (tests/scenarios.py); each case runs as
a scheduler would (no terminal, clean environment) under LC_ALL=C and a comma-decimal
locale, as root and as the nagios user. Threshold ranges are checked against
Monitoring::Plugin::Range itself (Debian libmonitoring-plugin-perl).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Dict, List, Optional, Tuple

import pytest
import schedulers
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_output import (PerfError, RefRange, first_line_bytes, is_ascii_printable,
                           parse_perf, perf_state, split_output, state_word)
from scenarios import SCENARIOS, Case, Scenario
from schedulers import Netns

from nagios_ipc import __version__
from nagios_ipc.units import parse_range

CHECKS = sorted(schedulers.console_scripts())
COMMA_LOCALE = "de_DE.UTF-8"
PERL_RANGE = "/usr/share/perl5/Monitoring/Plugin/Range.pm"


def run(check: str, args: List[str], locale: str = "C", user: Optional[str] = None,
        timeout: float = 60, netns: Optional[Netns] = None) -> Tuple[int, str, str, float]:
    """The check as a scheduler runs it: no tty, stdin closed, a minimal environment;
    in *netns* when it looks at a scenario's data (socket tables are per namespace)."""
    argv = [os.fspath(schedulers.sys.executable), str(schedulers.CHECKS / check), *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    if netns is not None:
        argv = netns.argv(argv)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": locale, "LANG": locale}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def settled_run(scenario: Scenario, case: Case, tag: str, netns: Netns, locale: str = "C",
                user: Optional[str] = None) -> Tuple[int, str, str, float]:
    """Run *case*; state-keeping checks say 'first run' once, then the steady state."""
    outcome = run(scenario.check, case.argv(tag), locale, user, netns=netns)
    for _ in range(3):
        if case.is_settled(outcome[1].split("\n")[0]):
            break
        time.sleep(1.1)
        outcome = run(scenario.check, case.argv(tag), locale, user, netns=netns)
    return outcome


def test_every_check_has_a_scenario() -> None:
    assert CHECKS, "no console_scripts in setup.cfg"
    missing = sorted(set(CHECKS) - set(SCENARIOS))
    assert not missing, f"checks without an entry in tests/scenarios.py: {missing}"
    assert not set(SCENARIOS) - set(CHECKS), "scenarios for checks setup.cfg does not have"
    for check in CHECKS:
        assert (schedulers.CHECKS / check).is_file(), f"no checks/{check} script"


def test_locale_with_comma_decimals_is_installed() -> None:
    if os.getuid() != 0:
        pytest.skip("tests/provision/locales.sh installs it as root")
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
    assert "de_DE.utf8" in out.split(), "run tests/provision/locales.sh"
    done = subprocess.run(["/usr/bin/python3", "-c", "import locale; locale.setlocale("
                           "locale.LC_ALL, ''); print(locale.localeconv()['decimal_point'])"],
                          capture_output=True, text=True, env={"LC_ALL": COMMA_LOCALE})
    assert done.stdout.strip() == ","


# --- the reserved options, usage errors --------------------------------------------------

@pytest.mark.parametrize("check", CHECKS)
def test_help_and_version_exit_0_on_stdout(check: str) -> None:
    for option in ("-h", "--help"):
        code, out, err, _ = run(check, [option])
        assert (code, err) == (0, ""), (option, out)
        assert out.startswith(f"usage: {check} ") and "--timeout" in out and "-V" in out
    for option in ("-V", "--version"):
        code, out, err, _ = run(check, [option])
        assert (code, out, err) == (0, f"{check} {__version__} (nagios_ipc)\n", "")


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("args", [["--no-such-option"], ["-t", "soon"], ["-t"],
                                  ["--warning"], ["positional-argument"],
                                  ["-w", "10:5"], ["-c", "1e3"]],
                         ids=["unknown", "bad-timeout", "no-timeout-value", "no-value",
                              "positional", "reversed-range", "exponent"])
def test_usage_errors_exit_3_with_usage_on_stdout(check: str, args: List[str]) -> None:
    code, out, err, _ = run(check, args)
    assert err == ""
    assert code == 3, (args, out)
    first = out.split("\n")[0]
    assert re.match(r"^[A-Z_]+ UNKNOWN: ", first), out
    assert is_ascii_printable(first)
    if "usage error" in first:
        assert f"usage: {check}" in out


# --- every case of every check, with its real data ------------------------------------

@pytest.mark.parametrize("check", CHECKS)
def test_cases_follow_the_guidelines_under_any_locale(
        check: str, scenarios: Dict[str, Scenario], netns: Netns) -> None:
    scenario = scenarios[check]
    assert scenario.cases
    for case in scenario.cases:
        outputs = {}
        for locale in ("C", COMMA_LOCALE):
            code, out, err, _ = settled_run(scenario, case, "locales", netns, locale)
            assert err == "", (case.id, locale, err)
            assert code == case.state, (case.id, locale, out[:600])
            outputs[locale] = scenario.normal(out)
            first = out.split("\n")[0]
            assert is_ascii_printable(first), (case.id, first)
            assert re.match(rf"^{scenario.name} {state_word(code)}(: |$)", first), first
            summary, _, perf = split_output(out)
            assert re.search(case.first_line, summary.split(" | ")[0]), (case.id, summary)
            assert first_line_bytes(out) <= case.max_first_line <= 1000, case.id
            parsed = []
            for item in perf:
                try:
                    parsed.append(parse_perf(item))
                except PerfError as exc:
                    pytest.fail(f"{case.id} ({locale}): {exc}")
            labels = [p.label for p in parsed]
            assert len(set(labels)) == len(labels), f"{case.id}: a label twice"
            assert len({label[:19] for label in labels}) == len(labels), (
                f"{case.id}: labels not unique in their first 19 characters")
            by_label = {p.label: p for p in parsed}
            for label, (warn, crit) in case.thresholds.items():
                assert label in by_label, (case.id, label, sorted(by_label)[:20])
                assert (by_label[label].warn, by_label[label].crit) == (warn, crit), (
                    case.id, label, by_label[label])
            worst = max((perf_state(p) for p in parsed), default=0)
            if case.perf_explains_state:
                assert worst == code, (case.id, [p for p in parsed if perf_state(p)])
            else:
                assert worst <= code, case.id
        assert outputs["C"] == outputs[COMMA_LOCALE], case.id


@pytest.mark.parametrize("check", CHECKS)
def test_cases_as_the_nagios_user(check: str, scenarios: Dict[str, Scenario],
                                  netns: Netns) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to become nagios")
    scenario = scenarios[check]
    for case in scenario.cases:
        code, out, err, _ = settled_run(scenario, case, "nagios-user", netns, user="nagios")
        assert err == ""
        first = out.split("\n")[0]
        if code == 3:  # allowed only as one clear line naming cause and fix
            assert re.match(rf"^{scenario.name} UNKNOWN: .{{20,}}", first), out
        else:
            assert code == case.state, (case.id, out[:600])
            assert re.search(case.first_line, first.split(" | ")[0]), (case.id, first)


@pytest.mark.parametrize("check", CHECKS)
def test_timeout_against_a_hung_dependency_names_it(
        check: str, scenarios: Dict[str, Scenario], netns: Netns) -> None:
    scenario = scenarios[check]
    code, out, err, took = run(check, ["-t", "1", *scenario.hang_args], netns=netns)
    assert (code, err) == (3, ""), out
    assert took < 2.5, f"-t 1 took {took:.1f}s"
    first = out.split("\n")[0]
    assert first.startswith(f"{scenario.name} UNKNOWN: "), first
    assert re.search(scenario.hang_says, first), first  # names what hung


# --- threshold semantics: Monitoring::Plugin::Range is the reference ----------------------

def perl_verdicts(pairs: List[Tuple[str, float]]) -> List[str]:
    script = ("use Monitoring::Plugin::Range;\n"
              "while (my $line = <STDIN>) { chomp $line; my ($r, $v) = split / /, $line;\n"
              "  my $range = Monitoring::Plugin::Range->parse_range_string($r);\n"
              "  print defined $range ? ($range->check_range($v) ? 'alert' : 'ok') : "
              "'invalid', \"\\n\"; }\n")
    done = subprocess.run(["perl", "-e", script], input="".join(
        f"{r} {v!r}\n" for r, v in pairs), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


NUMBERS = st.one_of(st.integers(-50, 50).map(str),
                    st.decimals(-50, 50, places=2, allow_nan=False).map(str))
RANGES = st.one_of(
    NUMBERS,
    NUMBERS.map(lambda n: f"{n}:"),
    NUMBERS.map(lambda n: f"~:{n}"),
    st.tuples(NUMBERS, NUMBERS).map(lambda p: f"{p[0]}:{p[1]}"),
).flatmap(lambda r: st.sampled_from([r, "@" + r]))
VALUES = st.one_of(st.integers(-60, 60).map(float),
                   st.floats(-60, 60, allow_nan=False).map(lambda f: round(f, 2)))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(RANGES, VALUES), min_size=40, max_size=80))
def test_ranges_agree_with_monitoring_plugin_range(pairs: List[Tuple[str, float]]) -> None:
    if not os.path.exists(PERL_RANGE):
        pytest.skip("libmonitoring-plugin-perl is not installed")
    for (text, value), verdict in zip(pairs, perl_verdicts(pairs)):
        try:
            reference = RefRange(text)
        except ValueError:
            assert verdict == "invalid", (text, value)
            with pytest.raises(ValueError):
                parse_range(text)
            continue
        assert ("alert" if reference.alert(value) else "ok") == verdict, (text, value)
        ours = parse_range(text)  # what every check's -w/-c and --*-warning use
        assert (not ours.match(value)) == reference.alert(value), (text, value)
