"""contrib/grafana/*.json: what tools/grafana_dashboards.py makes, importable by Grafana,
and naming only CheckCommands and perfdata labels that exist.

The queries themselves run in a real InfluxDB fed by Icinga 2 in
tests/integration/test_grafana_influx.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest

from tests.helpers import CHECKS, ROOT

GRAFANA = ROOT / "contrib" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
VARIABLE_RE = re.compile(r"\$(\w+)|\$\{(\w+)\}|\[\[(\w+)\]\]")
# what Grafana itself fills in: the time range, the interval; in aliases the series'
# tags and the column and measurement names
BUILTIN = {"timeFilter", "__interval", "__interval_ms", "col", "m", "measurement"}
COMMAND_RE = re.compile(r'object\s+CheckCommand\s+"([^"]+)"\s*\{(.*?)\n\}', re.S)
# the metric condition of every panel query (tools/grafana_dashboards.py query())
METRIC_RE = re.compile(r'"metric" =~ /\^(.*?)\$/')


def load(path: Path) -> Dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_files_are_what_the_tool_makes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "grafana_dashboards.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {path.name for path in CHECKS.glob("check_*")}
    assert {path.stem for path in DASHBOARDS} == checks, "one dashboard per check"


def test_uids_and_titles_are_unique() -> None:
    boards = [load(path) for path in DASHBOARDS]
    uids = [board["uid"] for board in boards]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[\w-]{1,40}", u) for u in uids)
    titles = [board["title"] for board in boards]
    assert len(set(titles)) == len(titles) and all(titles)


def panels_of(board: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # inside a collapsed row


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    board = load(path)
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 27
    assert board["title"] and board["uid"] and "id" not in board  # import makes the id
    panels = list(panels_of(board))
    assert panels
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids), f"panel ids repeat: {ids}"
    cells: Set[tuple] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, grid
        covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                   for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & covered, f"{panel['title']} overlaps another panel"
        cells |= covered
        assert panel["title"] and panel["description"] and panel["type"] == "timeseries"
        assert panel["datasource"]["uid"] == "${datasource}"
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"], panel["title"]
        if defaults["unit"] == "percent":
            assert (defaults.get("min"), defaults.get("max")) == (0, 100), panel["title"]
        assert panel["options"]["legend"]["showLegend"] is True
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["rawQuery"] is True and target["query"].startswith("SELECT ")
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["refId"] and target["alias"]
            assert "$timeFilter" in target["query"] and "GROUP BY time($__interval)" in \
                target["query"], target["query"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_variable_referenced_is_defined_before_use(path: Path) -> None:
    board = load(path)
    variables = board["templating"]["list"]
    (source,) = [v for v in variables if v["type"] == "datasource"]
    assert source["name"] == "datasource" and source["query"] == "influxdb"
    defined: Set[str] = {source["name"]}
    for variable in variables:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"
            assert used(variable["query"]) <= defined, (variable["name"], variable["query"])
            assert variable["query"].startswith("SHOW ")
        defined.add(variable["name"])
    texts = [t["query"] for p in panels_of(board) for t in p["targets"]]
    texts += [a["query"] for a in board["annotations"]["list"] if "query" in a]
    for text in texts:
        assert used(text) - BUILTIN <= defined, text
    aliases = [t["alias"] for p in panels_of(board) for t in p["targets"]]
    for alias in aliases:
        assert {name for name in used(alias) if not name.startswith("tag_")} <= BUILTIN
    # every variable serves some query: none left over from an earlier draft
    assert defined - {"datasource"} <= set().union(*(used(t) for t in texts))


def used(text: str) -> Set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE_RE.finditer(text)}


# --- measurements: CheckCommands; metrics: the labels each check documents ---------------

def commands_running(check: str) -> Set[str]:
    """The contrib CheckCommands that run *check* (directly, through sudo or by import)."""
    bodies = {name: body for path in sorted((ROOT / "contrib" / "icinga2").glob("*.conf"))
              for name, body in COMMAND_RE.findall(path.read_text())}
    found = set()
    for name, body in bodies.items():
        parent = re.search(r'^\s*import\s+"([^"]+)"', body, re.M)
        own = body if parent is None else bodies.get(parent.group(1), "") + body
        if re.search(r'^\s*command\s*=\s*\[[^\]]*"/' + check + r'"', own, re.M):
            found.add(name)
    return found


def documented_labels(check: str) -> Set[str]:
    """The perfdata labels of the check's --help, placeholders filled in with examples."""
    text = subprocess.run([sys.executable, str(CHECKS / check), "--help"], capture_output=True,
                          text=True, timeout=60).stdout
    labels: Set[str] = set()
    section = False
    listed = False  # a label line seen in the section: its header's paragraph is over
    per_owner = False
    for line in text.splitlines():
        # the growth items of issue 14 have a section of their own (MTA, ZeroMQ), its
        # header a paragraph: "Growth between runs (a sample per run ..."
        if re.match(r"^perfdata\b", line, re.I) or line.startswith("Growth between runs ("):
            section, listed = True, False
            per_owner = "LABEL_OWNER" in line
            continue
        if section and line and not line.startswith(" ") and listed:
            section = False
        listed = listed or line.startswith(" ")
        # a label, then its description after two spaces (one after a name with a '_':
        # check_msgqueues' "unread_age longest time"); not a wrapped line's first word
        found = re.match(r"^  ([a-z][a-z_]*(?:_[A-Z]+)?)(?: / ([a-z_]+))?(\s{2,}|\s|$)", line)
        if found and found.group(3) == " " and "_" not in found.group(1):
            found = None
        if section and found:
            for label in filter(None, found.groups()[:2]):
                if per_owner and not label.endswith("_slots"):
                    labels |= {f"{label}_1000", f"{label}_total"}
                else:
                    labels.add(label)
    samples = {"QUEUE": "deferred", "DOMAIN": "example_com", "OWNER": "1000"}
    return {re.sub(r"[A-Z]+$", lambda m: samples[m.group(0)], label) for label in labels}


