"""nagios_ipc.light: the run-time NamedTuple, and what a check run never imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nagios_ipc.light import NamedTuple

ROOT = Path(__file__).resolve().parents[2]


class Point(NamedTuple):
    """A doc."""

    x: int
    y: int = 2
    label: str = "p"

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    def moved(self, dx: int) -> Point:
        return self._replace(x=self.x + dx)


def test_fields_defaults_methods_and_tuple_behaviour():
    p = Point(1)
    assert p == (1, 2, "p") and p.x == 1 and p.y == 2 and p.label == "p"
    assert Point._fields == ("x", "y", "label")
    assert p.norm1 == 3 and p.moved(2) == Point(3, 2, "p")
    assert Point.__doc__ == "A doc." and Point.__qualname__ == "Point"
    assert p._asdict() == {"x": 1, "y": 2, "label": "p"}
    assert isinstance(p, tuple) and hash(p) == hash((1, 2, "p"))
    with pytest.raises(AttributeError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="without a default"):
        class Bad(NamedTuple):
            a: int = 1
            b: int


EXPENSIVE = ("typing", "ctypes", "dataclasses", "hashlib", "posix_ipc", "zmq", "psutil",
             "locale")  # locale: argparse's gettext imported it (nagios_ipc/cli.py)


@pytest.mark.parametrize("check, args", [
    ("check_msgqueues", []), ("check_host_uptime", []), ("check_mta_backlog", []),
    ("check_zmq_hwm", ["--pid", "1"])])
def test_an_idle_run_imports_nothing_expensive(check, args, tmp_path):
    """Start-up cost is paid on every run on every host (benchmarks/): a run on an
    idle host must not import what it does not need."""
    probe = (
        "import sys, json, os\n"
        f"sys.argv = [{check!r}, *{args!r}]\n"
        f"path = {str(ROOT / 'checks' / check)!r}\n"
        # the script leaves through os._exit (no interpreter teardown): report there
        "leave = os._exit\n"
        "def report(status):\n"
        "    os.write(3, json.dumps(sorted(sys.modules)).encode())\n"
        "    leave(status)\n"
        "os._exit = report\n"
        "code = compile(open(path).read(), path, 'exec')\n"
        "exec(code, {'__name__': '__main__', '__file__': path})\n"
    )
    read, write = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LC_ALL": "C",
           "NAGIOS_IPC_STATE_DIR": str(tmp_path)}
    idle_before = host_has_no_queues()
    code = probe.replace("os.write(3", f"os.write({write}")
    proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(write,), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    proc.wait(timeout=60)
    loaded = set(json.loads(data))
    assert "nagiosplugin" in loaded  # the probe did run the check
    expensive = set(EXPENSIVE)
    if check == "check_msgqueues" and not (idle_before and host_has_no_queues()):
        expensive.discard("ctypes")  # queues to read: msgctl/mq_getattr need ctypes
    assert not loaded & expensive, sorted(loaded & expensive)


def host_has_no_queues() -> bool:
    with open("/proc/sysvipc/msg") as handle:
        sysv = len(handle.readlines()) - 1
    posix = len(os.listdir("/dev/mqueue")) if os.path.isdir("/dev/mqueue") else 0
    return sysv == 0 and posix == 0
