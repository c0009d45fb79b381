"""contrib/nagios in a real Nagios 4: `nagios4 -v` accepts it with a minimal main
config, and a foreground Nagios (interval_length=1, private network namespace)
runs every scenario case through the shipped commands; status.dat shows the
state, output and perfdata the plugin printed.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

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


# --- an admin's definitions: shell quoting in $ARG1$, reboots that notify ---------------

# A Z85 CURVE key (40 characters) with what the shell would act on: > redirects,
# & ends a command, * ? [ ] glob, $ expands (written $$ in a Nagios check_command).
SHELL_KEY = "rq:rM>}U?@Ln&47E1%kR.o@n%Fcm*sL$@{H8]yf7"
ONE_SHOT = "nagios-ipc-one-shot"
WORKER_DIR = Path("/tmp")  # where Nagios 4's workers run commands (measured: 4.4.6)
AGE = re.compile(r"^(unread_age\w*=)\d+")


def service(name: str, command: str, attempts: str = "    max_check_attempts 3\n") -> str:
    return f"""define service {{
    host_name             {HOST}
    service_description   {name}
    check_command         {command}
{attempts}    check_interval        1
    retry_interval        1
    check_period          24x7
    notification_period   24x7
    contacts              nobody
}}
"""


@pytest.fixture
def sysv_queue() -> Iterator[str]:
    """A System V queue with 2 messages under a random key; yields its key's glob."""
    import sysv_ipc
    prefix = f"0x5a{random.randrange(0x10000):04x}"
    queue = sysv_ipc.MessageQueue(int(prefix + "01", 16), sysv_ipc.IPC_CREX, mode=0o600)
    try:
        queue.send(b"one")
        queue.send(b"two")
        yield prefix + "*"
    finally:
        queue.remove()


def test_nagios4_passes_quoted_globs_and_keys_and_makes_a_reboot_hard(
        plugins: Dict[str, Path], netns: Netns, sysv_queue: str) -> None:
    """The shipped commands with the quoting their headers show, in a real Nagios 4
    whose workers' working directory (/tmp: Nagios 4 workers chdir there) holds a
    file the glob matches: the plugin gets the glob, not the file's name, and the key
    with > & * $ (no redirect, no second command).
    And check_host_uptime after a reboot (a changed boot id in its state file) is a
    HARD WARNING with the shipped template nagios-ipc-one-shot; SOFT without it."""
    why = schedulers.missing_tools(NAGIOS4, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-nagios4-quoting-")
    proc = None
    made: List[Path] = []
    try:
        decoy = WORKER_DIR / (sysv_queue.rstrip("*") + "-decoy")  # an unquoted glob's match
        decoy.touch()
        redirected = WORKER_DIR / SHELL_KEY.split(">")[1].split("&")[0]  # an unquoted key's
        made.extend([decoy, redirected])
        # the reboot: a state file whose boot id is not this boot's
        states = {name: workdir / f"{name}.json" for name in ("one-shot", "three-attempts")}
        for state in states.values():
            first = subprocess.run([str(schedulers.PLUGIN_DIR / "check_host_uptime"),
                                    "--state-file", str(state)], capture_output=True,
                                   text=True, timeout=60, env=schedulers.CLEAN_ENV)
            assert first.returncode == 0, first.stdout
            saved = json.loads(state.read_text())
            saved["boot_id"] = "00000000-0000-4000-8000-000000000000"
            state.write_text(json.dumps(saved))
        arguments = {
            # growth off: Nagios's runs and the direct run below differ by a sample
            "glob": ("check_msgqueues",
                     f"--report-by total --trend-window 0 --key '{sysv_queue}'"),
            "key": ("check_zmq_hwm", f"--stats-endpoint ipc://{workdir}/no-stats "
                                     f"--curve-server-key '{SHELL_KEY}'"),
        }
        text = "".join(service(name, f"{command}!{argument.replace('$', '$$')}")
                       for name, (command, argument) in arguments.items())
        text += service("one-shot", f"check_host_uptime!--state-file {states['one-shot']}",
                        f"    use {ONE_SHOT}\n")
        text += service("three-attempts",
                        f"check_host_uptime!--state-file {states['three-attempts']}")
        config = schedulers.nagios_main_config(workdir, OBJECTS + text, interval_length=1)
        with config.open("a") as main:
            main.write("log_service_retries=1\n")  # log SOFT alerts too (as Debian's)
        checked = validate(config)
        assert checked.returncode == 0, checked.stdout[-3000:]
        proc = netns.start([NAGIOS4, str(config)], workdir / "nagios.out")
        status = workdir / "var" / "status.dat"
        names = [*arguments, *states]
        deadline = time.monotonic() + 30
        done: Dict[str, Dict[str, str]] = {}
        while time.monotonic() < deadline and proc.poll() is None and len(done) < len(names):
            if status.exists():
                done = {block["service_description"]: block
                        for block in schedulers.read_status_dat(status)
                        if block.get("has_been_checked") == "1"}
            time.sleep(0.3)
        assert set(names) <= set(done), (sorted(done), (workdir / "nagios.out").read_text())
        for name, (command, argument) in arguments.items():
            direct = netns.run([str(schedulers.PLUGIN_DIR / command), "-t", "10",
                                *shlex.split(argument)])
            first_line, _, perf = split_output(direct.stdout)
            block = done[name]
            assert block["plugin_output"].strip() == first_line.replace(";", ":"), (
                name, block["plugin_output"], direct.stdout)
            # the unread age of the queue grows between the two runs
            assert ([AGE.sub(r"\1N", item) for item in block.get("performance_data", "").split()]
                    == [AGE.sub(r"\1N", item) for item in perf]), name
            assert int(block["current_state"]) == direct.returncode, (name, block)
        assert "1 sysv queue of 1 owner, 2 messages" in done["glob"]["plugin_output"], done["glob"]
        assert done["glob"]["plugin_output"].startswith("MSGQUEUES OK: "), done["glob"]
        assert not redirected.exists(), "the key's > redirected the plugin's output"
        # the alerts Nagios logs (what notifications follow): HARD at once with the
        # template, SOFT attempt 1 of 3 without it; the OK of the next run then ends it
        log = workdir / "var" / "nagios.log"
        wanted = {"one-shot": "WARNING;HARD;1;", "three-attempts": "WARNING;SOFT;1;"}
        alerts: Dict[str, List[str]] = {}
        while time.monotonic() < deadline + 15:
            alerts = {name: [line.split(f";{name};", 1)[1] for line in
                             log.read_text().splitlines()
                             if f"SERVICE ALERT: {HOST};{name};" in line] for name in states}
            if all(alerts[name] for name in states):
                break
            time.sleep(0.3)
        for name, start in wanted.items():
            assert alerts[name], (name, log.read_text()[-2000:])
            assert alerts[name][0].startswith(
                start + "HOST_UPTIME WARNING: rebooted since last check"), alerts
        assert done["one-shot"]["max_attempts"] == "1", done["one-shot"]
    finally:
        if proc is not None:
            schedulers.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        for path in made:
            path.unlink(missing_ok=True)
