"""contrib/grafana in a real InfluxDB 1.6 fed by a real Icinga 2's InfluxdbWriter.

Grafana is not packaged for Debian 12: the proof is every query it would run. Icinga
runs every case of the scenario table (tests/scenarios.py) and writes each result's
perfdata with the InfluxdbWriter's default schema into a private influxd; then each
dashboard's template variables are resolved the way Grafana resolves them (their
queries run, their regex applied, multi values regex-escaped) and every panel's
InfluxQL query runs with $timeFilter and $__interval filled in. Each must return the
series of exactly the labels its regex names, and their latest values (value, warn,
crit) are what the check printed, as Icinga shows it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import schedulers
from plugin_output import Perf, parse_perf
from scenarios import Scenario
from schedulers import Icinga, Netns, icinga_value
from test_icinga2 import HOST, case_services, local_config, settled
from zmqtools import Apps

INFLUXD = "/usr/bin/influxd"
DATABASE = "icinga2"
GRAFANA = schedulers.CONTRIB / "grafana"
# what Grafana puts in for a "last 15 minutes" view drawn ~900 px wide
TIME_FILTER = "time >= now() - 15m"
INTERVAL = "1s"

INFLUXD_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""

# InfluxQL over HTTP from inside the namespace: a JSON list of [method, query] on
# stdin, a JSON list of answers on stdout (one process for a whole batch)
CLIENT = """\
import json, sys, urllib.parse, urllib.request
base = sys.argv[1]
out = []
for method, query in json.load(sys.stdin):
    data = urllib.parse.urlencode({"db": sys.argv[2], "q": query, "epoch": "s"})
    try:
        if method == "POST":
            reply = urllib.request.urlopen(base + "/query", data.encode(), timeout=10)
        else:
            reply = urllib.request.urlopen(base + "/query?" + data, timeout=10)
        out.append(json.loads(reply.read().decode()))
    except Exception as exc:
        out.append({"error": repr(exc)})
print(json.dumps(out))
"""


class StateIcinga(Icinga):
    """An Icinga whose plugins keep their default-located state under *state*
    ($NAGIOS_IPC_STATE_DIR: Icinga hands its environment on to the plugins). The
    ZeroMQ growth history has no option of its own: without this it would land in
    root's home, one file per test run."""

    def __init__(self, root: Path, node: str, port: int, state: Path) -> None:
        super().__init__(root, node, port)
        self.state = state

    def start(self, netns: Netns, text: str) -> None:
        checked = self.validate(text)
        if checked.returncode != 0:
            raise RuntimeError("icinga2 daemon -C refused the test config:\n"
                               + schedulers.errors_of(checked.stdout + checked.stderr))
        self.proc = netns.start(["/usr/bin/env", f"NAGIOS_IPC_STATE_DIR={self.state}",
                                 schedulers.ICINGA, "daemon", "-c", str(self.config),
                                 *self.defines], self.root / "log" / "stdout.log")
        self.netns = netns


class Postfix:
    """The scenario table's Postfix instance (tests/scenarios.py), by its config dir:
    mail is added to it as the scenario does (sendmail -C), and removed after."""

    def __init__(self, etc: str) -> None:
        self.etc = etc
        self.added: List[str] = []

    def listing(self) -> List[Dict[str, Any]]:
        done = subprocess.run(["/usr/sbin/postqueue", "-c", self.etc, "-j"],
                              capture_output=True, text=True, check=True, timeout=30,
                              env=schedulers.CLEAN_ENV)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def add(self, count: int) -> int:
        """*count* messages for GROWTH_DOMAIN, once all of them are deferred (the relay
        refuses): the deferred count then."""
        before = {m["queue_id"] for m in self.listing()}
        for number in range(count):
            subprocess.run(["/usr/sbin/sendmail", "-C", self.etc, "-f", "app@probe.localdomain",
                            f"user{number}@{GROWTH_DOMAIN}"],
                           input=f"Subject: growth {number}\n\ngrowth\n", text=True,
                           check=True, timeout=30, env=schedulers.CLEAN_ENV)
        deadline = time.monotonic() + 20
        while True:
            queue = self.listing()
            new = [m for m in queue if m["queue_id"] not in before]
            if len(new) == count and all(m["queue_name"] == "deferred" for m in new):
                self.added += [m["queue_id"] for m in new]
                return sum(m["queue_name"] == "deferred" for m in queue)
            assert time.monotonic() < deadline, f"the added mail was not deferred: {queue}"
            time.sleep(0.1)

    def remove(self) -> None:
        for queue_id in self.added:  # ours only: the scenario's three stay
            subprocess.run(["/usr/sbin/postsuper", "-c", self.etc, "-d", queue_id],
                           capture_output=True, timeout=30, env=schedulers.CLEAN_ENV)
        self.added = []


