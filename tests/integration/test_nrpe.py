"""contrib/nrpe in a real NRPE 4 daemon, asked by check_nrpe over v3 and v2 packets.

One nrpe (nrpe_user nagios) on 127.0.0.1 in a private network namespace, with
every shipped command (narrowed to the scenario's own data) and every scenario
case as a command. v2 packets carry 1023 bytes: state and first line must survive.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import schedulers
from plugin_output import first_line_bytes, state_word
from scenarios import Case, Scenario
from schedulers import PLUGIN_DIR, Netns, Nrpe

PLUGIN_TIMEOUT = 8  # below check_nrpe's default 10 s and NRPE's command_timeout 60 s


def shipped_check(line: str) -> str:
    return schedulers.plugin_of(line)


@pytest.fixture(scope="module")
def nrpe(plugins: Dict[str, Path], scenarios: Dict[str, Scenario], netns: Netns) -> Iterator[
        Tuple[Nrpe, Dict[str, Tuple[Scenario, List[str]]], Dict[str, Tuple[Scenario, Case]]]]:
    why = schedulers.missing_tools(schedulers.NRPE, schedulers.CHECK_NRPE,
                                   "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-nrpe-")
    commands: Dict[str, str] = {}
    shipped: Dict[str, Tuple[Scenario, List[str]]] = {}
    for name, line in schedulers.contrib_nrpe_commands().items():
        scenario = scenarios[shipped_check(line)]
        argv = scenario.narrow(name, line.split())
        commands[name] = " ".join(argv)
        shipped[name] = (scenario, argv)
    cases: Dict[str, Tuple[Scenario, Case]] = {}
    for check, scenario in scenarios.items():
        for case in scenario.cases:
            name = f"case_{check}_{case.id}"
            commands[name] = " ".join([*scenario.nagios_prefix, str(PLUGIN_DIR / check),
                                       "-t", str(PLUGIN_TIMEOUT), *case.argv("nrpe")])
            cases[name] = (scenario, case)
        # a dependency that never answers: the plugin's -t must win over check_nrpe's
        commands[f"hang_{check}"] = " ".join([str(PLUGIN_DIR / check), "-t", "2",
                                              *scenario.hang_args])
    daemon = None
    try:
        # contrib/sudoers.d: what the shipped commands need; the lines narrowed to the test
        # instances: an exact test rule, as an admin adds one for a second instance
        with schedulers.sudo_rules(list(commands.values())):
            daemon = Nrpe(netns, workdir, commands)
            yield daemon, shipped, cases
    finally:
        if daemon is not None:
            schedulers.stop(daemon.proc)
        shutil.rmtree(workdir, ignore_errors=True)


def as_nagios(netns: Netns, argv: List[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(netns.argv(["runuser", "-u", "nagios", "--", *argv]),
                          capture_output=True,
                          text=True, timeout=60, env=schedulers.CLEAN_ENV,
                          stdin=subprocess.DEVNULL)


def test_shipped_commands_have_fixed_arguments_and_nested_timeouts() -> None:
    commands = schedulers.contrib_nrpe_commands()
    checks = {shipped_check(line) for line in commands.values()}
    assert set(schedulers.console_scripts()) <= checks, "a check without contrib/nrpe"
    for name, line in commands.items():
        assert line.startswith((f"{PLUGIN_DIR}/", f"/usr/bin/sudo -n {PLUGIN_DIR}/")), (
            name, line)
        assert "$ARG" not in line and "$" not in line, (name, line)
        timeout = re.search(r"(?:^| )(?:-t|--timeout) (\d+)(?: |$)", line)
        assert timeout and int(timeout.group(1)) < 10, f"{name}: -t below check_nrpe's 10 s"
    for path in (schedulers.CONTRIB / "nrpe").glob("*.cfg"):
        assert "dont_blame_nrpe=1" not in path.read_text()


def test_shipped_commands_over_v3_and_v2(nrpe: Tuple[
        Nrpe, Dict[str, Tuple[Scenario, List[str]]], Dict[str, Tuple[Scenario, Case]]]) -> None:
    daemon, shipped, _ = nrpe
    assert shipped
    for name, (scenario, _argv) in shipped.items():
        daemon.ask(name)  # a first run: state files start, later runs are the steady state
        v3 = daemon.ask(name)
        v2 = daemon.ask(name, v2=True)
        for answer in (v3, v2):
            word = state_word(answer.returncode)
            assert word, (name, answer)
            assert answer.stdout.startswith(f"{scenario.name} {word}"), (name, answer.stdout)
            assert answer.stderr == ""
        assert v2.returncode == v3.returncode, (name, v3.stdout, v2.stdout)
        assert (scenario.normal(v2.stdout.split("\n")[0])
                == scenario.normal(v3.stdout.split("\n")[0])), name
        assert len(v2.stdout.encode()) <= 1024  # 1023 bytes and check_nrpe's newline


def test_every_case_over_v3_and_v2_as_the_nagios_user_sees_it(nrpe: Tuple[
        Nrpe, Dict[str, Tuple[Scenario, List[str]]], Dict[str, Tuple[Scenario, Case]]]) -> None:
    daemon, _, cases = nrpe
    checks = {scenario.check for scenario, _ in cases.values()}
    assert checks == set(schedulers.console_scripts())
    for name, (scenario, case) in cases.items():
        v3 = daemon.ask(name)
        for _ in range(3):  # state files: the first run differs, as documented
            if case.is_settled(v3.stdout.split("\n")[0]):
                break
            time.sleep(1.1)
            v3 = daemon.ask(name)
        v2 = daemon.ask(name, v2=True)
        command = daemon.config.read_text().split(f"command[{name}]=", 1)[1].split("\n")[0]
        direct = as_nagios(daemon.netns, command.split())
        assert (v3.returncode, v2.returncode, direct.returncode) == (case.state,) * 3, (
            name, v3.stdout[:500], v2.stdout[:500], direct.stdout[:500])
        summary = v3.stdout.split("\n")[0].split(" | ")[0]
        assert re.search(case.first_line, summary), (name, summary)
        # v3 carries the whole output: exactly what the plugin prints as nagios
        assert scenario.normal(v3.stdout.rstrip("\n")) == scenario.normal(
            direct.stdout.rstrip("\n")), name
        # v2: 1023 bytes; the first line with its perfdata must be complete in them
        assert first_line_bytes(direct.stdout) <= case.max_first_line <= 1023
        assert len(v2.stdout.encode()) <= 1024
        assert (scenario.normal(v2.stdout.split("\n")[0])
                == scenario.normal(direct.stdout.split("\n")[0])), name


def test_a_hung_dependency_is_the_plugins_unknown_not_a_socket_timeout(nrpe: Tuple[
        Nrpe, Dict[str, Tuple[Scenario, List[str]]], Dict[str, Tuple[Scenario, Case]]]) -> None:
    """Timeouts nest: the plugin's -t ends the run with its own UNKNOWN line before
    check_nrpe (-t 10) or NRPE's command_timeout give up."""
    daemon, _, cases = nrpe
    names = {scenario.check: scenario.name for scenario, _ in cases.values()}
    for check, name in names.items():
        started = time.monotonic()
        answer = daemon.ask(f"hang_{check}", timeout=10)
        took = time.monotonic() - started
        assert answer.returncode == 3, (check, answer.stdout)
        assert answer.stdout.startswith(f"{name} UNKNOWN: "), (check, answer.stdout)
        assert took < 8, f"{check}: {took:.1f}s"
