"""The shipped contrib files, run by the real schedulers: NRPE 4 and Icinga 2.

Each daemon runs in a private network namespace with only loopback, with its
own config, state and log files in a temp dir, and is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from helpers import CHECKS, ROOT  # type: ignore[import-not-found]

CONTRIB = ROOT / "contrib"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
NRPE_COMMANDS = ("check_host_uptime", "check_host_uptime_patching", "check_host_availability")


def need(*tools: str) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root (network namespace, daemons)")
    for tool in tools:
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temp dir the nagios user can enter (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="uptime-sched-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)  # the session we started: unshare's shell and its daemon
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def uptime_state(uptime: float) -> int:
    """What -w 30m: -c 5m: --max-uptime 180d says for *uptime*."""
    return 2 if uptime < 300 else 1 if uptime < 1800 or uptime > 180 * 86400 else 0


def proc_uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


# --- NRPE ------------------------------------------------------------------------------

NRPE_SCRIPT = """
ip link set lo up
/usr/sbin/nrpe -c "$1/nrpe.cfg" -f &
nrpe=$!
trap 'kill $nrpe 2>/dev/null; wait $nrpe' EXIT
for i in $(seq 100); do
    /usr/lib/nagios/plugins/check_nrpe -H 127.0.0.1 -t 2 >/dev/null 2>&1 && break
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


def nrpe_config(workdir: Path, nagios: pwd.struct_passwd) -> str:
    state = workdir / "state"
    state.mkdir()
    os.chown(state, nagios.pw_uid, nagios.pw_gid)
    lines = [f"pid_file={workdir}/nrpe.pid", "server_address=127.0.0.1", "server_port=5666",
             "allowed_hosts=127.0.0.1", "nrpe_user=nagios", "nrpe_group=nagios",
             "dont_blame_nrpe=0", "command_timeout=60", "connection_timeout=30",
             "disable_syslog=1", f"log_file={workdir}/nrpe.log"]
    shipped = (CONTRIB / "nrpe" / "check_host_uptime.cfg").read_text()
    commands = [line for line in shipped.splitlines() if line.startswith("command[")]
    assert [re.match(r"command\[(\w+)\]", c).group(1) for c in commands] == list(  # type: ignore[union-attr]
        NRPE_COMMANDS)
    for command in commands:
        name = command[len("command["):command.index("]")]
        assert " -t 8" in command  # below check_nrpe's 10 s and NRPE's 60 s
        command = command.replace("/usr/local/bin/check_host_uptime",
                                  str(CHECKS / "check_host_uptime"))
        lines.append(f"{command} --state-file {state}/{name}.json")
    return "\n".join(lines) + "\n"