class Influxd:
    """A private influxd: its own config, meta/data/wal dirs, HTTP on 127.0.0.1."""

    def __init__(self, netns: Netns, root: Path) -> None:
        self.netns = netns
        self.root = root
        self.port, rpc = schedulers.free_ports(2)
        root.mkdir(parents=True, exist_ok=True)
        config = root / "influxdb.conf"
        config.write_text(INFLUXD_CONFIG.format(root=root, rpc=rpc, http=self.port))
        self.proc = netns.start([INFLUXD, "-config", str(config)], root / "influxd.log")
        deadline = time.monotonic() + 20
        while True:
            if self.ask([("POST", f"CREATE DATABASE {DATABASE}")])[0].get("results"):
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("influxd did not answer:\n"
                                   + (root / "influxd.log").read_text()[-3000:])
            time.sleep(0.1)

    def ask(self, queries: Sequence[Tuple[str, str]]) -> List[Dict[str, Any]]:
        done = subprocess.run(self.netns.argv(["/usr/bin/python3", "-c", CLIENT,
                                               f"http://127.0.0.1:{self.port}", DATABASE]),
                              input=json.dumps(list(queries)), capture_output=True,
                              text=True, timeout=60, env=schedulers.CLEAN_ENV)
        return json.loads(done.stdout or "[]") or [{"error": done.stderr}] * len(queries)

    def select(self, queries: Sequence[str]) -> List[List[Dict[str, Any]]]:
        """The series of each query's single statement (an error fails the test)."""
        answers = self.ask([("GET", q) for q in queries])
        out = []
        for text, answer in zip(queries, answers):
            assert "error" not in answer, (text, answer)
            (result,) = answer["results"]
            assert "error" not in result, (text, result)
            out.append(result.get("series", []))
        return out

    def stop(self) -> None:
        schedulers.stop(self.proc)


Results = Dict[str, Dict[str, Any]]


@dataclass
class Fed:
    influxd: Influxd
    results: Results         # service name -> its last check result
    commands: Dict[str, str]  # service name -> CheckCommand (the measurement)
    units: Dict[Tuple[str, str], str]  # (service, label) -> the unit field Icinga wrote


# Icinga 2.13 writes a normalised unit ("B" as bytes); Grafana's unit for each
GRAFANA_UNIT = {"bytes": "bytes", "percent": "percent", "seconds": "s", None: "short"}


# Beside the scenario cases, services the scenario table has no case for: mode 2 of
# check_zmq_hwm (an application's stats endpoint: drops and would-blocks, and their
# trends), a reboot (for the uptime dashboard's annotations), and the growth figures
# (the scenario cases run without them): check_mta_backlog on the scenario's Postfix
# while mail is added between runs, check_zmq_hwm mode 1 on a slow consumer whose
# Send-Q grows. They check only when asked (1h interval).
EXTRAS = {"zmq_hwm-stats": "check_zmq_hwm", "host_uptime-reboot": "check_host_uptime",
          "mta_backlog-trend": "check_mta_backlog", "zmq_hwm-trend": "check_zmq_hwm"}
TREND = ("--trend-window", "10m", "--growing-samples", "2")
GROWTH_DOMAIN = "growth.example.net"  # the mail added between runs goes there
ADDED = 4                             # messages added before each of runs 2, 3 and 4
CAPACITY = 1000                       # mta_backlog-trend's --capacity: a time_to_full
SLOW_RATE = 20 * 1000                 # bytes a second the slow consumer's PUB sends


def extra_services(argv: Dict[str, List[str]]) -> str:
    commands = schedulers.check_commands()
    text = []
    for name, check in EXTRAS.items():
        command = commands[check]
        variables = "".join(f"  vars.{key} = {icinga_value(value)}\n"
                            for key, value in command.vars_for(argv[name]).items())
        text.append(f'object Service "{name}" {{\n  host_name = "{HOST}"\n'
                    f'  check_command = "{command.name}"\n  check_interval = 1h\n'
                    f"  max_check_attempts = 1\n{variables}}}\n")
    return "".join(text)


