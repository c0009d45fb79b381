"""contrib/icinga2/director/ in a real Icinga Director (1.10, Debian 12), as a user runs it.

One private MariaDB + Director for the module (tests/director.py), in the module's
network namespace: the basket restored on the empty Director and again (an update),
every check's command rendered by ``icingacli director command show``, the data
fields, and the config Director renders for the basket's objects (plus a host and one
service per template) validated and run by a real Icinga 2 with the stock ITL.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import director
import pytest
import schedulers
from scenarios import Case, Scenario
from schedulers import ITL_INCLUDES, Icinga, Netns

BASKET = schedulers.CONTRIB / "icinga2" / "director" / "nagios_ipc-basket.json"
STATE_DIR = Path("/var/lib/icinga2")  # the templates' default state directory
COUNTS = {  # what a restore must leave: one row per basket object, never two
    "commands": "SELECT COUNT(*) FROM icinga_command WHERE object_type = 'object'",
    "templates": "SELECT COUNT(*) FROM icinga_service WHERE object_type = 'template'",
    "arguments": "SELECT COUNT(*) FROM icinga_command_argument",
    "datafields": "SELECT COUNT(*) FROM director_datafield",
    "command fields": "SELECT COUNT(*) FROM icinga_command_field",
    "template vars": "SELECT COUNT(*) FROM icinga_service_var",
}


def basket() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(BASKET.read_text())
    return data


def help_text(check: str) -> str:
    return subprocess.run([sys.executable, str(schedulers.CHECKS / check), "--help"],
                          capture_output=True, text=True, timeout=30,
                          env={**schedulers.CLEAN_ENV, "COLUMNS": "100"}).stdout


def help_options(text: str) -> Tuple[List[str], List[str], List[str]]:
    """--help read as a user reads it: the long option of every entry of the option
    sections, the flags (no metavar) and the repeatable ones (their text says so)."""
    options: Dict[str, Tuple[bool, str]] = {}  # option -> (takes a value, its text)
    for chunk in re.split(r"\n\s*\n", text):
        header, *lines = chunk.split("\n")
        if (header.startswith(" ") or not header.endswith(":") or not lines
                or not all(re.match(r"  -| {4,}\S", line) for line in lines)):
            continue  # not an option section (description, perfdata, examples)
        current = ""
        for line in lines:
            entry = re.match(r"  (-\S.*?)(?: {2,}(.*))?$", line)
            if entry:
                spec = [part.split() for part in entry.group(1).split(", ")]
                current = next(words[0] for words in spec if words[0].startswith("--"))
                options[current] = (len(spec[-1]) > 1, entry.group(2) or "")
            else:
                value, said = options[current]
                options[current] = (value, f"{said} {line.strip()}".strip())
    options.pop("--help", None)
    options.pop("--version", None)
    flags = [option for option, (value, _said) in options.items() if not value]
    repeatable = [option for option, (_value, said) in options.items() if "repeatable" in said]
    return sorted(options), sorted(flags), sorted(repeatable)


@pytest.fixture(scope="module")
def restored(netns: Netns) -> Iterator[Tuple[director.Director, List[Dict[str, int]]]]:
    """A Director with the basket restored twice; the row counts after each restore
    (the empty Director's first)."""
    why = director.missing()
    if why:
        pytest.skip(why)
    text = BASKET.read_text()
    with director.running_director(netns) as instance:
        counts = [{name: int(instance.rows(query)[0][0]) for name, query in COUNTS.items()}]
        for _ in range(2):
            instance.cli(["director", "basket", "restore"], stdin=text)
            counts.append({name: int(instance.rows(query)[0][0])
                           for name, query in COUNTS.items()})
        yield instance, counts


def test_basket_restores_on_an_empty_director_and_again_as_an_update(
        restored: Tuple[director.Director, List[Dict[str, int]]]) -> None:
    _instance, (empty, first, second) = restored
    data = basket()
    assert empty == {name: 0 for name in COUNTS}, empty
    expected = {
        "commands": len(data["Command"]),
        "templates": len(data["ServiceTemplate"]),
        "arguments": sum(len(c["arguments"]) for c in data["Command"].values()),
        "datafields": len(data["Datafield"]),
        "command fields": sum(len(c["fields"]) for c in data["Command"].values()),
        "template vars": sum(len(t["vars"]) for t in data["ServiceTemplate"].values()),
    }
    assert first == expected
    assert second == first  # updated in place: no second field, argument or object


def test_basket_brings_a_command_and_a_template_for_every_check() -> None:
    data = basket()
    commands = schedulers.check_commands()
    plugins = {c["command"].rsplit("/", 1)[1]: name for name, c in data["Command"].items()}
    assert set(plugins) == set(schedulers.console_scripts())
    for check, name in plugins.items():
        assert name == commands[check].name, (check, name)
        templates = [t for t in data["ServiceTemplate"].values()
                     if t["check_command"] == name]
        assert len(templates) == 1, (check, templates)
    # nothing the user's Director may lack: no zones, time periods, hosts, endpoints
    assert set(data) == {"Datafield", "Command", "ServiceTemplate"}
    assert not re.search(r'"(zone|check_period|host|endpoint|command_endpoint)"',
                         BASKET.read_text())


@pytest.mark.parametrize("check", sorted(schedulers.console_scripts()))
def test_command_show_carries_every_help_option(
        check: str, restored: Tuple[director.Director, List[Dict[str, int]]]) -> None:
    instance, _counts = restored
    command = schedulers.check_commands()[check]
    options, flags, repeatable = help_options(help_text(check))
    shown = instance.cli(["director", "command", "show", command.name]).stdout
    assert f'object CheckCommand "{command.name}"' in shown
    assert f'command = [ PluginContribDir + "/{check}" ]' in shown
    rendered = dict(re.findall(r'^ {8}"(--[\w-]+)" = \{\n(.*?)^ {8}\}', shown, re.M | re.S))
    assert sorted(rendered) == options, shown
    for option, body in rendered.items():
        variable, flag = command.variable(option)  # the same name as contrib/icinga2
        key = "set_if" if option in flags else "value"
        assert f'{key} = "${variable}$"' in body, (option, body)
        assert flag == (option in flags), option
        assert ("repeat_key = true" in body) == (option in repeatable), (option, body)
        assert re.search(r'description = "[A-Z].{10,}"', body), (option, body)
    # the rendered command is valid Icinga 2 config next to the ITL
    checked = Icinga(instance.root / f"validate-{check}", "validate", 5665).validate(
        ITL_INCLUDES + 'object IcingaApplication "app" { }\n' + shown)
    assert checked.returncode == 0, schedulers.errors_of(checked.stdout + checked.stderr)


def test_every_data_field_has_a_description_and_a_type(
        restored: Tuple[director.Director, List[Dict[str, int]]]) -> None:
    instance, _counts = restored
    rows = instance.rows("SELECT f.varname, f.caption, f.datatype, HEX(f.description), "
                         "c.object_name FROM director_datafield f JOIN icinga_command_field "
                         "l ON l.datafield_id = f.id JOIN icinga_command c ON c.id = "
                         "l.command_id ORDER BY f.varname")
    fields = {row[0]: (row[1], row[2], bytes.fromhex(row[3]).decode(), row[4]) for row in rows}
    kinds = {"Boolean", "Array", "String", "Number"}
    for check, command in schedulers.check_commands().items():
        options, flags, repeatable = help_options(help_text(check))
        for option in options:
            variable, _flag = command.variable(option)
            assert variable in fields, (check, variable)
            caption, datatype, description, owner = fields[variable]
            assert owner == command.name
            assert caption and len(description) > 10, (variable, description)
            kind = datatype.rsplit("DataType", 1)[1]
            assert kind in kinds, datatype
            if option in flags:
                assert kind == "Boolean", variable
            elif option in repeatable:
                assert kind == "Array", variable
            else:
                assert kind in ("String", "Number"), variable
    assert len(fields) == len(rows)  # one field per variable, each on its command


# --- what Director renders, in a running Icinga 2 ---------------------------------------

def first_line_of(result: Dict[str, Any]) -> str:
    return (result["output"].split("\n")[0].strip() + " | "
            + " ".join(result["performance_data"] or []))


def rendered_files(instance: director.Director) -> Dict[str, str]:
    """Render the Director's config and read its files back (path -> text)."""
    out = instance.cli(["director", "config", "render"]).stdout
    checksum = re.search(r"checksum ([0-9a-f]{40})", out)
    assert checksum, out
    rows = instance.rows(
        "SELECT f.file_path, HEX(g.content) FROM director_generated_config_file f JOIN "
        "director_generated_file g ON g.checksum = f.file_checksum WHERE "
        f"f.config_checksum = UNHEX('{checksum.group(1)}') ORDER BY f.file_path")
    return {path: bytes.fromhex(content).decode() for path, content in rows}


@dataclass
class Deployed:
    services: Dict[str, Tuple[Scenario, Case, str]]  # name -> scenario, case, template
    files: Dict[str, str]                            # Director's rendered config
    results: Dict[str, Dict[str, Any]]               # name -> Icinga's check result
    checked: subprocess.CompletedProcess[str]        # icinga2 daemon -C of it all
    host: str


@pytest.fixture(scope="module")
def deployed(restored: Tuple[director.Director, List[Dict[str, int]]],
             plugins: Dict[str, Path], scenarios: Dict[str, Scenario], netns: Netns
             ) -> Iterator[Deployed]:
    """A host and one service per template (the first case of each check's scenario,
    its state file left to the template), rendered by Director and run by Icinga 2."""
    instance, _counts = restored
    why = schedulers.missing_tools(schedulers.ICINGA)
    if why:
        pytest.skip(why)
    host = f"nagios-ipc-director-{random.randrange(10**6)}"
    commands = schedulers.check_commands()
    templates = {t["check_command"]: name
                 for name, t in basket()["ServiceTemplate"].items()}
    instance.cli(["director", "command", "create", "dummy", "--json",
                  '{"object_type": "external_object"}'])  # the ITL's, as kickstart adds it
    instance.cli(["director", "host", "create", host, "--json", json.dumps(
        {"object_type": "object", "check_command": "dummy", "enable_active_checks": False})])
    services: Dict[str, Tuple[Scenario, Case, str]] = {}
    for check, scenario in scenarios.items():
        command = commands[check]
        case = scenario.cases[0]
        variables = command.vars_for(case.argv("director"))
        if "--state-file" in command.arguments:
            variables.pop(command.variable("--state-file")[0], None)
        name = f"{check}-{case.id}"
        services[name] = (scenario, case, templates[command.name])
        instance.cli(["director", "service", "create", name, "--json", json.dumps(
            {"object_type": "object", "host": host, "imports": [templates[command.name]],
             "check_interval": "1", "retry_interval": "1", "max_check_attempts": "1",
             "vars": variables})])
    files = rendered_files(instance)
    workdir = schedulers.make_workdir("nagios-ipc-director-icinga-")
    icinga = Icinga(workdir, "director-test", schedulers.free_ports(1)[0])
    conf = workdir / "director"
    try:
        includes = []
        for path, text in files.items():
            target = conf / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            includes.append(f'include "{target}"\n')
        icinga.pki(icinga)
        # the stock ITL, the Director's files and nothing of contrib/icinga2
        config = (ITL_INCLUDES + "".join(includes) + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Endpoint "{icinga.node}" {{ }}
object Zone "{icinga.zone}" {{ endpoints = [ "{icinga.node}" ] }}
{icinga.api_config()}
""")
        checked = icinga.validate(config)  # what the next test asserts
        icinga.start(netns, config)

        def ready(name: str, result: Dict[str, Any]) -> bool:
            return name in services and services[name][1].is_settled(first_line_of(result))

        results = icinga.wait_results(host, ready, list(services), timeout=45)
        yield Deployed(services, files, results, checked, host)
    finally:
        icinga.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        for state in STATE_DIR.glob(f"nagios_ipc-{host}-*"):  # and the plugins' .lock
            state.unlink()


def test_director_config_passes_icinga2_validation_with_the_itl(deployed: Deployed) -> None:
    services, files, results, checked = (deployed.services, deployed.files,
                                         deployed.results, deployed.checked)
    assert checked.returncode == 0, schedulers.errors_of(checked.stdout + checked.stderr)
    made = re.search(r"Instantiated (\d+) Services?\.", checked.stdout)
    assert made and int(made.group(1)) == len(services), checked.stdout[-2000:]
    text = "\n".join(files.values())
    for command in schedulers.check_commands().values():
        assert f'object CheckCommand "{command.name}"' in text
    for _scenario, _case, template in services.values():
        assert f'template Service "{template}"' in text
    assert set(results) == set(services)


@pytest.mark.parametrize("check", sorted(schedulers.console_scripts()))
def test_icinga2_runs_a_service_of_each_template(check: str, deployed: Deployed) -> None:
    services, results, host = deployed.services, deployed.results, deployed.host
    mine = {name: sc for name, sc in services.items() if sc[0].check == check}
    assert mine, f"{check}: no scenario (tests/scenarios.py)"
    for name, (_scenario, case, _template) in mine.items():
        result = results[name]
        command = result["command"]
        assert command[0] == f"/usr/lib/nagios/plugins/{check}", command
        assert (result["exit_status"], result["state"]) == (case.state, case.state), result
        assert re.search(case.first_line, result["output"].split("\n")[0].strip()), result
        # the template's defaults reached the command line: the plugin timeout, and
        # for state-keeping checks the per-service state file (macros resolved)
        assert command[command.index("--timeout") + 1] == "10", command
        if "--state-file" in help_text(check):
            state = STATE_DIR / f"nagios_ipc-{host}-{name}.json"
            assert command[command.index("--state-file") + 1] == str(state), command
            growth_off = "--trend-window" in command and \
                command[command.index("--trend-window") + 1] == "0"
            if not growth_off:  # the scenario cases of msgqueues and mta switch growth off
                assert state.is_file(), state
