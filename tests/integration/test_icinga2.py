"""contrib/icinga2 in a real Icinga 2: validation with the ITL, every case of every
check run by a local instance, and a master scheduling checks on an agent.

Each instance lives in a private network namespace with only loopback, its own
directories and certificates; results are read through its REST API.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import pytest
import schedulers
from plugin_output import parse_perf, split_output
from scenarios import Case, Scenario
from schedulers import ITL_INCLUDES, Icinga, Netns, icinga_value

HOST = "nagios-ipc-test"
# the example apply rules; not "services.conf", which is a stock file of Debian's conf.d/
EXAMPLES = schedulers.CONTRIB / "icinga2" / "nagios_ipc_services.conf"


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


def local_config(icinga: Icinga, services: str, extra: str = "") -> str:
    return (ITL_INCLUDES + schedulers.icinga_includes() + extra + f"""
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
        return case.is_settled(first_line_of(result))
    return ready


# A Graphite (carbon plaintext) listener: every line it receives, appended to a file.
CARBON = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        conn, _ = server.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                out.write(data)
"""


@pytest.fixture(scope="module")
def local(plugins: Dict[str, Path], scenarios: Dict[str, Scenario],
          netns: Netns) -> Iterator[Tuple[
        Icinga, Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, Any]]]]:
    why = schedulers.missing_tools(schedulers.ICINGA, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-icinga-")
    api_port, carbon_port = schedulers.free_ports(2)
    icinga = Icinga(workdir, "icinga-local", api_port)
    carbon = None
    try:
        icinga.pki(icinga)
        # Icinga's GraphiteWriter sends every result's perfdata to this listener
        carbon_log = workdir / "carbon.out"
        carbon = netns.start(["/usr/bin/python3", "-c", CARBON, str(carbon_port),
                              str(workdir / "carbon.txt")], carbon_log)
        deadline = time.monotonic() + 10
        while b"listening" not in carbon_log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        text, services = case_services(scenarios, "icinga")
        icinga.start(netns, local_config(icinga, text, extra=f"""
object GraphiteWriter "graphite" {{
  host = "127.0.0.1"
  port = {carbon_port}
}}
"""))
        results = icinga.wait_results(HOST, settled(services), list(services), timeout=30)
        yield icinga, services, results
    finally:
        icinga.stop()
        if carbon is not None:
            schedulers.stop(carbon)
        shutil.rmtree(workdir, ignore_errors=True)


def first_line_of(result: Dict[str, Any]) -> str:
    """An Icinga check result's first line again, with its perfdata."""
    return (result["output"].split("\n")[0].strip() + " | "
            + " ".join(result["performance_data"] or []))


def unquoted(item: str) -> str:
    """Icinga shows a label without the quotes it does not need (a dot, for one)."""
    return re.sub(r"^'((?:[^' =]|'')*)'=", lambda m: m.group(1).replace("''", "'") + "=",
                  item)


def icinga_reading(stdout: str) -> Tuple[str, List[str]]:
    """What Icinga must show for this plugin output: text lines, perfdata items."""
    first, text, perf = split_output(stdout)
    return "\n".join([first.strip(), *text]).strip(), [unquoted(item) for item in perf]


# --- validation ------------------------------------------------------------------------

VALIDATION_HOSTS = """
object Endpoint "validate" { }
object Zone "validate" { endpoints = [ "validate" ] }
object Endpoint "agent1" { }
object Zone "agent1" { endpoints = [ "agent1" ]; parent = "validate" }
template Host "nagios-ipc" {
  check_command = "dummy"
  zone = "validate"
  vars.nagios_ipc_mta = true
  vars.nagios_ipc_zmq["feed"] = { zmq_hwm_pidfile = [ "/run/feed.pid" ] }
}
object Host "validate" { import "nagios-ipc" }
object Host "agent1" { import "nagios-ipc"; vars.agent_endpoint = "agent1" }
object Host "legacy1" { import "nagios-ipc"; address = "127.0.0.1"
                        vars.nagios_ipc_nrpe = true; vars.nagios_ipc_zmq_nrpe = true }
object Endpoint "both1" { }
object Zone "both1" { endpoints = [ "both1" ]; parent = "validate" }
// an agent host that also has NRPE: one set of services, no duplicate names
object Host "both1" { import "nagios-ipc"; address = "127.0.0.1"; vars.agent_endpoint = "both1"
                      vars.nagios_ipc_nrpe = true; vars.nagios_ipc_zmq_nrpe = true }
"""