def quiet_results(icinga: Icinga) -> Results:
    """The last results once checks are off: a check started before the switch may
    still report, so until two reads a second apart agree."""
    deadline = time.monotonic() + 30
    before = icinga.results(HOST)
    while True:
        time.sleep(1)
        now = icinga.results(HOST)
        if now == before or time.monotonic() > deadline:
            return now
        before = now


def run_now(icinga: Icinga) -> Results:
    """One check of each extra service, started now (asked for; they check hourly), in
    a second of its own: the writer's timestamps are whole seconds, and a later point
    of a series in the same second replaces the earlier one. And at least a second
    after the previous runs (trend.MIN_GAP): a run that started late in its second
    and one early in the next would be one growth sample (seen once: drops_trend 0)."""
    time.sleep(1.0)  # the previous runs' results are in: they started before this
    time.sleep(1.05 - time.time() % 1)
    after = time.time()
    for name in EXTRAS:
        icinga.api("/v1/actions/reschedule-check", {
            "type": "Service", "force": True,
            "filter": f'host.name=="{HOST}" && service.name=="{name}"'})
    return icinga.wait_results(HOST, lambda name, result: name not in EXTRAS
                               or result["execution_start"] > after, list(EXTRAS),
                               timeout=20)


@pytest.fixture(scope="module")
def fed(plugins: Dict[str, Path], scenarios: Dict[str, Scenario], netns: Netns) -> Iterator[Fed]:
    """Icinga has run every case until settled and written it to influxd, and the
    extra services four times: first, quiet, at a burst of drops and a reboot, quiet
    again, with mail added to the Postfix before each of the last three and the slow
    consumer's Send-Q growing all along; then checks stop, so the last result of each
    service is the last point of its series."""
    why = schedulers.missing_tools(schedulers.ICINGA, INFLUXD, "/usr/bin/unshare",
                                   "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    workdir = schedulers.make_workdir("nagios-ipc-influx-")
    state = workdir / "state"
    state.mkdir()
    influxd: Optional[Influxd] = None
    icinga = StateIcinga(workdir / "icinga", "icinga-influx", schedulers.free_ports(1)[0],
                         state)
    apps = Apps()
    postfix = Postfix(str(scenarios["check_mta_backlog"].host_vars["mta_backlog_config_dir"]))
    try:
        influxd = Influxd(netns, workdir / "influxd")
        # an application with the stats helper: an XPUB_NODROP whose one subscriber never
        # reads (sends beyond its HWM are refused: drops), a PUSH with no peer
        stats = f"ipc://{state}/stats.ipc"
        app = apps.start("stats", "--stats", stats, "--endpoint",
                         f"tcp://127.0.0.1:{schedulers.free_ports(1)[0]}", "--hwm", "100",
                         "--size", "10000", "--dead-port", str(schedulers.free_ports(1)[0]),
                         "--subscribers", "1", stdin=True, prefix=netns.argv([]))
        apps.start("sub", "--connect", app.info["endpoint"], "--never", "--hwm", "10",
                   prefix=netns.argv([]))
        app.wait_line("subscribed")
        # a slow consumer: a PUB sending 20 kB a second to a SUB that never reads (a
        # one-message pipe, a 4 KiB receive buffer): its Send-Q grows at that rate,
        # toward a send buffer that TCP autotunes up to 4 MiB (minutes away)
        slow = f"tcp://127.0.0.1:{schedulers.free_ports(1)[0]}"
        feed = apps.start("pub", "--endpoint", slow, "--hwm", "1000000", "--rate",
                          str(SLOW_RATE // 1000), "--size", "1000", prefix=netns.argv([]))
        apps.start("sub", "--connect", slow, "--never", "--hwm", "1", "--rcvbuf", "4096",
                   prefix=netns.argv([]))
        mta = ["--mta", "postfix", "--config-dir", postfix.etc]
        argv = {"zmq_hwm-stats": ["--stats-endpoint", stats, *TREND, "--state-file",
                                  f"{state}/zmq-stats.json"],
                "host_uptime-reboot": ["--state-file", f"{state}/reboot.json"],
                "mta_backlog-trend": [*mta, *TREND, "--capacity", str(CAPACITY), "--domain",
                                      f"{GROWTH_DOMAIN}=50,100", "--state-file",
                                      f"{state}/mta-trend.json"],
                "zmq_hwm-trend": ["--pid", str(feed.pid), *TREND, "--state-file",
                                  f"{state}/zmq-trend.json"]}
        icinga.pki(icinga)
        text, services = case_services(scenarios, "influx")
        # the writer's default templates (measurement: the check command; tags
        # hostname, service; metric per label), as the README tells an admin to keep
        icinga.start(netns, local_config(icinga, text + extra_services(argv), extra=f"""
object InfluxdbWriter "influxdb" {{
  host = "127.0.0.1"
  port = {influxd.port}
  database = "{DATABASE}"
  enable_send_thresholds = true
  flush_interval = 1s
}}
"""))
        icinga.wait_results(HOST, settled(services), list(services), timeout=45)
        run_now(icinga)  # first runs: no rates, no period, no growth yet
        postfix.add(ADDED)
        run_now(icinga)  # quiet: rates and period 0
        postfix.add(ADDED)
        app.send("burst 3000")
        app.wait_line("burst")
        saved = json.loads((state / "reboot.json").read_text())
        saved["boot_id"] = "00000000-0000-4000-8000-000000000000"  # as after a reboot
        (state / "reboot.json").write_text(json.dumps(saved))
        spike = run_now(icinga)
        assert "reboots=1;0;;0" in spike["host_uptime-reboot"]["performance_data"], spike
        assert perfdata(spike["zmq_hwm-stats"])["drops_per_min"].value > 0, spike
        deferred = postfix.add(ADDED)
        last = run_now(icinga)  # after: quiet again
        assert perfdata(last["mta_backlog-trend"])["deferred"].value == deferred, last
        icinga.api("/v1/objects/icingaapplications/app",
                   {"attrs": {"enable_service_checks": False}})
        results = quiet_results(icinga)
        wait_flushed(influxd, results)
        commands = {name: schedulers.check_commands()[check].name
                    for name, check in [*((n, sc.check) for n, (sc, _) in services.items()),
                                        *EXTRAS.items()]}
        (series,) = influxd.select(['SELECT last("unit") FROM /.*/ WHERE time > now() - 1h '
                                    'GROUP BY "service", "metric"'])
        units = {(item["tags"]["service"], item["tags"]["metric"]): item["values"][-1][1]
                 for item in series}
        yield Fed(influxd, results, commands, units)
    finally:
        icinga.stop()
        postfix.remove()
        apps.stop_all()
        if influxd is not None:
            influxd.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def perfdata(result: Dict[str, Any]) -> Dict[str, Perf]:
    return {perf.label: perf for perf in map(parse_perf, result["performance_data"] or [])}


def wait_flushed(influxd: Influxd, results: Results) -> None:
    """Until the newest point of every label of every service is its last result's."""
    wanted = {(name, label): perf.value for name, result in results.items()
              for label, perf in perfdata(result).items()}
    seen: Dict[Tuple[str, str], Any] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        (series,) = influxd.select(['SELECT last("value") FROM /.*/ WHERE time > now() - 1h '
                                    'GROUP BY "service", "metric"'])
        seen = {(s["tags"]["service"], s["tags"]["metric"]): s["values"][-1][1]
                for s in series}
        if all(seen.get(key) == value for key, value in wanted.items()):
            return
        time.sleep(0.5)
    missing = {key: (value, seen.get(key)) for key, value in wanted.items()
               if seen.get(key) != value}
    raise AssertionError(f"InfluxDB lacks the last results: {dict(list(missing.items())[:20])}")


# --- Grafana's variable substitution (public/app/plugins/datasource/influxdb) ----------

VARIABLE_RE = re.compile(r"\$(\w+)|\$\{(\w+)\}|\[\[(\w+)\]\]")


def regex_escape(value: str) -> str:
    """Grafana's kbn.regexEscape."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


def interpolate(text: str, chosen: Dict[str, Tuple[Dict[str, Any], List[str]]]) -> str:
    """A query as Grafana sends it: $timeFilter, $__interval, and each variable; a multi
    or include-all variable's values regex-escaped, several as (a|b) (the datasource's
    interpolateQueryExpr), a plain one as it is."""
    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name == "timeFilter":
            return TIME_FILTER
        if name == "__interval":
            return INTERVAL
        variable, values = chosen[name]
        if not variable.get("multi") and not variable.get("includeAll"):
            return values[0]
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    return VARIABLE_RE.sub(value, text)


def variable_values(influxd: Influxd, variable: Dict[str, Any],
                    chosen: Dict[str, Tuple[Dict[str, Any], List[str]]]) -> List[str]:
    """What Grafana lists for a query variable: its query's values (the tag value of
    SHOW TAG VALUES, the name otherwise), through its regex (the first group)."""
    (series,) = influxd.select([interpolate(variable["query"], chosen)])
    pattern = variable["regex"]
    if pattern.startswith("/"):  # Grafana's /REGEX/flags form
        pattern = pattern[1:pattern.rindex("/")]
    found: List[str] = []
    for item in series:
        column = 1 if item["columns"] == ["key", "value"] else 0
        for row in item["values"]:
            text = str(row[column])
            if pattern:
                match = re.search(pattern, text)
                if not match:
                    continue
                text = match.group(1) if match.groups() else text
            if text not in found:
                found.append(text)
    return sorted(found) if variable.get("sort") == 1 else found  # 1: alphabetical


def dashboards() -> List[Path]:
    return sorted(GRAFANA.glob("*.json"))


# a target's metric condition, as tools/grafana_dashboards.py writes it
METRIC_RE = re.compile(r'"metric" =~ /\^(.*?)\$/(?: AND "metric" !~ /(.*?)/)? ')


Chosen = Dict[str, Tuple[Dict[str, Any], List[str]]]


def resolved(influxd: Influxd, board: Dict[str, Any], every: bool = True) -> Chosen:
    """The board's query variables in order, each from its query's answer: every value
    (Grafana's "All"), or with *every* False the last one only (in Grafana's sorted
    order: the scenario table's service with a domain, the Total); the host is ours."""
    chosen: Chosen = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        values = variable_values(influxd, variable, chosen)
        assert values, (board["uid"], variable["name"], interpolate(variable["query"], chosen))
        if variable["name"] == "host":
            assert HOST in values, values
            values = [HOST]
        chosen[variable["name"]] = (variable, values if every else values[-1:])
    return chosen


@pytest.mark.parametrize("every", [True, False], ids=["all", "one"])
@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.stem)
def test_every_panel_returns_the_series_the_check_printed(
        path: Path, every: bool, fed: Fed) -> None:
    """With every value of every variable selected, each panel returns a series for each
    label of its regex that some service printed, no other, and its latest values
    are the printed ones; with one value of each, only that service's (and owner's,
    domain's) series."""
    influxd, results = fed.influxd, fed.results
    board = json.loads(path.read_text())
    chosen = resolved(influxd, board, every)
    commands = chosen["command"][1]
    mine = {name: result for name, result in results.items()
            if fed.commands[name] in commands}
    assert mine, (path.name, commands)
    if every:
        assert set(chosen["service"][1]) == set(mine), (chosen["service"][1], sorted(mine))
    mine = {name: result for name, result in mine.items() if name in chosen["service"][1]}
    checked = 0
    for panel in board["panels"]:
        for target in panel["targets"]:
            text = interpolate(target["query"], chosen)
            (series,) = influxd.select([text])
            match = METRIC_RE.search(text)
            assert match, text
            wanted = {(name, label) for name, result in mine.items()
                      for label in perfdata(result)
                      if re.fullmatch(match.group(1), label)
                      and not (match.group(2) and re.search(match.group(2), label))}
            assert wanted or not every, (path.name, panel["title"],
                                         "no scenario prints these labels")
            got = {(s["tags"]["service"], s["tags"]["metric"]): s for s in series}
            assert set(got) == wanted, (path.name, panel["title"], text,
                                        sorted(set(got) ^ wanted))
            for (name, label), item in got.items():
                assert item["tags"]["hostname"] == HOST
                assert item["name"] in commands, item["name"]
                unit = fed.units.get((name, label))
                assert panel["fieldConfig"]["defaults"]["unit"] == GRAFANA_UNIT[unit], (
                    path.name, panel["title"], label, unit)
                latest = dict(zip(item["columns"], item["values"][-1]))
                perf = perfdata(results[name])[label]
                assert latest.get("value") == perf.value, (name, label, latest, perf)
                for column, printed in (("warn", perf.warn), ("crit", perf.crit)):
                    if column in latest:
                        assert latest[column] == plain_number(printed), (
                            name, label, column, latest, perf)
                checked += 1
    assert checked, path.name
    print(f"{path.name} ({'all' if every else 'one'}): {len(board['panels'])} panels, "
          f"{checked} series checked")


def plain_number(threshold: str) -> Optional[float]:
    """Icinga 2.13 keeps a threshold only when it is a plain number (no range)."""
    return float(threshold) if re.fullmatch(r"-?\d+(\.\d+)?", threshold) else None


def test_reboot_annotation_marks_the_run_that_saw_the_reboot(fed: Fed) -> None:
    board = json.loads((GRAFANA / "check_host_uptime.json").read_text())
    chosen = resolved(fed.influxd, board)
    (reboots,) = [a for a in board["annotations"]["list"] if a.get("name") == "Reboots"]
    (series,) = fed.influxd.select([interpolate(reboots["query"], chosen)])
    rows = [dict(zip(item["columns"], row)) for item in series for row in item["values"]]
    # one reboot: the faked one; the scenario's own uptime services saw none
    assert [(row["service"], row["value"]) for row in rows] == [("host_uptime-reboot", 1)]
    assert reboots["textColumn"] in series[0]["columns"]


def test_mode_2_panel_shows_the_burst_and_the_quiet_after(fed: Fed) -> None:
    """The drops and would-blocks of the one burst: a bar between zeros."""
    board = json.loads((GRAFANA / "check_zmq_hwm.json").read_text())
    chosen = resolved(fed.influxd, board)
    (panel,) = [p for p in board["panels"] if "per minute (mode 2)" in p["title"]]
    (series,) = fed.influxd.select([interpolate(panel["targets"][0]["query"], chosen)])
    shown = {item["tags"]["metric"]: [row[1] for row in item["values"]] for item in series}
    for label in ("drops_per_min", "wouldblock_per_min"):
        values = shown[label]
        assert len(values) == 3 and values[0] == 0 and values[1] > 0 and values[2] == 0, (
            label, values)


# the trend figures each growing service printed last, and the board that draws them
TRENDS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "check_mta_backlog.json": {"mta_backlog-trend": (
        "messages_growth", "deferred_growth", "messages_growth_deferred",
        "deferred_age_growth", "time_to_critical", "time_to_full")},
    "check_zmq_hwm.json": {"zmq_hwm-trend": ("sendq_growth", "time_to_full"),
                           "zmq_hwm-stats": ("drops_trend", "wouldblock_trend")},
}


