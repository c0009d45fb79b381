"""contrib/ files of check_mta_backlog: Icinga 2 accepts the CheckCommands, and the
NRPE commands call the plugin with options it accepts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import CHECKS, ROOT, run_check

ICINGA = "/usr/sbin/icinga2"
CONTRIB = ROOT / "contrib"


@pytest.mark.skipif(not Path(ICINGA).exists(), reason="icinga2 not installed")
def test_icinga2_accepts_the_check_commands(tmp_path: Path) -> None:
    config = tmp_path / "main.conf"
    config.write_text(f"""
const PluginContribDir = "{CHECKS}"
const PluginDir = "/usr/lib/nagios/plugins"
include <itl>
include <plugins>
include "{CONTRIB}/icinga2/check_mta_backlog.conf"
object Host "h" {{ check_command = "dummy"; enable_active_checks = false }}
object Service "queue" {{
  host_name = "h"
  check_command = "mta_backlog"
  vars.mta_backlog_count_only = true
  vars.mta_backlog_domain = [ "example.com=50,200", "example.net=,10" ]
  vars.mta_backlog_age_warning = "2h"
}}
object Service "queue-sudo" {{
  host_name = "h"
  check_command = "mta_backlog_sudo"
  vars.mta_backlog_method = "spool"
}}
""")
    for sub in ("data", "log", "cache", "spool", "run"):
        (tmp_path / sub).mkdir()
    defines = [f"-DDataDir={tmp_path}/data", f"-DLogDir={tmp_path}/log",
               f"-DCacheDir={tmp_path}/cache", f"-DSpoolDir={tmp_path}/spool",
               f"-DInitRunDir={tmp_path}/run", "-DRunAsUser=root", "-DRunAsGroup=root",
               "-DNodeName=mta-test", "-DZoneName=mta-test"]
    done = subprocess.run([ICINGA, "daemon", "-C", "-c", str(config), *defines],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # <plugins> (the ITL) defines "mailq" (check_mailq): a clash would fail the validation
    assert 'object CheckCommand "mailq"' not in (CONTRIB / "icinga2" /
                                                  "check_mta_backlog.conf").read_text()


def test_nrpe_commands_use_options_the_plugin_accepts() -> None:
    lines = [line for line in (CONTRIB / "nrpe" / "check_mta_backlog.cfg").read_text()
             .splitlines() if line.startswith("command[")]
    assert lines[1] == ("command[check_mta_backlog_sudo]=/usr/bin/sudo -n "
                        "/usr/lib/nagios/plugins/check_mta_backlog --method spool -t 8 2>&1")
    for line in lines:
        argv = [word for word in shlex.split(line.split("=", 1)[1]) if word != "2>&1"]
        start = argv.index("/usr/lib/nagios/plugins/check_mta_backlog")
        # --help after the fixed options: argparse validates them first
        outcome = run_check("check_mta_backlog", [*argv[start + 1:], "--help"])
        assert outcome.code == 0, (line, outcome.stdout)