def test_icinga2_accepts_every_contrib_file_with_the_itl(tmp_path: Path) -> None:
    why = schedulers.missing_tools(schedulers.ICINGA)
    if why:
        pytest.skip(why)
    files = schedulers.contrib_icinga_files()
    assert files, "no contrib/icinga2/*.conf"
    icinga = Icinga(tmp_path, "validate", 5665)
    base = ITL_INCLUDES + 'object IcingaApplication "app" { }\n'
    # with a local host, an agent host and an NRPE host, so every apply rule applies
    checked = icinga.validate(base + schedulers.icinga_includes() + VALIDATION_HOSTS)
    assert checked.returncode == 0, schedulers.errors_of(checked.stdout + checked.stderr)
    made = re.search(r"Instantiated (\d+) Services?\.", checked.stdout)
    checks = len(schedulers.console_scripts())
    assert made and int(made.group(1)) >= 3 * checks, checked.stdout[-2000:]
    for path in files:  # each CheckCommand file alone: no hidden dependency
        if "CheckCommand" in path.read_text():
            alone = icinga.validate(base + f'include "{path}"\n')
            assert alone.returncode == 0, (path, schedulers.errors_of(alone.stdout))


def test_example_services_run_every_check_locally_and_on_agents() -> None:
    text = EXAMPLES.read_text()
    rules = re.findall(r"apply Service [^{]*\{(.*?)\n\}", text, re.S)
    for command in schedulers.check_commands().values():
        mine = [rule for rule in rules if f'check_command = "{command.name}"' in rule]
        assert any("command_endpoint = host.vars.agent_endpoint" in rule for rule in mine), (
            f"{EXAMPLES.name}: no agent service for {command.name}")
        assert any("command_endpoint" not in rule for rule in mine), (
            f"{EXAMPLES.name}: no local service for {command.name}")
    listed = set()
    for names in re.findall(r"apply Service for \(nrpe_command in \[([^\]]*)\]", text):
        listed |= set(re.findall(r'"([^"]+)"', names))
    listed |= set(re.findall(r'vars.nrpe_command = "([^"]+)"', text))
    assert listed, f"{EXAMPLES.name}: no NRPE services"
    shipped = set(schedulers.contrib_nrpe_commands())
    assert listed <= shipped
    assert {shipped_check_of(name) for name in listed} == set(schedulers.console_scripts())


def shipped_check_of(nrpe_command: str) -> str:
    return schedulers.plugin_of(schedulers.contrib_nrpe_commands()[nrpe_command])


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
        flags = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)(?: {2,}|\n)", help_text, re.M))
        assert "--verbose" in flags
        for option, fields in command.arguments.items():
            assert option in options, f"{command.path.name}: {option} is not in --help"
            assert ("set_if" in fields) == (option in flags), (
                f"{command.path.name}: {option}: set_if for flags, value for the others")
            variable, _ = command.variable(option)
            assert variable.startswith(command.name + "_"), (option, variable)
            assert fields.get("description", "").strip('"'), f"{option}: no description"
            repeatable = re.search(re.escape(option) + r"[^\n]*\n?[^\n]*repeatable",
                                   help_text) is not None
            if repeatable:
                assert fields.get("repeat_key") == "true", f"{option} is repeatable"



def test_every_check_command_has_the_30s_timeout() -> None:
    """Icinga's default command timeout is 60 s, the scheduler's check_timeout may be
    less: each command says 30 s, above the plugin's own -t (default 10 s)."""
    bodies = {name: body for path in schedulers.contrib_icinga_files()
              for name, body in schedulers.COMMAND_RE.findall(path.read_text())}
    assert {"host_uptime", "nagios_ipc_host_uptime", "msgqueues", "zmq_hwm"} <= set(bodies)
    for name, body in bodies.items():
        parent = re.search(r'^\s*import\s+"([^"]+)"', body, re.M)
        own = body if parent is None else bodies[parent.group(1)] + body
        assert re.search(r"^\s*timeout\s*=\s*30s\s*$", own, re.M), name

# --- a running instance ----------------------------------------------------------------