@pytest.mark.parametrize("board_name", sorted(TRENDS))
def test_trend_panels_show_the_growth(board_name: str, fed: Fed) -> None:
    """Mail added between runs, a Send-Q that grows, a burst of drops: each growth
    figure was printed, above 0, and a panel of the board shows it as its latest."""
    board = json.loads((GRAFANA / board_name).read_text())
    chosen = resolved(fed.influxd, board)
    shown: Dict[Tuple[str, str], Tuple[str, Any]] = {}
    for panel in board["panels"]:
        text = interpolate(panel["targets"][0]["query"], chosen)
        (series,) = fed.influxd.select([text])
        for item in series:
            latest = dict(zip(item["columns"], item["values"][-1]))
            shown[(item["tags"]["service"], item["tags"]["metric"])] = (
                panel["title"], latest["value"])
    for service, labels in TRENDS[board_name].items():
        printed = perfdata(fed.results[service])
        for label in labels:
            assert label in printed, (service, label, fed.results[service]["output"],
                                      sorted(printed))
            value = printed[label].value
            assert value > 0, (service, label, value)
            assert (service, label) in shown, (service, label, "on no panel")
            title, latest = shown[(service, label)]
            assert latest == value, (service, label, title, latest, value)
            print(f"{service} {label} = {value}{printed[label].uom} on {title!r}")
    if "zmq_hwm-trend" in TRENDS[board_name]:
        # the slow consumer's Send-Q takes all the PUB sends: 20 x 1000 B a second
        growth = perfdata(fed.results["zmq_hwm-trend"])["sendq_growth"].value
        assert abs(growth - SLOW_RATE * 60) <= 0.25 * SLOW_RATE * 60, growth
