"""check_zmq_hwm run as the unprivileged nagios user (issue 8), with Debian's
/usr/bin/python3 and its packages (python3-nagiosplugin, python3-zmq 24):

* the application runs as root: /proc/PID/fd is not readable: one UNKNOWN line
  naming the permission and the fix, never a wrong OK;
* the application runs as nagios: the correct result (a stalled peer);
* mode 2 needs no privilege: the stats endpoint answers whoever may connect.
"""

from __future__ import annotations

import pwd
from pathlib import Path
from typing import Iterator

import pytest

from helpers import Outcome, nagios_account, run_check, shared_tempdir
from test_zmq_sockets import until
from zmqtools import Apps, apps_fixture, free_port  # noqa: F401 - a fixture

DEBIAN_PYTHON = "/usr/bin/python3"


@pytest.fixture
def nagios() -> pwd.struct_passwd:
    return nagios_account()  # type: ignore[no-any-return]


@pytest.fixture
def nagios_tmp(nagios: pwd.struct_passwd) -> Iterator[Path]:
    yield from shared_tempdir("zmq-it-", nagios)


def as_nagios(state: Path, *args: str) -> Outcome:
    return run_check("check_zmq_hwm", [*args, "--state-file", str(state), "--retrans-warning",
                                       "none"], user="nagios", python=DEBIAN_PYTHON)


def test_root_application_is_unknown_naming_the_permission(apps: Apps, nagios_tmp: Path,
                                                          nagios: pwd.struct_passwd) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = apps.start("pub", "--endpoint", endpoint)
    out = as_nagios(nagios_tmp / "s", "--pid", str(pub.pid))
    assert out.code == 3
    assert out.stdout == (f"ZMQ_HWM UNKNOWN: permission denied reading /proc/{pub.pid}/fd (uid "
                          f"{nagios.pw_uid}); run the check as root or as the application's "
                          f"user (e.g. sudo -u APPUSER in the command definition)\n")
    assert out.stderr == ""


def test_own_application_gives_the_right_result(apps: Apps, nagios_tmp: Path) -> None:
    endpoint = f"ipc://{nagios_tmp}/pub.ipc"
    pub = apps.start("pub", "--endpoint", endpoint, user="nagios", python=DEBIAN_PYTHON)
    apps.start("sub", "--connect", endpoint, "--never", user="nagios", python=DEBIAN_PYTHON)
    state = nagios_tmp / "s"
    until(lambda: as_nagios(state, "--pid", str(pub.pid)).code == 2, timeout=30, step=0.5)
    out = as_nagios(state, "--pid", str(pub.pid))
    assert out.summary.startswith(f"ZMQ_HWM CRITICAL: 1 of 1 peer stalled, worst: unix "
                                  f"{nagios_tmp}/pub.ipc -> pid "), out.stdout
    assert out.stderr == ""


def test_stats_mode_as_nagios(apps: Apps, nagios_tmp: Path) -> None:
    stats = f"tcp://127.0.0.1:{free_port()}"
    app = apps.start("stats", "--stats", stats, "--endpoint", f"tcp://127.0.0.1:{free_port()}",
                     "--dead-port", str(free_port()), stdin=True)
    out = as_nagios(nagios_tmp / "s", "--stats-endpoint", stats)
    assert out.code == 0, out.stdout
    assert out.summary.startswith(f"ZMQ_HWM OK: 3 sockets of pid {app.pid} (user root; "
                                  f"identity not verified")
