"""The shipped contrib files for check_zmq_hwm, run by the real schedulers.

NRPE 4 runs the shipped fixed-argument commands (paths pointed at a test
application) inside a private network namespace with only loopback; the
application (zmq_apps.py stats, as the nagios user, Debian's python3) runs in
the same namespace, so its sockets are the ones sock_diag sees there. Icinga 2
validates the CheckCommand with services using its variables, arrays included.
Everything is stopped by the PID of the session we started.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from helpers import CHECKS, ROOT, shared_tempdir
from zmqtools import Apps, apps_fixture, free_port  # noqa: F401 - a fixture

CONTRIB = ROOT / "contrib"
APPS = ROOT / "tests" / "integration" / "zmq_apps.py"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
NRPE_COMMANDS = ("check_zmq_hwm", "check_zmq_hwm_feed_port", "check_zmq_hwm_stats")


def need(*tools: str) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root (network namespace, daemons)")
    for tool in tools:
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed")


@pytest.fixture
def workdir() -> Iterator[Path]:
    yield from shared_tempdir("zmq-sched-")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM to the process we started (Icinga's umbrella: it stops its worker, which
    dumps its state; a SIGTERM to the whole group at once can end the worker before
    the dump), then whatever is left of the session we started."""
    if proc.poll() is None:
        os.kill(proc.pid, 15)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    if proc.poll() is None:
        proc.wait(timeout=5)


NRPE_SCRIPT = """
ip link set lo up
env PYTHONPATH="$2" setpriv --reuid=nagios --regid=nagios --clear-groups \
    /usr/bin/python3 "$3" stats --stats "ipc://$1/app/stats.ipc" \
    --endpoint tcp://127.0.0.1:5556 --dead-port 5557 --hold < /dev/null > "$1/app/out" 2>&1 &
app=$!
echo $app > "$1/app/feed.pid"
/usr/sbin/nrpe -c "$1/nrpe.cfg" -f &
nrpe=$!
trap 'kill $nrpe $app 2>/dev/null; wait $nrpe' EXIT
for i in $(seq 100); do
    [ -s "$1/app/out" ] && /usr/lib/nagios/plugins/check_nrpe -H 127.0.0.1 -t 2 \
        >/dev/null 2>&1 && break
    sleep 0.1
done
for round in 1 2; do
    for command in @COMMANDS@; do
        out=$(/usr/lib/nagios/plugins/check_nrpe -H 127.0.0.1 -c "$command")
        echo "=== $round $command $?"
        echo "$out"
    done
    sleep 1.1
done
""".replace("@COMMANDS@", " ".join(NRPE_COMMANDS))


def nrpe_config(workdir: Path) -> str:
    lines = [f"pid_file={workdir}/nrpe.pid", "server_address=127.0.0.1", "server_port=5666",
             "allowed_hosts=127.0.0.1", "nrpe_user=nagios", "nrpe_group=nagios",
             "dont_blame_nrpe=0", "command_timeout=60", "connection_timeout=30",
             "disable_syslog=1", f"log_file={workdir}/nrpe.log"]
    shipped = (CONTRIB / "nrpe" / "check_zmq_hwm.cfg").read_text()
    commands = [line for line in shipped.splitlines() if line.startswith("command[")]
    names = [line[len("command["):line.index("]")] for line in commands]
    assert names == list(NRPE_COMMANDS)
    for name, command in zip(names, commands):
        assert " -t 8 " in command  # below check_nrpe's 10 s and NRPE's 60 s
        command = (command.replace("/usr/lib/nagios/plugins/check_zmq_hwm",
                                   str(CHECKS / "check_zmq_hwm"))
                   .replace("/run/feed/feed.pid", f"{workdir}/app/feed.pid")
                   .replace("ipc:///run/feed/stats", f"ipc://{workdir}/app/stats.ipc"))
        lines.append(f"{command} --state-file {workdir}/app/{name}.json")
    return "\n".join(lines) + "\n"


