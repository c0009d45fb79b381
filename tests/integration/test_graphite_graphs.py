"""contrib/icingaweb2-graphite drawn from real data: a real Icinga 2 runs every service
of the scenario table (tests/scenarios.py) plus growth and ZeroMQ mode 2 services, its
GraphiteWriter feeds a real carbon-cache (Debian graphite-carbon) that writes whisper
files, and a real graphite-web (Debian, 1.1.8) answers the queries that Icinga Web 2's
graphite module would send for each template (tests/graphite_module.py builds them the
module's way). Everything runs in a private network namespace with only loopback.

The PNGs of the run are kept under results/graphs/ (ignored by git) for a person to
look at; the test prints where.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import graphite_module as gm
import pytest
import schedulers
from plugin_output import parse_perf
from scenarios import Case, Scenario
from schedulers import Icinga, Netns
from test_icinga2 import HOST, case_services, local_config, settled, unquoted

RESULTS = schedulers.ROOT / "results" / "graphs"
FIXTURE = schedulers.ROOT / "tests" / "fixtures" / "graphite" / "perfdata.txt"
CARBON_CACHE = "/usr/bin/carbon-cache"
GRAPHITE_WEB = Path("/usr/lib/python3/dist-packages/graphite")
DATA_SECONDS = 25  # of check results drawn
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# graphite-web's Django application behind the standard library's WSGI server (the
# Debian package ships it for Apache's mod_wsgi only); its own settings module and
# storage: nothing of /etc/graphite or /var/lib/graphite is used.
SERVE = """\
import os, sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
sys.path.insert(0, sys.argv[2])
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
os.environ["GRAPHITE_SETTINGS_MODULE"] = "nagios_ipc_graphite_settings"
import django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0, interactive=False)
from django.core.wsgi import get_wsgi_application
class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
httpd = make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(),
                    server_class=Server, handler_class=Quiet)
print("serving", flush=True)
httpd.serve_forever()
"""

# Many requests in one process inside the namespace: [{"url"}] -> [{"status", "body"}]
FETCH = """\
import json, sys, urllib.error, urllib.request
out = []
for item in json.load(open(sys.argv[1])):
    try:
        with urllib.request.urlopen(item["url"], timeout=30) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except Exception as exc:
        status, body = 0, repr(exc).encode()
    out.append({"status": status, "body": body.decode("utf-8", "replace")})
json.dump(out, open(sys.argv[2], "w"))
"""


class Graphite:
    """carbon-cache and graphite-web of our own, in the namespace."""

    def __init__(self, root: Path, netns: Netns) -> None:
        self.root = root
        self.netns = netns
        self.line_port, self.pickle_port, self.query_port, self.web_port = \
            schedulers.free_ports(4)
        self.storage = root / "storage"
        for sub in ("storage/whisper", "storage/log/webapp", "conf", "log", "run", "py"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "conf" / "carbon.conf").write_text(f"""\
