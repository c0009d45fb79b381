"""Security properties over the whole source and through whole checks (issue 8).

Static (AST over nagios_ipc/ and checks/): no shell anywhere (also covered by
test_security.py for shell=), commands only through nagios_ipc/proc.py, nothing
that evaluates or unpickles input, no format string built from data. Dynamic:
run_command refuses a relative program; queue content (owners, keys) with '|',
newlines and format directives cannot forge perfdata or lines in any check's
output (compared with the same run on harmless names).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nagios_ipc import cli
from nagios_ipc.msgqueues import check as msgqueues
from nagios_ipc.msgqueues.model import Queue
from nagios_ipc.proc import CommandError, run_command, stream_lines
from tests.robustness import ROOT, assert_plugin_output, text_lines

SOURCES = sorted((ROOT / "nagios_ipc").rglob("*.py")) + sorted((ROOT / "checks").glob("check_*"))
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "os.system", "os.popen",
                   "os.execv", "os.execvp", "os.execve", "os.execl", "os.execlp", "os.spawnv",
                   "os.spawnvp", "os.spawnl", "os.spawnlp", "pty.spawn", "pickle.loads",
                   "pickle.load", "marshal.loads", "shelve.open", "yaml.load",
                   "subprocess.getoutput", "subprocess.getstatusoutput"}
FORBIDDEN_IMPORTS = {"pickle", "marshal", "shelve", "commands", "pty"}
# reviewed exceptions: (file under the repository, name) -> why it is safe
REVIEWED = {
    ("nagios_ipc/mta/backlog.py", "pickle"): "aggregates from the check's own forked spool "
    "workers over a private pipe (pickle.dumps escapes the queue content; nothing else "
    "can write that pipe)",
    ("nagios_ipc/mta/backlog.py", "os.fork"): "the same workers: a copy of this process "
    "reading spool files, no program is executed",
}
LOG_METHODS = {"debug", "info", "warning", "error", "critical", "exception", "log"}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def trees() -> List[Tuple[Path, ast.AST]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in SOURCES]


@pytest.mark.parametrize("path,tree", trees(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_no_evaluation_no_shell_no_unpickling(path: Path, tree: ast.AST) -> None:
    relative = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name.split(".")[0] == "pickle" and (relative, "pickle") in REVIEWED:
                continue
            assert name not in FORBIDDEN_CALLS, f"{path}:{node.lineno} calls {name}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (relative, alias.name) in REVIEWED:
                    continue
                assert alias.name.split(".")[0] not in FORBIDDEN_IMPORTS, \
                    f"{path}:{node.lineno} imports {alias.name}"
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in FORBIDDEN_IMPORTS, \
                f"{path}:{node.lineno} imports from {node.module}"


@pytest.mark.parametrize("path,tree", trees(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_commands_only_through_proc(path: Path, tree: ast.AST) -> None:
    """subprocess only in nagios_ipc/proc.py, which enforces no shell, absolute
    programs, own session, timeout with group kill and output caps."""
    if path == ROOT / "nagios_ipc" / "proc.py":
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            assert "subprocess" not in names, \
                f"{path}:{node.lineno}: run commands through nagios_ipc.proc"
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if (str(path.relative_to(ROOT)), name) in REVIEWED:
                continue
            assert not name.startswith(("subprocess.", "os.fork", "os.posix_spawn")), \
                f"{path}:{node.lineno}: run commands through nagios_ipc.proc"


@pytest.mark.parametrize("path,tree", trees(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_no_format_strings_from_data(path: Path, tree: ast.AST) -> None:
    """str.format/format_map only on literals or constants; a log call with arguments has a literal
    message (a message built from queue content and then %-formatted could consume
    them or raise); %-formatting only with a literal on the left."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("format", "format_map"):
                receiver = node.func.value  # a literal, or a module constant (UPPER_CASE)
                assert isinstance(receiver, ast.Constant) or (
                    isinstance(receiver, ast.Name) and receiver.id.isupper()), \
                    f"{path}:{node.lineno}: .{node.func.attr}() on a non-literal"
            if (node.func.attr in LOG_METHODS and dotted(node.func.value).endswith(
                    ("log", "logger", "logging")) and len(node.args) > 1):
                message = node.args[1] if node.func.attr == "log" else node.args[0]
                assert isinstance(message, ast.Constant), \
                    f"{path}:{node.lineno}: log message with arguments is not a literal"
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
                and isinstance(node.left, (ast.JoinedStr,))):
            pytest.fail(f"{path}:{node.lineno}: %-formatting an f-string")


@pytest.mark.parametrize("program", ["ipcs", "./ipcs", "bin/sh", ""])
def test_relative_programs_are_refused(program: str) -> None:
    with pytest.raises(CommandError, match="absolute"):
        run_command([program, "-qa"])
    with pytest.raises(CommandError, match="absolute"):
        list(stream_lines([program, "-qa"]))


# --- queue content cannot forge output -----------------------------------------------

HOSTILE = ["x|forged=1", "a\nMSGQUEUES OK: forged | x=1", "%s%n%(x)s{0}", "'quoted'=5",
           "tab\tcr\rnul\x00", "\u202eevil", "a" * 300, "| x=1\n| y=2"]


class Source:
    kind = "sysv"

    def __init__(self, queues: List[Queue]) -> None:
        self._queues = queues
        self.notes = ["note with | pipe\nand newline"]

    def system_max(self) -> int:
        return 32000

    def queues(self) -> List[Queue]:
        return self._queues


def queue(owner: str, index: int, full: bool) -> Queue:
    return Queue("sysv", f"0x{index:08x}", index, owner, owner, 0o600, 5 if full else 1,
                 100 if full else 1, 100, "MSG_STAT_ANY", 100, 42, 43, 1.79e9, None, 1.79e9)


def run_msgqueues(owners: List[str]) -> Tuple[int, str]:
    queues = [queue(owner, i + 1, i % 2 == 0) for i, owner in enumerate(owners)]

    def build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
        return msgqueues.build(args, make_sources=lambda a: ([Source(queues)], []),
                               now=lambda: 1.8e9, alive=lambda pid: False)

    import tempfile

    # a fresh growth history per run: the two runs compared below must both be first runs
    with tempfile.TemporaryDirectory() as state:
        return cli.execute(msgqueues.parser(), build, ["--details", "always", "--report-by",
                                                       "both", "--state-file",
                                                       f"{state}/trend.json"])


@given(st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=40)),
                min_size=1, max_size=4, unique=True))
@example(HOSTILE[:4])
def test_owner_names_cannot_forge_output(owners: List[str]) -> None:
    code, text = run_msgqueues(owners)
    assert_plugin_output(msgqueues.NAME, code, text)
    harmless = [f"owner{i}" for i in range(len(owners))]
    # names that sanitise to the same text merge into one owner: compare like with like
    if len({cli.sanitize(o) for o in owners}) == len(owners) == len(set(owners)):
        safe_code, safe_text = run_msgqueues(harmless)
        assert code == safe_code
        # perfdata may wrap differently (longer labels); the text lines may not differ
        assert len(text_lines(text)) == len(text_lines(safe_text)), (text, safe_text)
