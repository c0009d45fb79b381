"""No shell anywhere in the checks, and queue content cannot forge output."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List

import pytest

from nagios_ipc import cli

PACKAGE = Path(__file__).resolve().parent.parent.parent / "nagios_ipc"


def calls(tree: ast.AST) -> List[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_shell(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for call in calls(tree):
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = f"{func.value.id}.{func.attr}"
            assert name not in ("os.system", "os.popen", "subprocess.getoutput",
                                "subprocess.getstatusoutput", "commands.getoutput"), \
                f"{path}:{call.lineno} runs a shell ({name})"
        for keyword in call.keywords:
            if keyword.arg == "shell":
                assert isinstance(keyword.value, ast.Constant) and keyword.value.value is False, \
                    f"{path}:{call.lineno} passes shell="


@pytest.mark.parametrize("text", [
    "owner|x=1", "a\nFAKE OK | y=2", "tab\there", "bell\x07", "nul\x00", "utf8 ümlaut",
    "cr\rreturn",
])
def test_sanitize_keeps_one_line_without_pipes(text: str) -> None:
    clean = cli.sanitize(text)
    assert "|" not in clean and "\n" not in clean and "\r" not in clean
    assert clean.isascii() and clean.isprintable()


@pytest.mark.parametrize("label,expected", [
    ("messages_root", "messages_root"),
    ("messages_www data", "'messages_www data'"),
    ("bad'quote=eq", "bad_quote_eq"),
    ("pipe|label", "'pipe/label'"),
])
def test_perf_labels(label: str, expected: str) -> None:
    assert cli.perf_label(label) == expected
