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
    ("messages_www data", "messages_www_data"),
    ("bad'quote=eq", "bad_quote_eq"),
    ("pipe|label", "pipe_label"),
    # Graphite makes each '.' a tree level (Icinga's GraphiteWriter keeps dots)
    ("messages_john.doe", "messages_john_doe"),
    ("messages_app@corp.example.com", "messages_app_corp_example_com"),
    ("messages_queue.suspended", "messages_queue_suspended"),
    ("domain_example.com", "domain_example_com"),
    ("messages_db*[1]", "messages_db__1_"),  # glob characters of Graphite's queries
    ("messages_jos\u00e9", "messages_jos_"),  # non-ASCII: one '_' per character
    ("messages_www-data", "'messages_www-data'"),  # '-' stays; outside \\w: quoted
])
def test_perf_labels(label: str, expected: str) -> None:
    assert cli.perf_label(label) == expected


# --- the sudo rule (issue 12) ------------------------------------------------------------

CONTRIB = PACKAGE.parent / "contrib"
PLUGINS = "/usr/lib/nagios/plugins"


def sudoers_lines() -> List[str]:
    """The command lines of the shipped rule's Cmnd_Alias, joined and unescaped."""
    import re

    text = (CONTRIB / "sudoers.d" / "nagios_ipc").read_text()
    text = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines()
                                            if not line.startswith("#")))
    alias = re.search(r"^Cmnd_Alias NAGIOS_IPC_MTA = (.+)$", text, re.M)
    assert alias, "no Cmnd_Alias NAGIOS_IPC_MTA"
    return sorted(" ".join(item.split()) for item in alias.group(1).split(","))


def contrib_sudo_lines() -> List[str]:
    """Every command line that contrib/ runs through sudo -n, as sudo sees it."""
    import re

    lines = []
    for path in sorted((CONTRIB / "nrpe").glob("*.cfg")):
        for line in path.read_text().splitlines():
            if line.startswith("command[") and "sudo -n " in line:
                lines.append(line.split("sudo -n ", 1)[1].removesuffix(" 2>&1"))
    for path in sorted((CONTRIB / "nagios").glob("*.cfg")):
        for line in path.read_text().splitlines():
            words = line.split(None, 1)
            if words and words[0] == "command_line" and "sudo -n " in line:
                lines.append(line.split("sudo -n ", 1)[1].replace("$USER1$", PLUGINS)
                             .removesuffix(" 2>&1"))
    for path in sorted((CONTRIB / "icinga2").glob("*.conf")):
        for block in re.findall(r'command = \[ "/usr/bin/sudo", "-n", (?!"-u")(.*?)\]',
                                path.read_text(), re.S):  # as root: the mail queue
            words = re.findall(r'PluginContribDir \+ "([^"]*)"|"([^"]*)"', block)
            lines.append(" ".join(PLUGINS + a if a else b for a, b in words))
    return sorted(set(" ".join(line.split()) for line in lines))


def test_sudo_rule_lists_exactly_the_shipped_command_lines() -> None:
    shipped = contrib_sudo_lines()
    assert shipped, "contrib/ runs nothing through sudo?"
    assert sudoers_lines() == shipped
    text = (CONTRIB / "sudoers.d" / "nagios_ipc").read_text()
    rules = [line for line in text.splitlines() if line.startswith("nagios ")]
    assert rules == ["nagios ALL=(root) NOPASSWD: NAGIOS_IPC_MTA"]
    assert "Defaults!NAGIOS_IPC_MTA env_reset, !env_keep, !setenv" in text
    assert not any("*" in line for line in sudoers_lines())


def test_every_path_and_program_option_is_guarded() -> None:
    # an option whose metavar says it names a path or a program must be refusable under
    # sudo: a new one added without guard() fails here
    import importlib

    for module in ("nagios_ipc.msgqueues.check", "nagios_ipc.mta.check",
                   "nagios_ipc.zmqhwm.check", "nagios_ipc.uptime.check"):
        parser = importlib.import_module(module).parser()
        guarded = {option for option, _kind in parser.guarded}
        for action in parser._actions:
            if action.metavar in ("PATH", "DIR", "FILE") or (
                    action.dest.endswith(("_dir", "_file", "_binary", "_config", "pidfile"))):
                assert set(action.option_strings) & guarded, (module, action.option_strings)


def test_labels_that_map_to_one_are_told_apart() -> None:
    """john.doe and john_doe would be one series in Graphite: the later gets _2."""
    import nagiosplugin

    class Owners(nagiosplugin.Resource):
        def probe(self) -> List[nagiosplugin.Metric]:
            return [nagiosplugin.Metric(f"messages_{owner}", count, min=0, context="m")
                    for owner, count in (("john.doe", 1), ("john_doe", 2), ("john@doe", 3),
                                         ("root", 4))]

    check = nagiosplugin.Check(Owners(), nagiosplugin.ScalarContext("m"))
    check()
    assert cli.collect_perfdata(check) == ["messages_john_doe=1;;;0", "messages_john_doe_2=2;;;0",
                                           "messages_john_doe_3=3;;;0", "messages_root=4;;;0"]


def test_zmq_example_rule_lists_the_example_command_lines() -> None:
    # run as the application's user, not root: the same exact-line discipline
    import re

    text = (CONTRIB / "sudoers.d" / "nagios_ipc_zmq.example").read_text()
    text = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines()
                                            if not line.startswith("#")))
    alias = re.search(r"^Cmnd_Alias NAGIOS_IPC_ZMQ = (.+)$", text, re.M)
    assert alias
    lines = [" ".join(item.split()) for item in alias.group(1).split(",")]
    nrpe = [line.split("-u APPUSER ", 1)[1].removesuffix(" 2>&1")
            for line in (CONTRIB / "nrpe" / "check_zmq_hwm.cfg").read_text().splitlines()
            if line.startswith("#command[check_zmq_hwm_sudo]=")]
    assert nrpe and nrpe[0] == lines[0]
    assert lines[1] == f"{PLUGINS}/check_zmq_hwm --process-name feed --timeout 8"
    assert "nagios ALL=(APPUSER) NOPASSWD: NAGIOS_IPC_ZMQ" in text
    assert "Defaults!NAGIOS_IPC_ZMQ env_reset, !env_keep, !setenv" in text
