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

import base64
import html
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import graphite_module as gm
import pytest
import schedulers
from plugin_output import parse_perf
from scenarios import Case, Scenario
from director import MARIADB, MARIADBD, PHP_CONF_D, Director
from schedulers import Icinga, Netns
from test_icinga2 import HOST, case_services, local_config, settled, unquoted

RESULTS = schedulers.ROOT / "results" / "graphs"
FIXTURE = schedulers.ROOT / "tests" / "fixtures" / "graphite" / "perfdata.txt"
CARBON_CACHE = "/usr/bin/carbon-cache"
GRAPHITE_WEB = Path("/usr/lib/python3/dist-packages/graphite")
IDO_SCHEMA = Path("/usr/share/icinga2-ido-mysql/schema/mysql.sql")
ICINGACLI = "/usr/bin/icingacli"
CHROMIUM = "/usr/bin/chromium"
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

# Many requests in one process inside the namespace: [{"url"}] -> [{"status", "body",
# "head" (the first 24 bytes, base64: an image's signature and size), "size"}]
FETCH = """\
import base64, json, sys, urllib.error, urllib.request
out = []
for item in json.load(open(sys.argv[1])):
    try:
        with urllib.request.urlopen(item["url"], timeout=30) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except Exception as exc:
        status, body = 0, repr(exc).encode()
    out.append({"status": status, "body": body.decode("utf-8", "replace"), "size": len(body),
                "head": base64.b64encode(body[:24]).decode()})
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


@dataclass
class Run:
    graphite: Graphite
    services: Dict[str, Tuple[Scenario, Case]]
    results: Dict[str, Dict[str, Any]]  # Icinga's last result of each service
    command_of: Dict[str, str]  # service -> CheckCommand
    start: int  # the first and last second of the graphs
    until: int
    ido: Director  # the MariaDB of Icinga's IDO (Icinga Web 2's monitoring backend)
    root: Path


@pytest.fixture(scope="module")
def run(plugins: Dict[str, Path], scenarios: Dict[str, Scenario],
        netns: Netns) -> Iterator[Run]:
    """Icinga 2 with every service, its results in graphite (and in an IDO database
    for Icinga Web 2), the checks stopped: the latest points are the last results."""
    why = schedulers.missing_tools(schedulers.ICINGA, CARBON_CACHE, gm.PHP, ICINGACLI,
                                   CHROMIUM, MARIADBD, "/usr/bin/mariadb-install-db",
                                   "/usr/bin/unshare", "/usr/bin/nsenter")
    for path in (GRAPHITE_WEB / "settings.py", gm.MODULE_DIR / "library", IDO_SCHEMA):
        if not why and not path.exists():
            why = f"{path} is not installed (tests/debian-packages/graphs-graphite.txt)"
    if why:
        pytest.skip(why)
    from tests.integration.zmqtools import Apps

    workdir = schedulers.make_workdir("nagios-ipc-graphite-")
    graphite = Graphite(workdir / "graphite", netns)
    (workdir / "ido").mkdir()
    ido = Director(netns, workdir / "ido")  # its MariaDB part only
    api_port, stats_port = schedulers.free_ports(2)
    icinga = Icinga(workdir / "icinga", "icinga-graphite", api_port)
    apps = Apps()
    stop = threading.Event()
    burster: Optional[threading.Thread] = None
    try:
        graphite.start()
        ido.start_server()
        ido.sql("CREATE DATABASE icinga; CREATE USER icinga@localhost IDENTIFIED BY 'icinga';"
                " GRANT ALL ON icinga.* TO icinga@localhost;")
        with open(IDO_SCHEMA) as schema:
            subprocess.run([MARIADB, "--no-defaults", f"--socket={ido.socket}", "-u", "root",
                            "icinga"], stdin=schema, check=True, timeout=120,
                           capture_output=True, env=schedulers.CLEAN_ENV)
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
library "db_ido_mysql"
object IdoMysqlConnection "ido" {{
  socket_path = "{ido.socket}"
  user = "icinga"
  password = "icinga"
  database = "icinga"
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
        yield Run(graphite, services, results, command_of, first, last, ido, workdir)
    finally:
        stop.set()
        icinga.stop()
        ido.stop()
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
    graphite, results, command_of = run.graphite, run.results, run.command_of
    start, until = run.start, run.until
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


# services whose detail view is opened: the two with most graphs (each view costs two
# Chromium starts, a few seconds each on a busy 2-core machine)
SHOWN = ("check_msgqueues-trend", "check_mta_backlog-deferred_warning")


def icingaweb_config(run: Run) -> Path:
    """Icinga Web 2 as the README installs the templates: the monitoring module on the
    IDO database, the graphite module on our graphite-web, the templates in
    modules/graphite/templates/ of the config directory (/etc/icingaweb2/...);
    whoever the web server names (REMOTE_USER) is logged in, with every permission."""
    web = gm.module_config(run.root / "icingaweb2")
    (web / "config.ini").write_text('[global]\nconfig_backend = "ini"\n'
                                    '[logging]\nlog = "none"\n')
    (web / "authentication.ini").write_text('[autologin]\nbackend = "external"\n')
    (web / "roles.ini").write_text('[admins]\nusers = "admin"\npermissions = "*"\n')
    (web / "resources.ini").write_text(
        '[icinga_ido]\ntype = "db"\ndb = "mysql"\nhost = "localhost"\ndbname = "icinga"\n'
        'username = "icinga"\npassword = "icinga"\ncharset = "utf8"\n')
    (web / "modules" / "monitoring").mkdir(parents=True, exist_ok=True)
    (web / "modules" / "monitoring" / "backends.ini").write_text(
        '[icinga]\ntype = "ido"\nresource = "icinga_ido"\n')
    graphite = web / "modules" / "graphite"
    graphite.mkdir(parents=True, exist_ok=True)
    # the last minute: the test's half minute of data, not a sliver of the default hour
    (graphite / "config.ini").write_text(
        f'[graphite]\nurl = "http://127.0.0.1:{run.graphite.web_port}/"\n'
        '[ui]\ndefault_time_range = "1"\ndefault_time_range_unit = "minutes"\n')
    shutil.copytree(gm.TEMPLATE_DIR, graphite / "templates", dirs_exist_ok=True)
    php = run.root / "php-ini"
    php.mkdir(exist_ok=True)
    (php / "99-nagios-ipc-ido.ini").write_text(
        f"pdo_mysql.default_socket = {run.ido.socket}\n")
    return web


def test_icinga_web_2_shows_the_graphs_in_the_service_detail_view(run: Run) -> None:
    """Debian's Icinga Web 2 (icingacli web serve: PHP's own web server) with the
    templates installed, headless Chromium opening a service's detail view: the page
    has a graph per template that draws for the service, each graph's image is a PNG,
    and the screenshot is kept for a person to look at."""
    web = icingaweb_config(run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    port = schedulers.free_ports(1)[0]
    env = {**schedulers.CLEAN_ENV, "ICINGAWEB_CONFIGDIR": str(web), "REMOTE_USER": "admin",
           "PHP_INI_SCAN_DIR": ":".join([*map(str, PHP_CONF_D), str(run.root / "php-ini")])}
    log = run.root / "web.out"
    with open(log, "ab") as out:
        server = subprocess.Popen(run.graphite.netns.argv([ICINGACLI, "web", "serve",
                                                           f"--listen=127.0.0.1:{port}"]),
                                  stdout=out, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while f"127.0.0.1:{port} " not in run.graphite.netns.run(["ss", "-Htln"]).stdout:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        mirrored = mirror_charts(run.graphite, {name: run.command_of[name] for name in SHOWN})
        for name in SHOWN:
            # graphs_limit=-1: what the page's "Load all N graphs" link asks for
            url = (f"http://127.0.0.1:{port}/monitoring/service/show?"
                   + urllib.parse.urlencode({"host": HOST, "service": name,
                                             "graphs_limit": "-1"}))
            shot = RESULTS / f"icingaweb2--{name}.png"
            browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                       "--hide-scrollbars", "--window-size=1280,3000",
                       "--virtual-time-budget=8000", f"--user-data-dir={run.root}/chromium"]
            done = run.graphite.netns.run([*browser, f"--screenshot={shot}", url], timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            dom = run.graphite.netns.run([*browser, "--dump-dom", url], timeout=120).stdout
            images = [html.unescape(src) for src in re.findall(
                r'<img [^>]*class="[^"]*graphiteImg[^"]*"[^>]*>', dom)]
            drawn = {found for image in images
                     for found in re.findall(r"[?&;]template=([\w-]+)", image)}
            wanted = {template for service, template, _metrics in mirrored if service == name}
            assert wanted and drawn == wanted, (name, sorted(drawn), sorted(wanted),
                                                dom[-3000:], log.read_text()[-2000:])
            sources = [re.search(r'data-actualimageurl="([^"]+)"', image) for image in images]
            answers = run.graphite.fetch([
                {"url": f"http://127.0.0.1:{port}" + html.unescape(found.group(1))}
                for found in sources if found])
            assert len(answers) == len(images), name
            for answer in answers:
                assert answer["status"] == 200 and answer["size"] > 2000, answer["body"][:300]
                assert base64.b64decode(answer["head"])[:8] == PNG_SIGNATURE, answer
            assert png_size(shot.read_bytes()[:24]) == (1280, 3000), name
    finally:
        schedulers.stop(server)


def normal_label(label: str) -> str:
    """A label with the scenario's own names (random uids, the test domain) as words."""
    return re.sub(r"(?<=_)\d{5,}$", "OWNER", label)


def test_the_label_fixture_is_what_the_checks_print_now(run: Run) -> None:
    """tests/fixtures/graphite/perfdata.txt (the unit tests check the templates
    against it) holds the labels of this run's services: it has not drifted."""
    results, command_of = run.results, run.command_of
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