def test_nrpe_runs_the_shipped_commands(workdir: Path) -> None:
    need("/usr/sbin/nrpe", "/usr/lib/nagios/plugins/check_nrpe", "/usr/bin/unshare")
    try:
        nagios = pwd.getpwnam("nagios")
    except KeyError:
        pytest.skip("no nagios user")
    (workdir / "nrpe.cfg").write_text(nrpe_config(workdir, nagios))
    before = proc_uptime()
    proc = subprocess.Popen(["/usr/bin/unshare", "-n", "/bin/sh", "-c", NRPE_SCRIPT, "sh",
                             str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=CLEAN_ENV, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        stop(proc)
    after = proc_uptime()
    text = out.decode()
    results: Dict[str, List[str]] = {}
    for block in text.split("=== ")[1:]:
        head, _, body = block.partition("\n")
        round_, name, code = head.split()
        results[f"{round_} {name}"] = [code, body.splitlines()[0] if body else ""]
    assert len(results) == 6, text
    for name in NRPE_COMMANDS:
        first = results[f"1 {name}"]
        assert first[1].startswith("HOST_UPTIME "), text
        assert "first run: period measures start with the next run" in first[1], text
    second = results["2 check_host_uptime"]
    assert second[0] == "0", text
    assert re.match(r"HOST_UPTIME OK: up .* \(since .* UTC\), up the whole last period of "
                    r"\d+s \| uptime=\d+s;;;0 uptime_last_period=(\d+)s;;;0;\1 reboots=0;0;;0 "
                    r"downtime_last_period=0s;;;0;\1 availability=100%;;;0;100$",
                    second[1]), text
    assert results["2 check_host_availability"][0] == "0", text
    expected = {str(uptime_state(before)), str(uptime_state(after))}
    assert results["2 check_host_uptime_patching"][0] in expected, text
    assert "uptime_last_period" not in results["1 check_host_uptime"][1]


# --- Icinga 2 --------------------------------------------------------------------------

def icinga_config(workdir: Path) -> str:
    return f"""
const PluginContribDir = "{CHECKS}"
include <itl>
include "{CONTRIB}/icinga2/check_host_uptime.conf"
object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object Host "h" {{ check_command = "dummy"; enable_active_checks = false }}
object Service "uptime" {{
  host_name = "h"
  check_command = "nagios_ipc_host_uptime"
  check_interval = 1s
  retry_interval = 1s
  vars.nagios_ipc_host_uptime_warning = "1s:"
  vars.nagios_ipc_host_uptime_max_uptime = "3650d"
  vars.nagios_ipc_host_uptime_availability_critical = "50:"
  vars.nagios_ipc_host_uptime_state_file = "{workdir}/uptime.json"
  vars.nagios_ipc_host_uptime_timeout = 8
}}
"""


def icinga_defines(workdir: Path) -> List[str]:
    for sub in ("data", "log", "cache", "spool", "run"):
        (workdir / sub).mkdir(exist_ok=True)
    return [f"-DDataDir={workdir}/data", f"-DLogDir={workdir}/log",
            f"-DCacheDir={workdir}/cache", f"-DSpoolDir={workdir}/spool",
            f"-DInitRunDir={workdir}/run", "-DRunAsUser=root", "-DRunAsGroup=root",
            "-DNodeName=uptime-test", "-DZoneName=uptime-test"]


def read_netstrings(data: str) -> Iterator[Any]:
    """icinga2.state: netstrings ('<length>:<json>,') of JSON records."""
    pos = 0
    while pos < len(data):
        length_text, _, _ = data[pos:pos + 20].partition(":")
        length = int(length_text)
        start = pos + len(length_text) + 1
        yield json.loads(data[start:start + length])
        pos = start + length + 1


def test_icinga2_runs_the_check_command(workdir: Path) -> None:
    icinga = "/usr/sbin/icinga2"
    need(icinga, "/usr/bin/unshare")
    config = workdir / "main.conf"
    config.write_text(icinga_config(workdir))
    defines = icinga_defines(workdir)
    check = subprocess.run([icinga, "daemon", "-C", "-c", str(config), *defines],
                           capture_output=True, text=True, env=CLEAN_ENV, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    state = workdir / "uptime.json"
    proc = subprocess.Popen(["/usr/bin/unshare", "-n", "/bin/sh", "-c",
                             'ip link set lo up; exec "$@"', "sh", icinga, "daemon",
                             "-c", str(config), *defines],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLEAN_ENV,
                            start_new_session=True)
    try:
        walls = set()
        deadline = time.monotonic() + 30
        while len(walls) < 2 and time.monotonic() < deadline:  # two runs seen: a period
            if state.exists():
                walls.add(json.loads(state.read_text())["wall"])
            time.sleep(0.1)
        assert len(walls) >= 2, "Icinga did not run the check twice in 30 s"
    finally:
        stop(proc)  # SIGTERM: Icinga dumps its state with the last check result
    records = read_netstrings((workdir / "data" / "icinga2.state").read_text())
    result = next(r["update"]["last_check_result"] for r in records
                  if isinstance(r, dict) and r.get("name") == "h!uptime")
    assert result["command"] == [
        f"{CHECKS}/check_host_uptime", "--availability-critical", "50:", "--max-uptime",
        "3650d", "--state-file", str(state), "--timeout", "8", "--warning", "1s:"]
    assert (result["exit_status"], result["state"]) == (0, 0), result["output"]
    assert re.match(r"HOST_UPTIME OK: up .* UTC\), up the whole last period of \d+s$",
                    result["output"].strip()), result["output"]
    labels = [item.split("=")[0] for item in result["performance_data"]]
    assert labels == ["uptime", "uptime_last_period", "reboots", "downtime_last_period",
                      "availability"]
    assert re.match(r"uptime=\d+s;1:315360000;;0$", result["performance_data"][0])
    assert result["performance_data"][4] == "availability=100%;;50:;0;100"