def test_nrpe_runs_the_shipped_commands(workdir: Path) -> None:
    need("/usr/sbin/nrpe", "/usr/lib/nagios/plugins/check_nrpe", "/usr/bin/unshare",
         "/usr/bin/setpriv")
    try:
        nagios = pwd.getpwnam("nagios")
    except KeyError:
        pytest.skip("no nagios user")
    (workdir / "app").mkdir()
    os.chown(workdir / "app", nagios.pw_uid, nagios.pw_gid)
    (workdir / "nrpe.cfg").write_text(nrpe_config(workdir))
    proc = subprocess.Popen(["/usr/bin/unshare", "-n", "/bin/sh", "-c", NRPE_SCRIPT, "sh",
                             str(workdir), str(ROOT), str(APPS)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=CLEAN_ENV, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        stop(proc)
    text = out.decode()
    results: Dict[str, List[str]] = {}
    for block in text.split("=== ")[1:]:
        head, _, body = block.partition("\n")
        round_, name, code = head.split()
        results[f"{round_} {name}"] = [code, body.splitlines()[0] if body else ""]
    assert len(results) == 6, text
    pid = (workdir / "app" / "feed.pid").read_text().strip()
    for round_ in ("1", "2"):
        code, line = results[f"{round_} check_zmq_hwm"]
        assert code == "0", text
        assert line.startswith(f"ZMQ_HWM OK: no connections of pid {pid} (python3) "
                               f"(3 listening) | peers=0;;;0 stalled=0;;0;0;0 "), text
        code, line = results[f"{round_} check_zmq_hwm_feed_port"]
        assert code == "0", text
        assert line.startswith(f"ZMQ_HWM OK: idle: 1 listening on tcp://0.0.0.0:5556 in pid "
                               f"{pid} (python3), no peer connected now | peers=0;;;0 "
                               f"stalled=0;0;;0;0 "
                               f"stalled_for=0s;;300;0 "), text
    assert results["1 check_zmq_hwm_stats"] == [
        "0", f"ZMQ_HWM OK: 3 sockets of pid {pid} (user nagios; identity not verified: no "
             f"--expect-user), first run: rates start with the next run, "
             f"HWM fill not available (no draft pipes-stats API) | sends=0c;;;0"], text
    code, line = results["2 check_zmq_hwm_stats"]
    assert code == "0", text
    assert re.match(rf"ZMQ_HWM OK: 3 sockets of pid {pid} \(user nagios; identity not verified: "
                    rf"no --expect-user\) / worst: socket '\w+' .* \| "
                    r"drops_per_min=0;0;\d*;0 wouldblock_per_min=0;;;0 ", line), text


ICINGA_SERVICES = """
object Service "zmq-sockets" {{
  host_name = "h"
  check_command = "zmq_hwm"
  vars.zmq_hwm_pid = [ 1, 2 ]
  vars.zmq_hwm_endpoint = [ "tcp://0.0.0.0:5556", "ipc:///run/feed/x.ipc" ]
  vars.zmq_hwm_stalled_for_critical = "5m"
  vars.zmq_hwm_verbose = true
  vars.zmq_hwm_state_file = "{workdir}/s.json"
}}
object Service "zmq-stats" {{
  host_name = "h"
  check_command = "zmq_hwm"
  vars.zmq_hwm_stats_endpoint = "ipc:///run/feed/stats"
  vars.zmq_hwm_curve_server_key_file = "/etc/feed/stats.key"
  vars.zmq_hwm_drops_per_min_critical = "100"
}}
"""


def icinga_dirs(workdir: Path) -> List[str]:
    """Icinga 2's data, log, cache, spool and run directories made under *workdir*, and
    the -D options that point it there (as root, node and zone zmq-test)."""
    for sub in ("data", "log", "cache", "spool", "run"):
        (workdir / sub).mkdir()
    return [f"-DDataDir={workdir}/data", f"-DLogDir={workdir}/log",
            f"-DCacheDir={workdir}/cache", f"-DSpoolDir={workdir}/spool",
            f"-DInitRunDir={workdir}/run", "-DRunAsUser=root", "-DRunAsGroup=root",
            "-DNodeName=zmq-test", "-DZoneName=zmq-test"]


def test_icinga2_validates_the_check_command(workdir: Path) -> None:
    icinga = "/usr/sbin/icinga2"
    need(icinga)
    config = workdir / "main.conf"
    config.write_text(f"""
const PluginDir = "{CHECKS}"
const PluginContribDir = "{CHECKS}"
include <itl>
include "{CONTRIB}/icinga2/check_zmq_hwm.conf"
object Host "h" {{ check_command = "dummy" }}
""" + ICINGA_SERVICES.format(workdir=workdir))
    defines = icinga_dirs(workdir)
    done = subprocess.run([icinga, "daemon", "-C", "-c", str(config), *defines],
                          capture_output=True, text=True, env=CLEAN_ENV, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # every option of the plugin has its argument, and every argument a description
    shipped = (CONTRIB / "icinga2" / "check_zmq_hwm.conf").read_text()
    help_text = subprocess.run([sys.executable, str(CHECKS / "check_zmq_hwm"), "--help"],
                               capture_output=True,
                               text=True, timeout=60).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text.split("general options:")[1]))
    options -= {"--help", "--version"}
    arguments = set(re.findall(r'"(--[a-z-]+)" = \{', shipped))
    assert options == arguments
    assert shipped.count("description = ") == len(arguments)


def read_netstrings(data: str) -> Iterator[Any]:
    """icinga2.state: netstrings ('<length>:<json>,') of JSON records."""
    pos = 0
    while pos < len(data):
        length_text, _, _ = data[pos:pos + 20].partition(":")
        length = int(length_text)
        start = pos + len(length_text) + 1
        yield json.loads(data[start:start + length])
        pos = start + length + 1


def test_icinga2_runs_the_check_command(apps: Apps, workdir: Path) -> None:
    """A running Icinga 2 (private network namespace) checks a real application's
    stats endpoint over ipc:// through the shipped CheckCommand, twice."""
    icinga = "/usr/sbin/icinga2"
    need(icinga, "/usr/bin/unshare")
    stats = f"ipc://{workdir}/stats.ipc"
    app = apps.start("stats", "--stats", stats, "--endpoint", f"tcp://127.0.0.1:{free_port()}",
                     "--dead-port", str(free_port()), stdin=True)
    state = workdir / "zmq.json"
    config = workdir / "main.conf"
    config.write_text(f"""
const PluginDir = "{CHECKS}"
const PluginContribDir = "{CHECKS}"
include <itl>
include "{CONTRIB}/icinga2/check_zmq_hwm.conf"
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Host "h" {{ check_command = "dummy"; enable_active_checks = false }}
object Service "zmq" {{
  host_name = "h"
  check_command = "zmq_hwm"
  check_interval = 1s
  retry_interval = 1s
  vars.zmq_hwm_stats_endpoint = "{stats}"
  vars.zmq_hwm_drops_per_min_critical = "100"
  vars.zmq_hwm_state_file = "{state}"
  vars.zmq_hwm_timeout = 8
}}
""")
    defines = icinga_dirs(workdir)
    proc = subprocess.Popen(["/usr/bin/unshare", "-n", "/bin/sh", "-c",
                             'ip link set lo up; exec "$@"', "sh", icinga, "daemon",
                             "-c", str(config), *defines],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV,
                            start_new_session=True)
    try:
        seen = set()
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:  # two runs: rates
            if state.exists():
                try:
                    seen.add(json.loads(state.read_text())["now"])
                except ValueError:
                    pass  # being replaced
            time.sleep(0.1)
        assert len(seen) >= 2, "Icinga did not run the check twice in 30 s"
        time.sleep(0.5)
    finally:
        stop(proc, timeout=60)  # SIGTERM: Icinga dumps its state (slow on a busy machine)
    records = read_netstrings((workdir / "data" / "icinga2.state").read_text())
    result = next(r["update"]["last_check_result"] for r in records
                  if isinstance(r, dict) and r.get("name") == "h!zmq")
    assert result["command"] == [
        f"{CHECKS}/check_zmq_hwm", "--drops-per-min-critical", "100", "--state-file",
        str(state), "--stats-endpoint", stats, "--timeout", "8"]
    assert (result["exit_status"], result["state"]) == (0, 0), result["output"]
    assert result["output"].startswith(f"ZMQ_HWM OK: 3 sockets of pid {app.pid} (user root; "
                                       f"identity not verified: no --expect-user) / worst: ")
    labels = [item.split("=")[0] for item in result["performance_data"]]
    assert labels == ["drops_per_min", "wouldblock_per_min", "disconnects_per_min",
                      "retries_per_min", "auth_failures_per_min", "sends"]
    assert result["performance_data"][0] == "drops_per_min=0;0;100;0"
