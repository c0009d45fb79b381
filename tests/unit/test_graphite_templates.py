"""contrib/icingaweb2-graphite as the graphite module reads it (PHP's own INI parser,
tests/graphite_module.py for the module's rules), checked against the CheckCommands of
contrib/icinga2 and the perfdata labels the checks really print
(tests/fixtures/graphite/perfdata.txt, from tests/integration/test_graphite_graphs.py,
which draws every template from real data)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Callable, Dict, List, Set, Tuple

import graphite_module as gm
import pytest
import schedulers

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "graphite" / "perfdata.txt"
OWNERS = ("3000010", "app")  # two owners in place of the fixture's OWNER
# graphite-web 1.1.8's render parameters (graphite/render/glyph.py LineGraph.customizable);
# anything else is ignored without a word (the module's own default "vTitle" is)
RENDER_PARAMS = {
    "width", "height", "margin", "bgcolor", "fgcolor", "fontName", "fontSize", "fontBold",
    "fontItalic", "colorList", "template", "yAxisSide", "outputFormat", "title", "vtitle",
    "lineMode", "lineWidth", "hideLegend", "hideAxes", "minXStep", "hideGrid",
    "majorGridLineColor", "minorGridLineColor", "thickness", "min", "max", "graphOnly",
    "yMin", "yMax", "yLimit", "yStep", "areaMode", "areaAlpha", "drawNullAsZero", "tz",
    "pieMode", "yUnitSystem", "logBase", "yMinLeft", "yMinRight", "yMaxLeft", "yMaxRight",
    "yLimitLeft", "yLimitRight", "yStepLeft", "yStepRight", "rightWidth", "rightColor",
    "rightDashed", "leftWidth", "leftColor", "leftDashed", "xFormat", "minorY", "hideYAxis",
    "uniqueLegend", "vtitleRight", "yDivisors", "connectedLimit", "hideXAxis",
    "hideNullFromLegend"}
# Graphite functions the templates may use; none of them changes a value except scale()
# (the integration test multiplies by its factor) and removeAboveValue(x, -1), which
# makes an anchor curve all gaps (msgqueues.ini says why); keepLastValue() and
# transformNull() fill gaps only
FUNCTIONS = {"alias", "color", "dashed", "scale", "drawAsInfinite", "removeAboveValue",
             "keepLastValue", "transformNull"}


@pytest.fixture(scope="module")
def templates() -> Dict[str, gm.Template]:
    if not Path(gm.PHP).exists():
        pytest.fail(f"{gm.PHP} is missing: tests/debian-packages/graphs-graphite.txt has "
                    "php-cli (Icinga Web 2 reads the templates with PHP's INI parser)")
    return gm.load_templates()


def plugin_of_commands() -> Dict[str, str]:
    """Every CheckCommand of contrib/icinga2 -> the check it runs (an imported
    command's, for the old names that import the new)."""
    bodies = {name: body for path in schedulers.contrib_icinga_files()
              for name, body in schedulers.COMMAND_RE.findall(path.read_text())}
    out: Dict[str, str] = {}
    for name, body in bodies.items():
        parent = re.search(r'^\s*import\s+"([^"]+)"', body, re.M)
        own = re.search(r'"/(check_\w+)"', body)
        found = own or (re.search(r'"/(check_\w+)"', bodies[parent.group(1)])
                        if parent else None)
        assert found, f"CheckCommand {name}: which check does it run?"
        out[name] = found.group(1)
    return out


def recorded_labels() -> Dict[str, Set[str]]:
    """check -> labels of the fixture (OWNER as a placeholder)."""
    plugins = plugin_of_commands()
    out: Dict[str, Set[str]] = {}
    for line in FIXTURE.read_text().splitlines():
        if line and not line.startswith("#"):
            command, label = line.split()
            out.setdefault(plugins[command], set()).add(label)
    return out


def test_the_templates_load_as_the_module_loads_them(
        templates: Dict[str, gm.Template]) -> None:
    files = sorted(gm.TEMPLATE_DIR.glob("*.ini"))
    assert [path.name for path in files] == [
        "host_uptime.ini", "msgqueues.ini", "mta_backlog.ini", "zmq_hwm.ini"]
    assert {template.path for template in templates.values()} == set(files)
    for template in templates.values():
        assert template.check_commands, f"{template.name}: no check_command"
        assert template.urlparams, f"{template.name}: no urlparams"


def test_the_module_rejects_what_it_rejects(tmp_path: Path) -> None:
    """tests/graphite_module.py raises where the module's loadIni does."""
    bad = {
        "[x.grap]\ncheck_command = \"a\"\n": "Bad section name",
        "[x.graph]\ncheck_command = \"a\"\n[x.metrics_filters]\n"
        "v = \"icinga2.perfdata.v\"\n": "Bad metrics filter",
        "[x.graph]\ncheck_command = \"a\"\n[x.metrics_filters]\n"
        "v = \"$service_name_template$.perfdata.v\"\n[x.functions]\nw = \"$metric$\"\n":
            "Metrics filter for curves",
        "[x.graph]\ncheck_command = \"a\"\nwidth = \"1\"\n[x.metrics_filters]\n"
        "v = \"$service_name_template$.perfdata.v\"\n": "Bad options",
    }
    for text, message in bad.items():
        (tmp_path / "bad.ini").write_text(text)
        with pytest.raises(gm.TemplateError, match=message):
            gm.load_templates(tmp_path)


def test_every_check_command_has_templates_and_every_template_a_command(
        templates: Dict[str, gm.Template]) -> None:
    commands = plugin_of_commands()
    assert {"msgqueues", "mta_backlog", "mta_backlog_sudo", "mta_backlog_sudo_count",
            "zmq_hwm", "zmq_hwm_sudo", "host_uptime", "nagios_ipc_host_uptime"} <= set(commands)
    for template in templates.values():
        unknown = set(template.check_commands) - set(commands)
        assert not unknown, f"{template.name}: no CheckCommand {unknown} in contrib/icinga2"
        assert len({commands[name] for name in template.check_commands}) == 1, template.name
    for command in commands:
        assert gm.templates_for(templates, command), f"no template draws {command}"


def test_every_metric_a_template_asks_for_is_printed_by_its_check(
        templates: Dict[str, gm.Template]) -> None:
    recorded = recorded_labels()
    assert set(recorded) == set(schedulers.console_scripts()), sorted(recorded)
    commands = plugin_of_commands()
    for template in templates.values():
        labels = recorded[commands[template.check_commands[0]]]
        for curve, (metric_filter, _function) in template.curves.items():
            assert metric_filter.original.startswith("$service_name_template$.perfdata."), (
                template.name, curve)
            field = metric_filter.original.rsplit(".", 1)[1]
            assert field in ("value", "warn", "crit", "min", "max"), (template.name, curve)
            pattern = gm.labels_in_filter(metric_filter.original)
            assert any(re.fullmatch(pattern, label) for label in labels), (
                f"{template.name}: curve {curve} asks for {pattern!r}, which no "
                f"{commands[template.check_commands[0]]} run printed")


def fake_tree(labels: Set[str], command: str) -> List[str]:
    return [f"icinga2.host.services.svc.{command}.perfdata.{label.replace('OWNER', owner)}"
            f".{field}" for label in labels for owner in OWNERS
            for field in ("value", "min", "max")]


def glob_expand(tree: List[str]) -> Callable[[str], List[str]]:
    """graphite-web's /metrics/expand over *tree*: a glob per path node."""
    def expand(query: str) -> List[str]:
        nodes = query.split(".")
        return sorted({path for path in tree if len(path.split(".")) == len(nodes)
                       and all(fnmatch.fnmatchcase(part, node)
                               for part, node in zip(path.split("."), nodes))})
    return expand


def test_the_module_combines_the_recorded_labels_into_charts(
        templates: Dict[str, gm.Template]) -> None:
    """Each template draws a chart from the labels its check prints, with two owners:
    a curve that matches other items too (messages_OWNER also matches
    messages_growth_total) must not break the module's combination of curves."""
    recorded = recorded_labels()
    commands = plugin_of_commands()
    for template in templates.values():
        command = template.check_commands[0]
        expand = glob_expand(fake_tree(recorded[commands[command]], command))
        drawn = gm.charts(template, "host", "svc", command, expand)
        assert drawn, template.name
        first = next(iter(template.curves.values()))[0].original
        if any(re.fullmatch(gm.labels_in_filter(first), label)
               for label in recorded[commands[command]] if "OWNER" in label):
            owners = {chart.variables().get("owner") for chart in drawn}
            assert set(OWNERS) <= owners, (template.name, owners)


def services_and_paths() -> Tuple[List[Dict[str, str]], List[str]]:
    """A service per CheckCommand and the metric paths its check's recorded labels give
    (two owners for OWNER, every field Icinga may send)."""
    recorded = recorded_labels()
    services: List[Dict[str, str]] = []
    paths: List[str] = []
    for command, plugin in sorted(plugin_of_commands().items()):
        service = f"svc-{command}"
        services.append({"host": "host", "service": service, "command": command})
        paths += [path.replace("services.svc.", f"services.{service}.")
                  for path in fake_tree(recorded[plugin], command)]
    return services, paths


def test_the_module_itself_makes_the_same_charts_of_the_recorded_labels(
        templates: Dict[str, gm.Template], tmp_path: Path) -> None:
    """Icinga Web 2's graphite module (its PHP, tests/graphite_charts.php) combines the
    recorded labels into charts without an error, for every CheckCommand; every
    template draws, and tests/graphite_module.py finds exactly the same charts."""
    services, paths = services_and_paths()
    made = gm.module_charts_from_paths(tmp_path, paths, services)
    assert {chart["template"] for chart in made} == set(templates)
    expand = glob_expand(paths)
    mirrored = {(service["service"], template.name, tuple(chart.metrics.items()))
                for service in services
                for template in gm.templates_for(templates, service["command"])
                for chart in gm.charts(template, "host", service["service"],
                                       service["command"], expand)}
    assert {(chart["service"], chart["template"], tuple(chart["metrics"].items()))
            for chart in made} == mirrored


AMBIGUOUS = """\
[naive.graph]
check_command = "msgqueues"
[naive.metrics_filters]
messages.value = "$service_name_template$.perfdata.messages_$owner$.value"
queues.value = "$service_name_template$.perfdata.queues_$owner$.value"
[naive.urlparams]
title = "Messages"
"""


def test_a_curve_that_matches_growth_items_first_breaks_the_module(tmp_path: Path) -> None:
    """Why msgqueues.ini anchors its per-owner charts: messages_$owner$ as the first
    curve also matches messages_growth_total, which has no queues_ partner; the module
    then reads an undefined array key, an exception in Icinga Web 2. Both the module
    and tests/graphite_module.py fail on it."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "naive.ini").write_text(AMBIGUOUS)
    services, paths = services_and_paths()
    with pytest.raises(gm.ChartError, match="Undefined array key"):
        gm.module_charts_from_paths(tmp_path, paths, services, tmp_path / "templates")
    (template,) = gm.load_templates(tmp_path / "templates").values()
    with pytest.raises(gm.ChartError, match="no partner"):
        gm.charts(template, "host", "svc-msgqueues", "msgqueues", glob_expand(paths))


def legend(function: gm.Macro) -> str:
    found = re.fullmatch(r"alias\((.*),\s*'([^']*)'\)", function.original.strip(), re.S)
    assert found, f"not alias(..., 'legend'): {function.original}"
    return found.group(2)


def test_functions_colours_legends_and_parameters(
        templates: Dict[str, gm.Template]) -> None:
    for template in templates.values():
        legends: List[str] = []
        colours: List[str] = []
        for curve, (_metric_filter, function) in template.curves.items():
            text = function.original
            # MacroTemplate cuts every '$'-separated part at its first ':' (a wildcard),
            # text parts too: a ':' in a legend or title comes out mangled
            assert function.resolve({}) == text, f"{template.name} {curve}: ':' in {text!r}"
            used = set(gm.functions_of(text))
            assert used <= FUNCTIONS, (template.name, curve, used - FUNCTIONS)
            assert text.count("$metric$") == 1, (template.name, curve)
            if gm.is_anchor(text):
                assert curve == next(iter(template.curves)), (template.name, curve)
                assert template.urlparams["hideNullFromLegend"].original == "true"
                continue
            legends.append(legend(function))
            colour = re.search(r"color\([^']*,\s*'([^']*)'\)", text)
            assert colour, f"{template.name} {curve}: no color()"
            assert re.fullmatch(r"#[0-9a-f]{6}", colour.group(1)), (template.name, colour)
            colours.append(colour.group(1))
        for key, value in template.urlparams.items():
            assert key in RENDER_PARAMS, f"{template.name}: graphite-web ignores {key}"
            assert value.resolve({}) == value.original, f"{template.name} {key}: ':'"
        assert "title" in template.urlparams and "yUnitSystem" in template.urlparams, (
            template.name)
        assert "secondYAxis" not in str(template.curves), (
            f"{template.name}: graphite-web 1.1.8 draws a second axis's legend over the "
            "first one's at the module's 350 px")
        # graphite-web's legend: more than one column runs past the right edge at
        # 350 px (columns are counted on the whole width, drawn from the axis on):
        # legends of 34 characters and more get one line each; 50 still fit the width
        assert all(len(text) <= 50 for text in legends), (template.name, legends)
        if len(legends) > 1:
            assert all(len(text) >= 34 for text in legends), (template.name, legends)
            assert len(set(legends)) == len(legends), template.name
            if template.urlparams.get("areaMode", gm.Macro("")).original != "stacked":
                assert len(legends) <= 3, template.name
        if template.urlparams.get("areaMode", gm.Macro("")).original == "stacked":
            # one line per queue: the template asks the module for a taller image
            assert int(template.urlparams["height"].original) >= 300, template.name


def test_the_readme_says_where_the_files_go_and_what_each_template_draws(
        templates: Dict[str, gm.Template]) -> None:
    readme = (gm.ROOT / "README.md").read_text()
    section = readme.split("### Icinga Web 2 with Graphite\n", 1)[1].split("\n## ", 1)[0]
    assert "/etc/icingaweb2/modules/graphite/templates/" in section
    assert "enable_send_thresholds = true" in section
    rows = re.findall(r"^\| (`[\w.]+`)? *\| (.*?) \| (.+) \|$", section, re.M)
    named = {name for _file, names, _what in rows for name in re.findall(r"`([\w-]+)`", names)}
    assert named == set(templates), sorted(named ^ set(templates))
    files = {name.strip("`") for name, _names, _what in rows if name}
    assert files == {path.name for path in gm.TEMPLATE_DIR.glob("*.ini")}
