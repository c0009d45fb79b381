"""contrib/icinga2 in a real Icinga 2: validation with the ITL, every case of every
check run by a local instance, and a master scheduling checks on an agent.

Each instance lives in a private network namespace with only loopback, its own
directories and certificates; results are read through its REST API.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import schedulers
from plugin_output import parse_perf, split_output
from scenarios import Case, Scenario
from schedulers import ITL_INCLUDES, Icinga, Netns, icinga_value

HOST = "nagios-ipc-test"


def service_name(check: str, case: Case) -> str:
    return f"{check}-{case.id}"


def case_services(scenarios: Dict[str, Scenario], tag: str,
                  extra: str = "") -> Tuple[str, Dict[str, Tuple[Scenario, Case]]]:
    """Service objects for every case, built from the contrib CheckCommands' vars."""
    commands = schedulers.check_commands()
    text: List[str] = []
    services: Dict[str, Tuple[Scenario, Case]] = {}
    for check, scenario in scenarios.items():
        command = commands[check]
        for case in scenario.cases:
            name = service_name(check, case)
            services[name] = (scenario, case)
            variables = "".join(f"  vars.{key} = {icinga_value(value)}\n"
                                for key, value in command.vars_for(case.argv(tag)).items())
            text.append(f'object Service "{name}" {{\n  host_name = "{HOST}"\n'
                        f'  check_command = "{command.name}"\n  check_interval = 1s\n'
                        f"  retry_interval = 1s\n  max_check_attempts = 1\n{extra}"
                        f"{variables}}}\n")
    return "".join(text), services


def local_config(icinga: Icinga, services: str) -> str:
    return (ITL_INCLUDES + schedulers.icinga_includes() + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Endpoint "{icinga.node}" {{ }}
object Zone "{icinga.zone}" {{ endpoints = [ "{icinga.node}" ] }}
{icinga.api_config()}
object Host "{HOST}" {{
  check_command = "dummy"
  enable_active_checks = false
}}
""" + services)


def settled(services: Dict[str, Tuple[Scenario, Case]]) -> Any:
    def ready(name: str, result: Dict[str, Any]) -> bool:
        _scenario, case = services[name]
        summary = result["output"].split("\n")[0].strip()
        return bool(re.search(case.settled or case.first_line, summary))
    return ready


@pytest.fixture(scope="module")
def local(plugins: Dict[str, Path], scenarios: Dict[str, Scenario]) -> Iterator[Tuple[
        Icinga, Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, Any]]]]:
    why = schedulers.missing_tools(schedulers.ICINGA, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-icinga-")
    netns = Netns()
    icinga = Icinga(workdir, "icinga-local", schedulers.free_ports(1)[0])
    try:
        icinga.pki(icinga)
        text, services = case_services(scenarios, "icinga")
        icinga.start(netns, local_config(icinga, text))
        results = icinga.wait_results(HOST, settled(services), list(services), timeout=30)
        yield icinga, services, results
    finally:
        netns.close()
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


def icinga_reading(stdout: str) -> Tuple[str, List[str]]:
    """What Icinga must show for this plugin output: text lines, perfdata items."""
    first, text, perf = split_output(stdout)
    return "\n".join([first.strip(), *text]).strip(), perf


# --- validation ------------------------------------------------------------------------

def test_icinga2_accepts_every_contrib_file_with_the_itl(tmp_path: Path) -> None:
    why = schedulers.missing_tools(schedulers.ICINGA)
    if why:
        pytest.skip(why)
    files = schedulers.contrib_icinga_files()
    assert files, "no contrib/icinga2/*.conf"
    icinga = Icinga(tmp_path, "validate", 5665)
    base = ITL_INCLUDES + 'object IcingaApplication "app" { }\n'
    checked = icinga.validate(base + schedulers.icinga_includes())
    assert checked.returncode == 0, schedulers.errors_of(checked.stdout + checked.stderr)
    assert "CheckCommand" in checked.stdout  # it did read objects
    for path in files:  # each CheckCommand file alone: no hidden dependency
        if "CheckCommand" in path.read_text():
            alone = icinga.validate(base + f'include "{path}"\n')
            assert alone.returncode == 0, (path, schedulers.errors_of(alone.stdout))


def test_every_check_has_a_check_command_covering_its_options() -> None:
    commands = schedulers.check_commands()
    for check in schedulers.console_scripts():
        assert check in commands, f"no CheckCommand runs {check} in contrib/icinga2/"
        command = commands[check]
        assert command.path.name == f"{check}.conf"
        assert re.search(rf'command\s*=\s*\[\s*PluginContribDir\s*\+\s*"/{check}"\s*\]',
                         command.path.read_text())
        help_text = subprocess.run([schedulers.sys.executable, str(schedulers.CHECKS / check),
                                    "--help"], capture_output=True, text=True,
                                   timeout=30).stdout
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", help_text))
        options -= {"--help", "--version"}
        missing = sorted(options - set(command.arguments))
        assert not missing, f"{command.path.name}: options without an argument: {missing}"
        for option, fields in command.arguments.items():
            assert option in options, f"{command.path.name}: {option} is not in --help"
            variable, _ = command.variable(option)
            assert variable.startswith(command.name + "_"), (option, variable)
            assert fields.get("description", "").strip('"'), f"{option}: no description"
            repeatable = re.search(re.escape(option) + r"[^\n]*\n?[^\n]*repeatable",
                                   help_text) is not None
            if repeatable:
                assert fields.get("repeat_key") == "true", f"{option} is repeatable"


# --- a running instance ----------------------------------------------------------------

@pytest.mark.parametrize("check", sorted(schedulers.console_scripts()))
def test_icinga2_runs_every_case_as_the_check_prints_it(
        check: str, local: Tuple[Icinga, Dict[str, Tuple[Scenario, Case]],
                                 Dict[str, Dict[str, Any]]]) -> None:
    _icinga, services, results = local
    cases = {name: sc for name, sc in services.items() if sc[0].check == check}
    assert cases, f"{check}: no scenario cases (tests/scenarios.py)"
    for name, (scenario, case) in cases.items():
        result = results[name]
        assert result["command"][0] == f"/usr/lib/nagios/plugins/{check}", result["command"]
        assert (result["exit_status"], result["state"]) == (case.state, case.state), result
        output = result["output"]
        assert re.search(case.first_line, output.split("\n")[0].strip()), (name, output)
        # the same command line, run directly right now: what the plugin printed
        direct = subprocess.run(result["command"], capture_output=True, text=True,
                                timeout=60, env=schedulers.CLEAN_ENV)
        assert direct.returncode == case.state and direct.stderr == "", direct
        text, perf = icinga_reading(direct.stdout)
        shown = "\n".join(line.rstrip() for line in output.strip().split("\n"))
        assert scenario.normal(shown) == scenario.normal(text), name
        assert ([scenario.normal(p) for p in result["performance_data"]]
                == [scenario.normal(p) for p in perf]), name
        for item in result["performance_data"]:
            parse_perf(item)


def test_icinga2_reads_overflow_perfdata_from_the_long_output(
        local: Tuple[Icinga, Dict[str, Tuple[Scenario, Case]],
                     Dict[str, Dict[str, Any]]]) -> None:
    """A case whose perfdata outgrows the first line: all of it reaches Icinga."""
    _icinga, services, results = local
    overflowing = [name for name, (scenario, case) in services.items()
                   if "\n" in results[name]["output"]
                   and len(results[name]["performance_data"]) > 50]
    assert overflowing, "no case overflows the first line (check_msgqueues fifty_owners)"
