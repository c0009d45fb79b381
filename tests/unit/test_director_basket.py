"""contrib/icinga2/director/: the committed basket is what tools/director_basket.py makes
from the checks' --help and contrib/icinga2/*.conf, and the generator refuses inputs
that are out of step. (The basket in a real Director: tests/integration/test_director.py.)
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("director_basket",
                                                  ROOT / "tools" / "director_basket.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["director_basket"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def test_committed_basket_is_current() -> None:
    assert tool.BASKET.read_text() == tool.render(), (
        "contrib/icinga2/director/nagios_ipc-basket.json is stale: run "
        ".venv/bin/python tools/director_basket.py --write")


def test_check_mode_exits_1_on_a_stale_basket(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "basket.json"
    stale.write_text(tool.render().replace('"10"', '"11"', 1))
    monkeypatch.setattr(tool, "BASKET", stale)
    assert tool.main([]) == 1
    assert "tools/director_basket.py --write" in capsys.readouterr().out
    assert tool.main(["--write"]) == 0 and tool.main([]) == 0


def contrib_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "icinga2"
    shutil.copytree(tool.CONTRIB, copy, ignore=shutil.ignore_patterns("director"))
    monkeypatch.setattr(tool, "CONTRIB", copy)
    monkeypatch.setattr(tool.check_commands, "__defaults__", (copy,))
    monkeypatch.setattr(tool.example_service, "__defaults__", (copy / "services.conf",))
    return copy


def test_an_option_missing_from_the_check_command_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = contrib_copy(tmp_path, monkeypatch)
    conf = copy / "check_msgqueues.conf"
    text = conf.read_text()
    start = text.index('\t\t"--fill-critical" = {')
    conf.write_text(text[:start] + text[text.index("\t\t}\n", start) + 4:])
    with pytest.raises(tool.BasketError, match=r"check_msgqueues.conf \(msgqueues\): no "
                                               r"argument for --fill-critical"):
        tool.build()


def test_a_flag_without_set_if_is_an_error(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    copy = contrib_copy(tmp_path, monkeypatch)
    conf = copy / "check_zmq_hwm.conf"
    conf.write_text(conf.read_text().replace('set_if = "$zmq_hwm_verbose$"',
                                             'value = "$zmq_hwm_verbose$"'))
    with pytest.raises(tool.BasketError, match=r"--verbose: set_if is for flags"):
        tool.build()


ALIASES = '''
object CheckCommand "host_uptime" {
	command = [ PluginContribDir + "/check_host_uptime" ]
	arguments = { "--warning" = { value = "$host_uptime_warning$" } }
}
/* the old name, for one release */
object CheckCommand "nagios_ipc_host_uptime" {
	import "host_uptime"
}
object CheckCommand "old_copy" {
	command = [ PluginContribDir + "/check_host_uptime" ]
	arguments = { "--warning" = "$old_copy_warning$" }
}
object CheckCommand "host_uptime_sudo" {
	command = [ "/usr/bin/sudo", "-n", PluginContribDir + "/check_host_uptime", "-t", "8" ]
}
'''


def test_the_configurable_command_is_the_first_that_runs_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "check_host_uptime.conf").write_text(ALIASES)
    commands = tool.check_commands(tmp_path)
    assert [c.name for c in commands] == ["host_uptime", "nagios_ipc_host_uptime",
                                          "old_copy", "host_uptime_sudo"]
    assert commands[2].arguments["--warning"].variable == "old_copy_warning"
    assert commands[3].plugin is None  # fixed arguments: not a configurable command
    assert tool.configurable_command("check_host_uptime", commands).name == "host_uptime"
    with pytest.raises(tool.BasketError, match="no CheckCommand"):
        tool.configurable_command("check_msgqueues", commands)


def basket() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(tool.BASKET.read_text())
    return data


def test_templates_keep_the_plugin_timeout_below_the_command_timeout() -> None:
    data = basket()
    for name, template in data["ServiceTemplate"].items():
        command = data["Command"][template["check_command"]]
        limit = int(command.get("timeout", tool.ICINGA_DEFAULT_COMMAND_TIMEOUT))
        timeouts = [v for k, v in template["vars"].items() if k.endswith("_timeout")]
        assert timeouts and int(timeouts[0]) < limit, name
        assert int(template["retry_interval"]) <= int(template["check_interval"]), name
        has_state = "--state-file" in command["arguments"]
        assert (tool.STATE_FILE in template["vars"].values()) == has_state, name


def test_every_field_is_linked_and_described() -> None:
    data = basket()
    linked = [link["datafield_id"] for command in data["Command"].values()
              for link in command["fields"]]
    assert sorted(linked) == sorted(int(key) for key in data["Datafield"])
    for field in data["Datafield"].values():
        assert field["caption"] and len(field["description"]) > 10, field
        assert field["datatype"].rsplit("DataType", 1)[1] in ("String", "Boolean", "Array",
                                                             "Number")