@pytest.mark.parametrize("check", sorted(schedulers.console_scripts()))
def test_icinga2_runs_every_case_as_the_check_prints_it(
        check: str, local: Tuple[Icinga, Dict[str, Tuple[Scenario, Case]],
                                 Dict[str, Dict[str, Any]]], netns: Netns) -> None:
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
        direct = subprocess.run(netns.argv(result["command"]), capture_output=True, text=True,
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


def test_graphite_writer_gets_one_tree_level_per_label(
        local: Tuple[Icinga, Dict[str, Tuple[Scenario, Case]],
                     Dict[str, Dict[str, Any]]]) -> None:
    """What Icinga's GraphiteWriter sends for every case: a label is one level of the
    metric tree (icinga2.HOST.services.SERVICE.COMMAND.perfdata.LABEL.value). It keeps
    a '.' of a label, so labels must have none (owner john.doe, domain example.com)."""
    icinga, services, results = local
    carbon = icinga.root / "carbon.txt"
    wanted = {(name, unquoted(item).split("=", 1)[0])
              for name in services for item in results[name]["performance_data"] or []}
    assert any(label.startswith("domain_") for _, label in wanted), "no domain label"
    sent: Dict[Tuple[str, str], List[str]] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sent = {}
        for line in carbon.read_text().splitlines() if carbon.exists() else []:
            path = line.split(" ")[0].split(".")
            if path[:3] == ["icinga2", HOST.replace(".", "_"), "services"] \
                    and "perfdata" in path:
                at = path.index("perfdata")
                sent.setdefault((path[3], ".".join(path[at + 1:-1])), []).append(line)
        if wanted <= set(sent):
            break
        time.sleep(0.3)
    assert wanted <= set(sent), sorted(wanted - set(sent))[:10]
    for (_name, label), lines in sent.items():
        for line in lines:
            path = line.split(" ")[0].split(".")
            assert len(path) == 8 and path[-1] in ("value", "min", "max", "warn", "crit"), line
            assert re.fullmatch(r"[A-Za-z0-9_-]+", label), line


# --- distributed: a master schedules, an agent runs (command_endpoint) ------------------

def zones(master: Icinga, agent: Icinga) -> str:
    return f"""
object Endpoint "{master.node}" {{ }}
object Endpoint "{agent.node}" {{ host = "127.0.0.1"; port = {agent.port} }}
object Zone "{master.zone}" {{ endpoints = [ "{master.node}" ] }}
object Zone "{agent.zone}" {{ endpoints = [ "{agent.node}" ]; parent = "{master.zone}" }}
"""


@pytest.fixture(scope="module")
def distributed(plugins: Dict[str, Path], scenarios: Dict[str, Scenario],
                netns: Netns) -> Iterator[
        Tuple[Icinga, Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, Any]]]]:
    why = schedulers.missing_tools(schedulers.ICINGA, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-icinga-dist-")
    state = workdir / "state"
    state.mkdir()
    # both instances on the module's loopback, each with its own port
    master_port, agent_port = schedulers.free_ports(2)
    master = Icinga(workdir / "master", "master", master_port)
    agent = Icinga(workdir / "agent", "agent", agent_port)
    try:
        master.pki(master)
        agent.pki(master)  # one CA: the master's
        common = ITL_INCLUDES + schedulers.icinga_includes() + zones(master, agent)
        agent.start(netns, common + 'object IcingaApplication "app" { }\n'
                    + agent.api_config())
        first = {check: (scenario, scenario.cases[0]) for check, scenario in scenarios.items()}
        text, services = case_services(
            {check: Scenario(**{**vars(sc), "cases": (case,)})
             for check, (sc, case) in first.items()},
            "agent", extra=f'  command_endpoint = "{agent.node}"\n  zone = "{master.zone}"\n')
        text = text.replace(f'host_name = "{HOST}"', f'host_name = "{agent.node}"')
        host_vars = "".join(f"  vars.{key} = {icinga_value(value)}\n"
                            for scenario in scenarios.values()
                            for key, value in scenario.host_vars.items())
        master.start(netns, common + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
{master.api_config()}
object Host "{agent.node}" {{
  check_command = "dummy"
  enable_active_checks = false
  zone = "{master.zone}"
  vars.agent_endpoint = "{agent.node}"
  vars.nagios_ipc_state_dir = "{state}"
{host_vars}}}
""" + text)
        names = {scenario.name for scenario, _ in services.values()}
        deadline = time.monotonic() + 45
        results: Dict[str, Dict[str, Any]] = {}
        while time.monotonic() < deadline:
            every = master.results(agent.node)  # the cases and the applied examples
            results = {name: result for name, result in every.items()
                       if result and result.get("check_source") == agent.node
                       and result["output"].split(" ")[0] in names
                       and (name not in services
                            or services[name][1].is_settled(first_line_of(result)))}
            if every and set(results) == set(every):
                break
            # the example services check every 5 minutes: ask for a check now
            master.api("/v1/actions/reschedule-check", {
                "type": "Service", "filter": f'host.name=="{agent.node}"', "force": True})
            time.sleep(1)
        yield master, services, results
    finally:
        master.stop()
        agent.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_master_schedules_every_check_on_the_agent(distributed: Tuple[
        Icinga, Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, Any]]],
        netns: Netns) -> None:
    master, services, results = distributed
    # the example apply rules of nagios_ipc_services.conf: every check, run on the agent
    every = master.results("agent")
    assert set(results) == set(every), {n: r and r["output"] for n, r in every.items()}
    applied = set(results) - set(services)
    commands = {results[name]["command"][0].rsplit("/", 1)[1] for name in applied}
    assert commands == set(schedulers.console_scripts()), sorted(applied)
    for name in applied:
        result = results[name]
        assert 0 <= result["exit_status"] <= 3 and result["performance_data"], (name, result)
        for item in result["performance_data"]:
            parse_perf(item)
    # the scenario cases: the agent's result, with its perfdata, at the master
    for name, (scenario, case) in services.items():
        assert name in results, (name, sorted(results))
        result = results[name]
        assert result["exit_status"] == case.state, (name, result)
        direct = subprocess.run(netns.argv(result["command"]), capture_output=True, text=True,
                                timeout=60, env=schedulers.CLEAN_ENV)
        _, perf = icinga_reading(direct.stdout)
        assert ([scenario.normal(p) for p in result["performance_data"]]
                == [scenario.normal(p) for p in perf]), name


# --- an admin's install: the contrib files next to Debian's stock configuration ---------

STOCK_ETC = Path("/etc/icinga2")  # as package icinga2-common installs it


def instantiated(output: str, kind: str) -> int:
    made = re.search(rf"Instantiated (\d+) {kind}s?\.", output)
    return int(made.group(1)) if made else 0


def test_contrib_files_copied_into_stock_conf_d_add_services_and_replace_none(
        tmp_path: Path) -> None:
    """The README's single-node install, `cp contrib/icinga2/*.conf conf.d/`, into a
    copy of Debian's stock /etc/icinga2: every stock service stays (a contrib file named
    services.conf replaced the stock one: 12 services became 3) and the node gets the
    local example services (msgqueues and uptime; the others need host variables)."""
    why = schedulers.missing_tools(schedulers.ICINGA)
    if why:
        pytest.skip(why)
    etc = tmp_path / "etc"
    shutil.copytree(STOCK_ETC, etc, symlinks=True)
    stock = {path.name for path in (etc / "conf.d").iterdir()}
    assert "services.conf" in stock and "hosts.conf" in stock, sorted(stock)
    dirs = {name: tmp_path / name for name in ("data", "log", "cache", "spool", "run")}
    for path in dirs.values():
        path.mkdir()
    defines = [f"-DDataDir={dirs['data']}", f"-DLogDir={dirs['log']}",
               f"-DCacheDir={dirs['cache']}", f"-DSpoolDir={dirs['spool']}",
               f"-DInitRunDir={dirs['run']}", "-DRunAsUser=root", "-DRunAsGroup=root"]

    def validate() -> str:
        done = subprocess.run([schedulers.ICINGA, "daemon", "-C", "-c",
                               str(etc / "icinga2.conf"), *defines], capture_output=True,
                              text=True, env=schedulers.CLEAN_ENV, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, schedulers.errors_of(done.stdout + done.stderr)
        return done.stdout

    before = validate()
    contrib = schedulers.contrib_icinga_files()
    clashes = stock & {path.name for path in contrib}
    assert not clashes, f"contrib files would replace stock conf.d files: {sorted(clashes)}"
    for path in contrib:
        shutil.copy(path, etc / "conf.d" / path.name)
    after = validate()
    assert instantiated(before, "Service") >= 10, before[-2000:]
    assert instantiated(after, "Service") == instantiated(before, "Service") + 2, after[-2000:]
    commands = sum(len(schedulers.COMMAND_RE.findall(path.read_text())) for path in contrib)
    assert (instantiated(after, "CheckCommand")
            == instantiated(before, "CheckCommand") + commands), after[-2000:]


# --- a reboot notifies: a HARD state change at once; the command's old name -------------

def uptime_rule(text: str, name: str, attempts: bool = True) -> str:
    """The local "uptime" rule of the examples, under *name*, without its uptime
    thresholds (this test machine may have booted minutes ago: they would alert before
    the reboot does) and, with attempts=False, without its max_check_attempts."""
    rule = re.search(r'\napply Service "uptime" \{\n\tcheck_command = "host_uptime"\n'
                     r'(?:(?!\n\}).)*?assign where host.name == NodeName.*?\n\}', text, re.S)
    assert rule, "no local uptime rule in the examples"
    body = rule.group(0).replace('apply Service "uptime"', f'apply Service "{name}"')
    for variable in ("warning", "critical", "max_uptime"):
        body, dropped = re.subn(rf"\n\tvars.host_uptime_{variable} = [^\n]*", "", body)
        assert dropped == 1, variable
    if not attempts:
        body, dropped = re.subn(r"\n\tmax_check_attempts = 1", "", body)
        assert dropped == 1, "the rule sets no max_check_attempts"
    return body


def checked_now(icinga: Icinga, names: Sequence[str],
                after: Dict[str, float]) -> Dict[str, Dict[str, Any]]:
    """Results of *names* started after the times in *after*: the services check hourly
    or every 5 minutes, so ask each for one check now (again only after 4 s without a
    result: asking twice could run it twice, and the test reads the first run)."""
    deadline = time.monotonic() + 30
    asked: Dict[str, float] = {}
    while True:
        results = icinga.results(icinga.node)
        waiting = [name for name in names if not (
            results.get(name) and results[name]["execution_start"] > after.get(name, 0))]
        if not waiting:
            return results
        if time.monotonic() > deadline:
            return icinga.wait_results(icinga.node, lambda n, r: r["execution_start"]
                                       > after.get(n, 0), names, timeout=1)
        for name in waiting:
            if time.monotonic() - asked.get(name, -100.0) > 4:
                icinga.api("/v1/actions/reschedule-check", {
                    "type": "Service", "force": True,
                    "filter": f'host.name=="{icinga.node}" && service.name=="{name}"'})
                asked[name] = time.monotonic()
        time.sleep(0.3)


KEY = "rq:rM>}U?@Ln&47E1%kR.o@n%Fcm*sL$@{H8]yf7"  # Z85, 40 characters, with a '$'


def test_a_reboot_is_a_hard_state_change_in_icinga(plugins: Dict[str, Path],
                                                   netns: Netns) -> None:
    """The shipped local uptime rule in a real Icinga 2: after a reboot (the state
    file's boot id changed) the one WARNING run is a HARD state, so it notifies.
    The same rule without max_check_attempts = 1 (Icinga's default 3) stays SOFT.
    The old command name nagios_ipc_host_uptime runs the same command line, an inline
    CURVE key with a '$' gets through as the plugin's argument, and of msgqueues'
    two names for one threshold the fill_ one is passed last (the plugin's winner)."""
    why = schedulers.missing_tools(schedulers.ICINGA, "/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-icinga-reboot-")
    state = workdir / "state"
    state.mkdir()
    icinga = Icinga(workdir / "icinga", "icinga-reboot", schedulers.free_ports(1)[0])
    examples = EXAMPLES.read_text()
    commands = "".join(f'include "{path}"\n' for path in schedulers.contrib_icinga_files()
                       if path != EXAMPLES)
    same_options = {"state_file": str(state / "alias.json"), "timeout": 7,
                    "details": "always", "verbose": True}
    compare = "".join(
        f'object Service "{name}" {{\n  host_name = "{icinga.node}"\n'
        f'  check_command = "{command}"\n  check_interval = 1h\n'
        + "".join(f"  vars.{prefix}_{key} = {icinga_value(value)}\n"
                  for key, value in same_options.items()) + "}\n"
        for name, command, prefix in (("old-name", "nagios_ipc_host_uptime",
                                       "nagios_ipc_host_uptime"),
                                      ("new-name", "host_uptime", "host_uptime")))
    # msgqueues_warning and msgqueues_fill_warning set the same option: fill_ comes last
    compare += (f'object Service "both-warnings" {{\n  host_name = "{icinga.node}"\n'
                f'  check_command = "msgqueues"\n  check_interval = 1h\n'
                + "".join(f'  vars.msgqueues_{kind}{level} = "{value}"\n'
                          for kind, value in (("", "1"), ("fill_", "2"))
                          for level in ("warning", "critical")) + "}\n")
    # an inline CURVE key with a '$' (written '$$') reaches the plugin as one argument
    compare += (f'object Service "key" {{\n  host_name = "{icinga.node}"\n'
                f'  check_command = "zmq_hwm"\n  check_interval = 1h\n'
                f'  vars.zmq_hwm_stats_endpoint = "ipc://{state}/no-stats"\n'
                f'  vars.zmq_hwm_curve_server_key = "{KEY.replace("$", "$$")}"\n}}\n')
    try:
        icinga.pki(icinga)
        icinga.start(netns, ITL_INCLUDES + commands + f"""
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Endpoint "{icinga.node}" {{ }}
object Zone "{icinga.zone}" {{ endpoints = [ "{icinga.node}" ] }}
{icinga.api_config()}
object Host "{icinga.node}" {{
  check_command = "dummy"
  enable_active_checks = false
  vars.nagios_ipc_state_dir = "{state}"
}}
""" + uptime_rule(examples, "uptime") + "\n"
            + uptime_rule(examples, "uptime-3-attempts", attempts=False) + "\n" + compare)
        names = ("uptime", "uptime-3-attempts")
        first = checked_now(icinga, [*names, "old-name", "new-name", "key", "both-warnings"],
                            {})
        both = first["both-warnings"]["command"]
        for level in ("warning", "critical"):
            assert both.index(f"--{level}") < both.index(f"--fill-{level}"), both
            assert both[both.index(f"--fill-{level}") + 1] == "2", both
        key = first["key"]
        assert key["command"][1:3] == ["--curve-server-key", KEY], key["command"]
        direct = netns.run(key["command"])
        assert key["output"] == direct.stdout.strip() and key["state"] == direct.returncode
        for name in names:
            assert first[name]["state"] == 0, first[name]  # no reboot yet
        old, new = first["old-name"]["command"], first["new-name"]["command"]
        assert [word.replace("alias.json", "x") for word in old] == [
            word.replace("alias.json", "x") for word in new], (old, new)
        assert "--verbose" in new and "--timeout" in new and "--warning" not in new, new
        # the reboot: the boot id each service saw last is no longer the kernel's
        for name in names:
            path = state / f"nagios_ipc-{name}.json"
            saved = json.loads(path.read_text())
            saved["boot_id"] = "00000000-0000-4000-8000-000000000000"
            path.write_text(json.dumps(saved))
        # a check already running when the file changed must not count: from now on
        written = time.time()
        checked_now(icinga, names, {name: written for name in names})
        data = icinga.api(f"/v1/objects/services?filter=host.name==%22{icinga.node}%22"
                          "&attrs=name&attrs=state&attrs=state_type&attrs=last_hard_state"
                          "&attrs=check_attempt&attrs=last_check_result")
        seen = {item["attrs"]["name"]: item["attrs"] for item in data["results"]}
        for name in names:
            result = seen[name]["last_check_result"]
            assert result["state"] == 1, result
            assert result["output"].startswith("HOST_UPTIME WARNING: rebooted since last "
                                               "check"), result
            assert "reboots=1;0;;0" in result["performance_data"], result
        # state_type 1 is HARD: notifications go out; 0 is SOFT (attempt 1 of 3)
        assert (seen["uptime"]["state"], seen["uptime"]["state_type"],
                seen["uptime"]["last_hard_state"]) == (1, 1, 1), seen["uptime"]
        soft = seen["uptime-3-attempts"]
        assert (soft["state"], soft["state_type"], soft["last_hard_state"]) == (1, 0, 0), soft
    finally:
        icinga.stop()
        shutil.rmtree(workdir, ignore_errors=True)
