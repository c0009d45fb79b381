"""Every first line the test suites make a check print, kept for the table test.

Installed by tests/conftest.py for the whole session: it wraps ``cli.execute``
(checks run in-process) and ``subprocess.run`` (checks/check_* run as programs,
also through runuser or unshare), and keeps the first line of every output with
the test that produced it. tests/unit/test_first_lines.py runs last and requires a
row of its table for each UNKNOWN line (and each line of a watched thing found
absent): a new failure path without a row fails the run.

Generated input is left out: property tests (hypothesis) and the test_fuzz_* files
(issue 8's mutated captures and option values), whose lines quote whatever was
generated; their contract (one UNKNOWN line, no traceback) is tested there.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any, Dict, List, Optional, Tuple

# (masked first line, test node id)
RECORDED: List[Tuple[str, str]] = []
CURRENT: Dict[str, Optional[str]] = {"test": None}
_CHECK = re.compile(r"/checks/(check_\w+)$")

# host-specific parts of a first line: temp dirs, pids, uids, sizes of this machine
_MASKS = (
    (re.compile(r"/tmp/[^\s;:,'\")]+"), "<tmp>"),
    (re.compile(r"/var/lib/nagios_ipc-test/[^\s;:,'\")]+"), "<test-dir>"),
    (re.compile(r"/proc/\d+"), "/proc/<n>"),
    (re.compile(r"\b(127\.0\.0\.1|192\.0\.2\.1|\*|\[::1\]):\d+"), r"\1:<port>"),
    (re.compile(r"\b(pid|PID|process|uid|owner|nsenter -t) \d+"), r"\1 <n>"),
    (re.compile(r"\(\d+\)"), "(<n>)"),
)


def mask(text: str) -> str:
    """The first line's text (no perfdata) with its host-specific parts masked."""
    line = text.split("\n", 1)[0].split(" | ", 1)[0]
    for pattern, replacement in _MASKS:
        line = pattern.sub(replacement, line)
    return line


def record(stdout: Any) -> None:
    test = CURRENT["test"]
    if (test is None or not isinstance(stdout, (str, bytes))
            or test.split("::")[0].rsplit("/", 1)[-1].startswith("test_fuzz_")):
        return
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    if text:
        RECORDED.append((mask(text), test))


def install() -> None:
    from nagios_ipc import cli

    execute = cli.execute

    def recording_execute(*args: Any, **kwargs: Any) -> Tuple[int, str]:
        code, text = execute(*args, **kwargs)
        record(text)
        return code, text

    cli.execute = recording_execute  # type: ignore[assignment]
    run = subprocess.run

    def recording_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        done = run(*args, **kwargs)
        argv = args[0] if args else kwargs.get("args")
        if isinstance(argv, (list, tuple)) and any(
                isinstance(a, str) and _CHECK.search(a) for a in argv):
            record(done.stdout)
        return done

    subprocess.run = recording_run  # type: ignore[assignment]