def alternatives(pattern: str) -> List[str]:
    """A label regex with each (a|b) group spelt out: one pattern per alternative."""
    group = re.search(r"\(([^()]*\|[^()]*)\)", pattern)
    if group is None:
        return [pattern]
    return [spelt for choice in group.group(1).split("|")
            for spelt in alternatives(pattern[:group.start()] + choice + pattern[group.end():])]


CHECK_NAMES = sorted(path.stem for path in DASHBOARDS)


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_measurements_are_the_check_commands_of_the_check(check: str) -> None:
    board = load(GRAFANA / f"{check}.json")
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "command"]
    pattern = re.fullmatch(r"SHOW MEASUREMENTS WITH MEASUREMENT =~ /(.+)/", variable["query"])
    assert pattern, variable["query"]
    every = {name for path in sorted((ROOT / "contrib" / "icinga2").glob("*.conf"))
             for name, _ in COMMAND_RE.findall(path.read_text())}
    matched = {name for name in every if re.search(pattern.group(1), name)}
    assert matched == commands_running(check), (check, matched)
    for panel in panels_of(board):
        for target in panel["targets"]:
            assert "FROM /^$command$/" in target["query"], target["query"]


@pytest.mark.parametrize("check", CHECK_NAMES)
def test_every_label_a_panel_names_is_one_the_check_prints(check: str) -> None:
    board = load(GRAFANA / f"{check}.json")
    labels = documented_labels(check)
    assert len(labels) >= 5, labels
    shown: Set[str] = set()
    for panel in panels_of(board):
        for target in panel["targets"]:
            metric = METRIC_RE.search(target["query"])
            assert metric, target["query"]
            # a label-family variable ($owner, $domain) stands for any suffix
            pattern = re.sub(r"\(\$\w+\)", "[a-z0-9_]+", metric.group(1))
            for choice in alternatives(pattern):
                hits = {label for label in labels if re.fullmatch(choice, label)}
                assert hits, (check, panel["title"], choice, sorted(labels))
                shown |= hits
    # worth a graph: each documented label but a counter since the start (sends), the
    # draft-API hwm_fill, auth_failures and msgqueues' nonempty
    left_out = {label for label in labels - shown
                if not re.search(r"sends|hwm_fill|auth_failures|nonempty", label)}
    assert not left_out, (check, sorted(left_out))
