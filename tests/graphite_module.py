"""What Debian's icingaweb2-module-graphite 1.2.2 does with a template directory, in
Python, so that tests can ask a real graphite-web for exactly the graphs Icinga Web 2
would draw (the module itself needs a running Icinga Web 2 and its monitoring backend).

Read from the module's PHP (/usr/share/icingaweb2/modules/graphite/library/Graphite/):

* Graphing/Templates.php ``loadIni``: sections NAME.graph (only check_command),
  NAME.metrics_filters, NAME.urlparams, NAME.functions; every filter has exactly one of
  $host_name_template$ / $service_name_template$; every function has a filter.
* Util/MacroTemplate.php: ``$macro$`` parts, ``$macro:glob$`` wildcards, ``$$``;
  ``reverseResolve`` turns a metric path back into the macros' values.
* Graphing/MetricsQuery.php ``fetchColumn``: host.name, service.name and
  service.check_command filled in (escaped: anything but ``[a-zA-Z0-9*\\-:^[\\]$#%']``
  becomes ``_``), every other macro ``*``, asked of graphite-web's /metrics/expand.
* Graphing/Template.php ``getCharts``/``combineMetrics``: one chart per combination of
  one metric per curve whose shared macros agree; combinations start from the first
  curve that found metrics. A metric of that curve without a partner in a later curve
  makes PHP read an undefined array key, which Icinga Web 2's error handler turns into
  an exception (ApplicationBootstrap::setupErrorHandling): :class:`ChartError` here.
* Web/Widget/GraphImage.php ``render``: the /render parameters (the module's defaults,
  then the template's urlparams resolved with the chart's macros) and one target per
  curve: its function with ``$metric$`` and the macros filled in.

The INI files are read by PHP's own parse_ini_string (INI_SCANNER_RAW, as
Icinga/File/Ini/IniParser.php does), with the same unescaping.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "contrib" / "icingaweb2-graphite"
MODULE_DIR = Path("/usr/share/icingaweb2/modules/graphite")
PHP = "/usr/bin/php"
# the module's defaults (Graphing/Template.php), which match Icinga 2's GraphiteWriter
HOST_NAME_TEMPLATE = "icinga2.$host.name$.host.$host.check_command$"
SERVICE_NAME_TEMPLATE = "icinga2.$host.name$.services.$service.name$.$service.check_command$"
SECTION_RE = re.compile(r"\A(.+)\.(graph|metrics_filters|urlparams|functions)\Z", re.S)

# Icinga/File/Ini/IniParser.php::parseIniFile, unescaping included
PARSE_INI = r"""
$raw = parse_ini_string(file_get_contents($argv[1]), true, INI_SCANNER_RAW);
if ($raw === false) { fwrite(STDERR, "parse_ini_string failed\n"); exit(1); }
$unescape = function ($str) {
    $str = str_replace('\n', "\n", $str);
    $str = str_replace('\r', "\r", $str);
    $str = str_replace('\"', '"', $str);
    $str = str_replace('\\\\', '\\', $str);
    return preg_replace('~^([\'"])(.*?)\1\s+$~', '$2', $str);
};
$out = [];
foreach ($raw as $section => $options) {
    $name = str_replace('\\\\', '\\', str_replace('\;', ';', str_replace('\"', '"', $section)));
    if (! is_array($options)) { fwrite(STDERR, "option outside a section: $section\n"); exit(1); }
    $pairs = [];
    foreach ($options as $key => $value) { $pairs[] = [(string) $key, $unescape($value)]; }
    $out[] = [$name, $pairs];
}
echo json_encode($out);
"""


class TemplateError(ValueError):
    """What the module's loadIni raises as a ConfigurationError."""


class ChartError(AssertionError):
    """Where the module's PHP would fail while combining metrics into charts."""