[cache]
STORAGE_DIR = {self.storage}/
LOCAL_DATA_DIR = {self.storage}/whisper/
CONF_DIR = {root}/conf/
LOG_DIR = {root}/log/
PID_DIR = {root}/run/
DATABASE = whisper
ENABLE_LOGROTATION = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
# every metric gets its whisper file at once (Debian's 50 a minute would hold back
# most of the fifty-owner service's items for minutes)
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {self.line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {self.pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {self.query_port}
WHISPER_FALLOCATE_CREATE = False
LOG_LISTENER_CONN_SUCCESS = False
""")
        # a point every 2 seconds, kept 15 minutes: the test's checks run every second,
        # a little late at times; with 1 s points those seconds would be gaps in the
        # graphs. Of two results in one point, carbon keeps the later: Icinga's last.
        (root / "conf" / "storage-schemas.conf").write_text(
            "[everything]\npattern = .*\nretentions = 2s:15m\n")
        (root / "py" / "nagios_ipc_graphite_settings.py").write_text(f"""\
SECRET_KEY = "nagios-ipc-test-only"
STORAGE_DIR = "{self.storage}"
LOG_DIR = "{self.storage}/log/webapp"
# graphite-web reads points not yet written to whisper from carbon-cache itself
CARBONLINK_HOSTS = ["127.0.0.1:{self.query_port}:a"]
TIME_ZONE = "UTC"
""")
        self.procs: List[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.procs.append(self.netns.start(
            [CARBON_CACHE, f"--config={self.root}/conf/carbon.conf", "--nodaemon",
             f"--pidfile={self.root}/run/carbon.pid", "--logfile=-", "start"],
            self.root / "log" / "carbon.out"))
        self.procs.append(self.netns.start(
            ["/usr/bin/python3", "-c", SERVE, str(self.web_port), str(self.root / "py")],
            self.root / "log" / "web.out"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listening = self.netns.run(["ss", "-Htln"]).stdout
            if all(f"127.0.0.1:{port} " in listening
                   for port in (self.line_port, self.query_port, self.web_port)):
                return
            for proc in self.procs:
                assert proc.poll() is None, self.logs()
            time.sleep(0.3)
        raise AssertionError("carbon-cache or graphite-web did not listen:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}"
                         for path in sorted((self.root / "log").glob("*.out")))

    def url(self, path: str, params: Sequence[Tuple[str, str]]) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}?{urllib.parse.urlencode(params)}"

    def fetch(self, items: List[Dict[str, str]]) -> List[Dict[str, Any]]:
        if not items:
            return []
        ask, answer = self.root / "ask.json", self.root / "answer.json"
        ask.write_text(json.dumps(items))
        done = self.netns.run(["/usr/bin/python3", "-c", FETCH, str(ask), str(answer)],
                              timeout=300)
        assert done.returncode == 0, done.stderr
        answers: List[Dict[str, Any]] = json.loads(answer.read_text())
        return answers

    def stop(self) -> None:
        for proc in reversed(self.procs):
            schedulers.stop(proc)


def extra_scenarios(scenarios: Dict[str, Scenario], workdir: Path,
                    stats_endpoint: str) -> Dict[str, Scenario]:
    """Services the scenario table does not have but the templates draw: growth of the
    MTA queue (the table's MTA cases turn growth off) and ZeroMQ mode 2 (the helper's
    counters through --stats-endpoint)."""
    mta = scenarios["check_mta_backlog"]
    base = list(mta.cases[0].args)
    at = base.index("--trend-window")
    del base[at:at + 2]
    state = workdir / "extra-state"
    state.mkdir(exist_ok=True)
    zmq = scenarios["check_zmq_hwm"]
    return {
        "check_mta_backlog": Scenario(**{**vars(mta), "cases": (Case(
            "growth", (*base, "--state-file", f"{state}/mta-growth.json"), 1, r"^MTA_BACKLOG",
            settled=r"deferred_growth="),)}),
        "check_zmq_hwm": Scenario(**{**vars(zmq), "cases": (Case(
            "mode2", ("--stats-endpoint", stats_endpoint, "--state-file",
                      f"{state}/zmq-mode2.json"), 0, r"^ZMQ_HWM",
            settled=r"wouldblock_per_min=[1-9]"),)}),
    }


Run = Tuple[Graphite, Dict[str, Tuple[Scenario, Case]], Dict[str, Dict[str, Any]],
            Dict[str, str], int, int]


@pytest.fixture(scope="module")
def run(plugins: Dict[str, Path], scenarios: Dict[str, Scenario],
        netns: Netns) -> Iterator[Run]:
    """(graphite, services, Icinga's last results, service -> check command, first
    and last second of the data)."""
    why = schedulers.missing_tools(schedulers.ICINGA, CARBON_CACHE, gm.PHP,
                                   "/usr/bin/unshare", "/usr/bin/nsenter")
    for path in (GRAPHITE_WEB / "settings.py", gm.MODULE_DIR / "library"):
        if not why and not path.exists():
            why = f"{path} is not installed (tests/debian-packages/graphs-graphite.txt)"
    if why:
        pytest.skip(why)
    from tests.integration.zmqtools import Apps

    workdir = schedulers.make_workdir("nagios-ipc-graphite-")
    graphite = Graphite(workdir / "graphite", netns)
    api_port, stats_port = schedulers.free_ports(2)
    icinga = Icinga(workdir / "icinga", "icinga-graphite", api_port)
    apps = Apps()
    stop = threading.Event()
    burster: Optional[threading.Thread] = None
    try:
        graphite.start()
        # an application with the stats helper: its PUSH has no peer, so every send
        # would block; bursts of sends between checks give mode 2 rates above 0
        stats = f"tcp://127.0.0.1:{stats_port}"
        app = apps.start("stats", "--stats", stats, "--endpoint", "tcp://127.0.0.1:*",
                         stdin=True, prefix=netns.argv([]))

        def burst() -> None:
            while not stop.wait(1.0):
                try:
                    app.send("burst 50")
                except (BrokenPipeError, ValueError):
                    return
                app.wait_line("burst", timeout=10)

        burster = threading.Thread(target=burst, daemon=True)
        burster.start()
        icinga.pki(icinga)
        text, services = case_services(scenarios, "graphite")
        # the reboot service below checks every 3 s: of two results in one 2 s point
        # carbon keeps the later, and the one run that saw the reboot must stay a point
        text, changed = re.subn(r'(object Service "check_host_uptime-period" \{[^}]*?'
                                r'check_interval = )1s', r"\g<1>3s", text)
        assert changed == 1, text[:2000]
        extra_text, extra = case_services(extra_scenarios(scenarios, workdir, stats),
                                          "graphite")
        services.update(extra)
        commands = schedulers.check_commands()
        command_of = {name: commands[scenario.check].name
                      for name, (scenario, _case) in services.items()}
        icinga.start(netns, local_config(icinga, text + extra_text, extra=f"""
object GraphiteWriter "graphite" {{
  host = "127.0.0.1"
  port = {graphite.line_port}
  enable_send_thresholds = true
}}
"""))
        icinga.wait_results(HOST, settled(services), list(services), timeout=45)
        # the graphs begin a little before every service settled (the first seconds
        # after Icinga's start have no results yet: an empty left half to look at)
        first = int(time.time()) - 5
        time.sleep(8)
        # a reboot, for the reboots chart: the period service's state file names
        # another boot, so its next run reports one (reboots=1), the runs after it none
        period = next(case for scenario, case in services.values()
                      if scenario.check == "check_host_uptime" and case.id == "period")
        argv = period.argv("graphite")
        pretend_reboot(Path(argv[argv.index("--state-file") + 1]))
        time.sleep(max(first + DATA_SECONDS - time.time(), 0))
        # no new results from here on: Icinga's last result is the latest point
        icinga.api("/v1/objects/icingaapplications/app",
                   {"attrs": {"enable_service_checks": False}})
        time.sleep(2.5)  # a check already running when checks were turned off
        results = icinga.results(HOST)
        last = int(time.time()) + 1
        yield graphite, services, results, command_of, first, last
    finally:
        stop.set()
        icinga.stop()
        apps.stop_all()
        if burster is not None:
            burster.join(timeout=15)
        graphite.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def pretend_reboot(state_file: Path) -> None:
    """Another boot id in a check_host_uptime state file, under the check's own lock
    (nagios_ipc/state.py: flock on PATH.lock, the file replaced by a rename): a run
    at the same moment reads the old file or the new one, never half of it."""
    import fcntl

    lock = os.open(f"{state_file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = json.loads(state_file.read_text())
        saved["boot_id"] = "00000000-0000-4000-8000-000000000000"
        temporary = state_file.with_name(state_file.name + ".graphite-test")
        temporary.write_text(json.dumps(saved))
        temporary.chmod(0o600)
        temporary.replace(state_file)
    finally:
        os.close(lock)  # releases the flock


def perf_by_label(result: Dict[str, Any]) -> Dict[str, Any]:
    return {perf.label: perf for perf in
            (parse_perf(unquoted(item)) for item in result["performance_data"] or [])}


def expected_of(metric: str, results: Dict[str, Dict[str, Any]]) -> float:
    """What the check printed for a metric path icinga2.HOST.services.SERVICE.COMMAND.
    perfdata.LABEL.FIELD (Icinga's last result: the same text, tests/integration/
    test_icinga2.py proves it against a direct run)."""
    path = metric.split(".")
    service, label, part = path[3], ".".join(path[6:-1]), path[-1]
    perf = perf_by_label(results[service])[label]
    return float(perf.value if part == "value" else getattr(perf, part))


def latest(series: Dict[str, Any]) -> Optional[float]:
    points = [value for value, _when in series["datapoints"] if value is not None]
    return points[-1] if points else None


def legend_of(target: str) -> str:
    found = re.search(r"alias\(.*,\s*'([^']*)'\)\s*$", target)
    assert found, f"no legend (alias) in {target}"
    return found.group(1)


def png_size(head: bytes) -> Tuple[int, int]:
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", head
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def module_charts(graphite: Graphite, command_of: Dict[str, str], start: int,
                  until: int) -> List[Dict[str, Any]]:
    """The module's own charts (tests/graphite_charts.php) for every service, their
    PNGs rendered by graphite-web into the work directory."""
    pngs = graphite.root / "png"
    pngs.mkdir(exist_ok=True)
    services = graphite.root / "services.json"
    services.write_text(json.dumps([{"host": HOST, "service": name, "command": command}
                                    for name, command in sorted(command_of.items())]))
    config = gm.module_config(graphite.root / "icingaweb2")
    done = graphite.netns.run(
        gm.module_argv(gm.TEMPLATE_DIR, f"http://127.0.0.1:{graphite.web_port}/", pngs,
                       start, until, services), timeout=300,
        env={**schedulers.CLEAN_ENV, "ICINGAWEB_CONFIGDIR": str(config)})
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout[-3000:] + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def mirror_charts(graphite: Graphite, command_of: Dict[str, str]) -> Dict[
        Tuple[str, str, Tuple[Tuple[str, str], ...]], gm.Chart]:
    """The same charts by tests/graphite_module.py (what the unit tests rely on)."""
    templates = gm.load_templates()
    queries = sorted({full.resolve({"host.name": gm.escape_step(HOST),
                                    "service.name": gm.escape_step(name),
                                    "service.check_command": gm.escape_step(command)}, "*")
                      for name, command in command_of.items()
                      for template in gm.templates_for(templates, command)
                      for full in template.full_curves.values()})
    answers = graphite.fetch([{"url": graphite.url("/metrics/expand", [("query", query)])}
                              for query in queries])
    expanded: Dict[str, List[str]] = {}
    for query, answer in zip(queries, answers):
        assert answer["status"] == 200, (query, answer)
        expanded[query] = json.loads(answer["body"])["results"]
    return {(name, template.name, tuple(chart.metrics.items())): chart
            for name, command in sorted(command_of.items())
            for template in gm.templates_for(templates, command)
            for chart in gm.charts(template, HOST, name, command, expanded.__getitem__)}


def test_every_template_draws_what_the_checks_printed(run: Run) -> None:
    graphite, _services, results, command_of, start, until = run
    templates = gm.load_templates()
    began = time.monotonic()
    charts = module_charts(graphite, command_of, start, until)
    module_seconds = time.monotonic() - began
    drawn = {chart["template"] for chart in charts}
    assert drawn == set(templates), f"templates that drew nothing: {set(templates) - drawn}"

    # tests/graphite_module.py finds the same charts and builds the same /render query
    mirrored = mirror_charts(graphite, command_of)
    keyed = {(chart["service"], chart["template"], tuple(chart["metrics"].items())): chart
             for chart in charts}
    assert set(keyed) == set(mirrored), sorted(set(keyed) ^ set(mirrored))[:5]
    for key, chart in keyed.items():
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(chart["url"]).query,
                                       keep_blank_values=True)
        height = next(value for name, value in query if name == "height")
        params = mirrored[key].params(start, until, height=int(height))
        assert ([item for item in query if item[0] != "_salt"]
                == [item for item in params if item[0] != "_salt"]), (key, query, params)

    # format=json of every chart, the module's query: one series per curve, named by
    # its legend, whose latest point is what the check printed (times its scale())
    answers = graphite.fetch([{"url": chart["url"] + "&format=json"} for chart in charts])
    series_count = 0
    for chart, answer in zip(charts, answers):
        where = (chart["template"], chart["service"], chart["variables"].get("owner"))
        assert answer["status"] == 200, (where, answer)
        series = json.loads(answer["body"])
        targets = [value for name, value in urllib.parse.parse_qsl(
            urllib.parse.urlsplit(chart["url"]).query) if name == "target"]
        assert [item["target"] for item in series] == [legend_of(t) for t in targets], (
            where, answer["body"][:500])
        for (curve, metric), target, item in zip(chart["metrics"].items(), targets, series):
            value = latest(item)
            if gm.is_anchor(target):
                assert item["datapoints"] and value is None, (where, curve, item)
                continue
            if chart["template"] == "host_uptime-reboots" and curve == "reboots.value" \
                    and chart["service"].endswith("-period"):
                # the reboot the fixture pretended: one run said so, a vertical line
                assert 1.0 in [point for point, _when in item["datapoints"]], (where, item)
            want = expected_of(metric, results) * gm.scale_of(target)
            assert value is not None and math.isclose(value, want, rel_tol=1e-6,
                                                      abs_tol=1e-9), (where, metric, value, want)
            series_count += 1

    # format=png: the image the module got, at the module's size (350x200, or the larger
    # height a template asks for), kept for a person to look at
    if RESULTS.exists():
        shutil.rmtree(RESULTS)
    RESULTS.mkdir(parents=True)
    sizes = []
    for chart in charts:
        image = Path(chart["png"]).read_bytes()
        asked = templates[chart["template"]].urlparams.get("height")
        height = max(200, int(asked.original)) if asked else 200
        assert png_size(image[:24]) == (350, height), chart["template"]
        assert len(image) > 2000, (chart["template"], chart["service"], len(image))
        sizes.append(len(image))
        instance = "".join(f"--{chart['variables'][macro]}" for macro in (
            "owner", "domain", "type") if macro in chart["variables"])
        (RESULTS / f"{chart['template']}--{chart['service']}{instance}.png").write_bytes(image)
    print(f"\n{len(charts)} charts of {len(templates)} templates ({module_seconds:.1f} s in "
          f"the module), {series_count} series with values; PNGs {min(sizes)}..{max(sizes)} "
          f"bytes in {RESULTS}")


def normal_label(label: str) -> str:
    """A label with the scenario's own names (random uids, the test domain) as words."""
    return re.sub(r"(?<=_)\d{5,}$", "OWNER", label)


def test_the_label_fixture_is_what_the_checks_print_now(run: Run) -> None:
    """tests/fixtures/graphite/perfdata.txt (the unit tests check the templates
    against it) holds the labels of this run's services: it has not drifted."""
    _graphite, _services, results, command_of, _start, _until = run
    live = sorted({f"{command_of[name]} {normal_label(label)}"
                   for name, result in results.items() if name in command_of
                   for label in perf_by_label(result)})
    if os.environ.get("NAGIOS_IPC_WRITE_FIXTURES") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(FIXTURE_HEADER + "\n".join(live) + "\n")
    recorded = [line for line in FIXTURE.read_text().splitlines()
                if line and not line.startswith("#")]
    assert recorded == live, (sorted(set(recorded) ^ set(live)), sys.argv)


FIXTURE_HEADER = """\
# Perfdata labels of every service of tests/integration/test_graphite_graphs.py, as
# CheckCommand and label (owner uids, random per run, written OWNER). Captured from a
# real run (Debian 12, Icinga 2.13, the scenario table of tests/scenarios.py plus the
# test's MTA growth and ZeroMQ mode 2 services); that test fails when the checks print
# other labels, NAGIOS_IPC_WRITE_FIXTURES=1 rewrites this file.
"""
