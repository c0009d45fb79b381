"""contrib/nagios in a real Nagios 4: `nagios4 -v` accepts it with a minimal main
config, and a foreground Nagios (interval_length=1, private network namespace)
runs every scenario case through the shipped commands; status.dat shows the
state, output and perfdata the plugin printed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
import schedulers
from plugin_output import split_output
from scenarios import Case, Scenario
from schedulers import NAGIOS4, Netns

HOST = "nagios-ipc-test"

OBJECTS = f"""
define timeperiod {{
    timeperiod_name 24x7
    alias           always
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}}
define command {{
    command_name notify-nobody
    command_line /bin/true
}}
define contact {{
    contact_name                  nobody
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-nobody
    service_notification_commands notify-nobody
}}
define host {{
    host_name             {HOST}
    address               127.0.0.1
    max_check_attempts    1
    check_period          24x7
    contacts              nobody
    notification_period   24x7
    active_checks_enabled 0
}}
"""


def commands_of(check: str) -> Dict[str, str]:
    """command_name -> command_line of contrib/nagios definitions running *check*."""
    found: Dict[str, str] = {}
    for path in sorted((schedulers.CONTRIB / "nagios").glob("*.cfg")):
        text = re.sub(r"#.*", "", path.read_text())
        for body in re.findall(r"define\s+command\s*\{(.*?)\}", text, re.S):
            fields = dict(re.findall(r"^\s*(\w+)\s+(.+?)\s*$", body, re.M))
            if fields.get("command_line", "").startswith(f"$USER1$/{check} "):
                found[fields["command_name"]] = fields["command_line"]
    return found


def services(scenarios: Dict[str, Scenario]) -> Tuple[str, Dict[str, Tuple[Scenario, Case]]]:
    text = []
    table: Dict[str, Tuple[Scenario, Case]] = {}
    for check, scenario in scenarios.items():
        command = next(iter(commands_of(check)))
        for case in scenario.cases:
            name = f"{check}-{case.id}"
            table[name] = (scenario, case)
            argument = " ".join(shlex.quote(arg) for arg in case.argv("nagios"))
            text.append(f"""define service {{
    host_name             {HOST}
    service_description   {name}
    check_command         {command}!{argument}
    max_check_attempts    1
    check_interval        1
    retry_interval        1
    check_period          24x7
    notification_period   24x7
    contacts              nobody
}}
""")
    return "".join(text), table


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NAGIOS4, "-v", str(config)], capture_output=True, text=True,
                          timeout=60, env=schedulers.CLEAN_ENV, stdin=subprocess.DEVNULL)


def test_every_check_has_a_nagios_command() -> None:
    for check in schedulers.console_scripts():
        assert commands_of(check), f"no contrib/nagios command runs $USER1$/{check}"


def test_nagios4_accepts_contrib_nagios(tmp_path: Path) -> None:
    why = schedulers.missing_tools(NAGIOS4)
    if why:
        pytest.skip(why)
    service_text = "".join(f"""define service {{
    host_name {HOST}
    service_description {name}
    check_command {name}!-v
    max_check_attempts 1
    check_interval 5
    retry_interval 1
    check_period 24x7
    notification_period 24x7
    contacts nobody
}}
""" for check in schedulers.console_scripts() for name in commands_of(check))
    config = schedulers.nagios_main_config(tmp_path, OBJECTS + service_text)
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert re.search(r"Total Warnings:\s+0", checked.stdout), checked.stdout[-3000:]
    assert re.search(r"Checked \d+ services", checked.stdout)


@pytest.fixture(scope="module")
def nagios(plugins: Dict[str, Path], scenarios: Dict[str, Scenario], netns: Netns) -> Iterator[
        Tuple[Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, str]]]]:
    why = schedulers.missing_tools(NAGIOS4, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-nagios4-")
    proc = None
    try:
        text, table = services(scenarios)
        config = schedulers.nagios_main_config(workdir, OBJECTS + text, interval_length=1)
        checked = validate(config)
        assert checked.returncode == 0, checked.stdout[-3000:]
        proc = netns.start([NAGIOS4, str(config)], workdir / "nagios.out")
        status = workdir / "var" / "status.dat"
        deadline = time.monotonic() + 40
        done: Dict[str, Dict[str, str]] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            if status.exists():
                blocks = {b.get("service_description", ""): b
                          for b in schedulers.read_status_dat(status)}
                done = {name: block for name, block in blocks.items() if name in table
                        and block.get("has_been_checked") == "1"
                        and table[name][1].is_settled(
                            block.get("plugin_output", "") + " | "
                            + block.get("performance_data", ""))}
                if set(done) == set(table):
                    break
            time.sleep(0.3)
        assert set(done) == set(table), (
            sorted(set(table) - set(done)),
            (workdir / "nagios.out").read_text()[-2000:],
            (workdir / "var" / "nagios.log").read_text()[-2000:]
            if (workdir / "var" / "nagios.log").exists() else "")
        yield table, done
    finally:
        if proc is not None:
            schedulers.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("check", sorted(schedulers.console_scripts()))
def test_nagios4_runs_every_case_as_the_check_prints_it(
        check: str, nagios: Tuple[Dict[str, Tuple[Scenario, Case]],
                                  Dict[str, Dict[str, str]]], netns: Netns) -> None:
    table, done = nagios
    names = [name for name, (scenario, _) in table.items() if scenario.check == check]
    assert names, f"{check}: no scenario cases"
    command = next(iter(commands_of(check).values()))
    for name in names:
        scenario, case = table[name]
        block = done[name]
        assert int(block["current_state"]) == case.state, (name, block)
        assert re.search(case.first_line, block["plugin_output"].strip()), (name, block)
        argv = [str(schedulers.PLUGIN_DIR / check),
                *shlex.split(command.split(" ", 1)[1].replace("$ARG1$", "")),
                *case.argv("nagios")]
        direct = subprocess.run(netns.argv(argv), capture_output=True, text=True, timeout=60,
                                env=schedulers.CLEAN_ENV)
        first, long_lines, perf = split_output(direct.stdout)
        # Nagios 4 shows a ';' of the first line as ':' (measured; the long output and
        # perfdata keep it)
        assert (scenario.normal(block["plugin_output"].strip())
                == scenario.normal(first.replace(";", ":"))), name
        shown_long = block.get("long_plugin_output", "").replace("\\n", "\n").strip()
        assert scenario.normal(shown_long) == scenario.normal("\n".join(long_lines)), name
        assert (scenario.normal(block.get("performance_data", "")).split()
                == [scenario.normal(item) for item in perf]), name