def parse_ini(path: Path) -> List[Tuple[str, List[Tuple[str, str]]]]:
    """(section, [(key, value)]) in file order, as Icinga Web 2 reads the file."""
    done = subprocess.run([PHP, "-r", PARSE_INI, str(path)], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if done.returncode != 0:
        raise TemplateError(f"{path.name}: {done.stderr.strip() or done.stdout.strip()}")
    return [(name, [(key, value) for key, value in pairs])
            for name, pairs in json.loads(done.stdout)]


class Macro:
    """Util/MacroTemplate.php."""

    def __init__(self, template: str, char: str = "$") -> None:
        self.original = template
        self.char = char
        self.parts = template.split(char)
        self.wildcards: Dict[str, str] = {}
        for index, part in enumerate(self.parts):
            match = re.match(r"([^:]+):(.+)", part, re.S)
            if match:
                self.parts[index] = match.group(1)
                self.wildcards[match.group(1)] = match.group(2)
        if len(self.parts) % 2 == 0:
            raise TemplateError(f"template contains odd number of {char!r}s: {template!r}")

    def resolve(self, variables: Dict[str, str], default: Optional[str] = None) -> str:
        out: List[str] = []
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                out.append(part)
            elif part in variables:
                out.append(variables[part])
            elif part == "":
                out.append(self.char)
            elif default is None:
                out.append(self.char + part
                           + (":" + self.wildcards[part] if part in self.wildcards else "")
                           + self.char)
            else:
                out.append(self.wildcards.get(part, default))
        return "".join(out)

    def macros(self) -> List[str]:
        seen: Dict[str, None] = {}
        for index, part in enumerate(self.parts):
            if index % 2 == 1 and part != "":
                seen.setdefault(part, None)
        return list(seen)

    def _pattern(self) -> Tuple[str, List[str]]:
        regex = [r"\A"]
        order: List[str] = []
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                regex.append(re.escape(part))
            elif part in order:
                regex.append(f"(?P={_group(order.index(part))})")
            else:
                order.append(part)
                regex.append(f"(?P<{_group(len(order) - 1)}>.*)")
        return "".join(regex) + r"\Z", order

    def reverse(self, resolved: str) -> Optional[Dict[str, str]]:
        pattern, order = self._pattern()
        match = re.match(pattern, resolved, re.S)
        if match is None:
            return None
        return {name: match.group(_group(index)) for index, name in enumerate(order)}


def _group(index: int) -> str:
    return f"m{index}"


@dataclass
class Template:
    name: str
    path: Path
    check_commands: List[str]
    curves: Dict[str, Tuple[Macro, Macro]]  # curve -> (metrics filter, function)
    urlparams: Dict[str, Macro]
    full_curves: Dict[str, Macro] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for curve, (metric_filter, _function) in self.curves.items():
            self.full_curves[curve] = Macro(metric_filter.resolve({
                "host_name_template": HOST_NAME_TEMPLATE,
                "service_name_template": SERVICE_NAME_TEMPLATE, "": "$$"}))


def load_templates(directory: Path = TEMPLATE_DIR) -> Dict[str, Template]:
    """Every template of every *.ini (not starting with '.') under *directory*, by
    name; raises TemplateError where loadIni raises a ConfigurationError."""
    templates: Dict[str, Template] = {}
    for path in sorted(directory.rglob("*.ini")):
        if path.name.startswith("."):
            continue
        parts: Dict[str, Dict[str, Dict[str, str]]] = {}
        for section, options in parse_ini(path):
            match = SECTION_RE.match(section)
            if not match:
                raise TemplateError(f'Bad section name "{section}" in file "{path}"')
            parts.setdefault(match.group(1), {})[match.group(2)] = dict(options)
        for name, template in parts.items():
            graph = dict(template.get("graph", {}))
            commands = list(dict.fromkeys(
                word for word in re.split(r"\s*,\s*", graph.pop("check_command", ""))
                if word))
            if graph:
                raise TemplateError(f'Bad options for template "{name}" in file "{path}": '
                                    f"{sorted(graph)}")
            functions = dict(template.get("functions", {}))
            curves: Dict[str, Tuple[Macro, Macro]] = {}
            for curve, metric_filter in template.get("metrics_filters", {}).items():
                macro = Macro(metric_filter)
                if len({"host_name_template", "service_name_template"}
                       & set(macro.macros())) != 1:
                    raise TemplateError(f'Bad metrics filter "{metric_filter}" for curve '
                                        f'"{curve}" of template "{name}" in file "{path}"')
                curves[curve] = (macro, Macro(functions.pop(curve, "$metric$")))
            if functions:
                raise TemplateError(f'Metrics filter for curves of template "{name}" in '
                                    f'file "{path}" missing: {sorted(functions)}')
            urlparams = {key: Macro(value)
                         for key, value in template.get("urlparams", {}).items()}
            if not curves:
                raise TemplateError(f'template "{name}" in "{path}" has no curves')
            if name in templates:
                raise TemplateError(f'template "{name}" in "{path}" also in '
                                    f"{templates[name].path}")
            templates[name] = Template(name, path, commands, curves, urlparams)
    return templates


def escape_step(step: str) -> str:
    """MetricsQuery::escapeMetricStep."""
    return re.sub(r"[^a-zA-Z0-9*\-:^\[\]$#%']", "_", step)


def natural_key(text: str) -> List[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


@dataclass
class Chart:
    template: Template
    metrics: Dict[str, str]  # curve -> metric path

    def variables(self) -> Dict[str, str]:
        """Chart::getMetricVariables."""
        out: Dict[str, str] = {}
        for curve, metric in self.metrics.items():
            out.update(self.template.full_curves[curve].reverse(metric) or {})
        return out

    def targets(self) -> List[Tuple[str, str]]:
        """(curve, target) as GraphImage::render adds them."""
        every: Dict[str, str] = {}
        for curve, (metric_filter, _function) in self.template.curves.items():
            if curve in self.metrics:
                every.update(metric_filter.reverse(self.metrics[curve]) or {})
        out = []
        for curve, metric in self.metrics.items():
            every["metric"] = metric
            out.append((curve, self.template.curves[curve][1].resolve(every)))
        return out

    def params(self, start: int, until: int, width: int = 350, height: int = 200,
               tz: str = "UTC") -> List[Tuple[str, str]]:
        """The /render query of GraphImage::render (its defaults, then urlparams)."""
        params: Dict[str, str] = {
            "from": str(start), "until": str(until), "bgcolor": "black", "fgcolor": "white",
            "majorGridLineColor": "0000003F", "minorGridLineColor": "black",
            "width": str(width), "height": str(height), "hideLegend": "", "tz": tz,
            "_salt": f"{until}.000", "vTitle": "Percent", "lineMode": "connected",
            "drawNullAsZero": "false", "graphType": "line", "_ext": "whatever.svg"}
        variables = self.variables()
        for key, value in self.template.urlparams.items():
            params[key] = value.resolve(variables)
        return [*params.items(), *(("target", target) for _curve, target in self.targets())]


def charts(template: Template, host: str, service: str, check_command: str,
           expand: Callable[[str], Sequence[str]]) -> List[Chart]:
    """Template::getCharts for one service (no excluded metrics: these are the
    templates of the service's own check command)."""
    objects = {"host.name": host, "service.name": service,
               "service.check_command": check_command}
    found: Dict[str, Dict[str, Dict[str, str]]] = {}
    for curve, full in template.full_curves.items():
        known = {macro: escape_step(objects[macro]) for macro in full.macros()
                 if macro in objects}
        for metric in sorted(expand(full.resolve(known, "*")), key=natural_key):
            variables = full.reverse(metric)
            if variables is not None:
                found.setdefault(curve, {})[metric] = variables
    if not found:
        return []
    if len(found) == 1:
        ((curve, metrics),) = found.items()
        return [Chart(template, {curve: metric}) for metric in metrics]
    names = list(found)
    possible: Dict[Tuple[str, str], Dict[str, Dict[str, bool]]] = {}
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            for metric1, vars1 in found[first].items():
                for metric2, vars2 in found[second].items():
                    shared = set(vars1) & set(vars2)
                    if all(vars1[key] == vars2[key] for key in shared):
                        possible.setdefault((first, second), {}).setdefault(
                            metric1, {})[metric2] = True
    out: List[Chart] = []

    def combine(current: Dict[str, str]) -> None:
        if len(current) == len(names):
            out.append(Chart(template, dict(current)))
            return
        following = next(name for name in names if name not in current)
        allowed: Optional[Dict[str, bool]] = None
        for name, metric in current.items():
            partners = possible.get((name, following), {}).get(metric)
            if partners is None:  # PHP: "Undefined array key" -> ErrorException
                raise ChartError(
                    f"{template.name}: {metric} (curve {name}) has no partner in curve "
                    f"{following}: Icinga Web 2 would fail to draw this service's graphs")
            allowed = dict(partners) if allowed is None else {
                key: True for key in allowed if key in partners}
        for metric in allowed or {}:
            combine({**current, following: metric})

    for metric in found[names[0]]:
        combine({names[0]: metric})
    return out


def templates_for(templates: Dict[str, Template], check_command: str) -> List[Template]:
    return [template for template in templates.values()
            if check_command in template.check_commands]




def functions_of(target: str) -> List[str]:
    """Names of the Graphite functions a target calls, outermost first."""
    return re.findall(r"([A-Za-z]+)\(", target)


def is_anchor(function: str) -> bool:
    """A curve drawn as gaps only, there to anchor the chart's macros (msgqueues.ini)."""
    return re.search(r"removeAboveValue\([^()]*,\s*-1\s*\)", function) is not None


def scale_of(target: str) -> float:
    """The product of the target's scale() factors: what it multiplies the value by."""
    factor = 1.0
    for number in re.findall(r"scale\((?:[^()]|\([^()]*\))*?,\s*([-\d.]+)\s*\)", target):
        factor *= float(number)
    return factor


def labels_in_filter(metric_filter: str) -> str:
    """The perfdata label part of a filter as a regex: '$service_name_template$.
    perfdata.fill_$owner$.value' -> 'fill_.+'."""
    label = metric_filter.split(".perfdata.", 1)[1].rsplit(".", 1)[0]
    return "".join(".+" if index % 2 else re.escape(part)
                   for index, part in enumerate(label.split("$")))


# --- the module itself (PHP), through tests/graphite_charts.php --------------------------

CHARTS_PHP = ROOT / "tests" / "graphite_charts.php"


def module_config(directory: Path) -> Path:
    """An Icinga Web 2 config directory with the graphite module (and monitoring, whose
    Macro class resolves the service's columns) enabled: ICINGAWEB_CONFIGDIR."""
    (directory / "enabledModules").mkdir(parents=True, exist_ok=True)
    for module in ("graphite", "monitoring"):
        link = directory / "enabledModules" / module
        if not link.is_symlink():
            link.symlink_to(MODULE_DIR.parent / module)
    return directory


def module_argv(template_dir: Path, graphite: str, png_dir: Path, start: int, until: int,
                services: Path) -> List[str]:
    return [PHP, str(CHARTS_PHP), str(template_dir), graphite, str(png_dir), str(start),
            str(until), str(services)]


def module_charts_from_paths(workdir: Path, paths: Sequence[str],
                             services: Sequence[Dict[str, str]],
                             template_dir: Path = TEMPLATE_DIR) -> List[Dict[str, Any]]:
    """The charts the module itself makes of *services* when graphite has *paths*
    (no graphite-web: the module's metric queries are answered from the list)."""
    listed = workdir / "paths.txt"
    listed.write_text("".join(f"{path}\n" for path in paths))
    asked = workdir / "services.json"
    asked.write_text(json.dumps(list(services)))
    done = subprocess.run(module_argv(template_dir, f"file:{listed}", workdir, 0, 1, asked),
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                               "ICINGAWEB_CONFIGDIR": str(module_config(workdir / "web"))})
    if done.returncode != 0 or done.stderr.strip():
        raise ChartError(f"the graphite module failed: {done.stdout[-2000:]}{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines()]
