#!/usr/bin/env python3
"""Grafana dashboards for Icinga 2's InfluxdbWriter (InfluxDB 1.x), one per check.

    tools/grafana_dashboards.py          # check: exit 1 and name the stale files
    tools/grafana_dashboards.py --write  # rewrite contrib/grafana/*.json

One description (below) gives every file, so the panels of a check cannot drift
from each other; tests/unit/test_grafana_dashboards.py checks the files against it
and their structure, tests/integration/test_grafana_influx.py runs every query in a
real influxd fed by a real Icinga 2.

The schema is the InfluxdbWriter's default (Icinga 2.13): measurement = the check
command's name, tags hostname, service and metric (the perfdata label), fields value
and, with enable_send_thresholds, warn, crit, min, max (unit too, when there is one).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "contrib" / "grafana"
SCHEMA_VERSION = 36  # Grafana 9.x; later versions migrate it on import
DATASOURCE = {"type": "influxdb", "uid": "${datasource}"}

# the WHERE clause every panel shares: Grafana's time range, then the variables
SELECTION = ('$timeFilter AND "hostname" =~ /^$host$/ AND "service" =~ /^$service$/')
GROUP = 'GROUP BY time($__interval), "hostname", "service", "metric" fill(none)'


def query(metric: str, fields: Tuple[str, ...] = ("value",), exclude: str = "") -> str:
    """Last value per interval of each series whose perfdata label matches *metric*
    (a regex, anchored here) and not *exclude*; a column per field, named after it."""
    select = ", ".join(f'last("{name}") AS "{name}"' for name in fields)
    # InfluxDB's regexes are Go's (RE2): no lookahead, so exclusions are a !~ of their own
    unless = f' AND "metric" !~ /{exclude}/' if exclude else ""
    # S608: text for a dashboard file, made of this file's constants; Grafana runs it
    return (f'SELECT {select} FROM /^$command$/ WHERE {SELECTION} '  # noqa: S608
            f'AND "metric" =~ /^{metric}$/{unless} {GROUP}')


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    metric: str                       # regex of perfdata labels (anchored by query())
    unit: str                         # Grafana unit id
    fields: Tuple[str, ...] = ("value",)
    minimum: Optional[float] = 0
    maximum: Optional[float] = None
    stack: bool = False
    bars: bool = False
    exclude: str = ""                 # regex of labels the metric regex must not take


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    query: str
    regex: str = ""
    multi: bool = True
    include_all: bool = True


@dataclass(frozen=True)
class Dashboard:
    check: str
    uid: str
    title: str
    description: str
    commands: str                     # regex of the measurements: the CheckCommands
    panels: Tuple[Panel, ...]
    variables: Tuple[Variable, ...] = ()
    annotations: Tuple[Dict[str, Any], ...] = field(default=())


def standard_variables(commands: str) -> Tuple[Variable, ...]:
    return (
        Variable("command", "CheckCommand", f"SHOW MEASUREMENTS WITH MEASUREMENT =~ /{commands}/"),
        # several hosts at once: Grafana regex-escapes each value of a multi variable
        Variable("host", "Host", 'SHOW TAG VALUES FROM /^$command$/ WITH KEY = "hostname"',
                 include_all=False),
        Variable("service", "Service", 'SHOW TAG VALUES FROM /^$command$/ WITH KEY = "service" '
                 'WHERE "hostname" =~ /^$host$/'),
    )


def labels_of(prefix: str) -> str:
    """A variable query listing one label family's suffixes (owner, domain)."""
    return ('SHOW TAG VALUES FROM /^$command$/ WITH KEY = "metric" WHERE "hostname" =~ /^$host$/ '
            f'AND "service" =~ /^$service$/ AND "metric" =~ /^{prefix}_/')


OWNER = "($owner)"

DASHBOARDS = (
    Dashboard(
        check="check_msgqueues", uid="nagios-ipc-msgqueues",
        title="nagios_ipc: message queues (check_msgqueues)",
        description="Per owner and for the Total: how full, how much, how fast it grows.",
        commands="^msgqueues",
        variables=(Variable("owner", "Owner", labels_of("fill"), regex="/^fill_(.+)$/"),),
        panels=(
            Panel("Fill of the fullest queue", "fill_OWNER: the fullest queue of each owner "
                  "(and of the Total), % of its byte limit; warn: --fill-warning",
                  f"fill_{OWNER}", "percent", ("value", "warn", "crit"), maximum=100),
            Panel("Messages", "messages_OWNER: outstanding messages per owner",
                  f"messages_{OWNER}", "short"),
            Panel("Bytes queued", "bytes_OWNER: bytes in outstanding messages; qbytes_OWNER: "
                  "the sum of the queues' byte limits", f"(bytes|qbytes)_{OWNER}", "bytes"),
            Panel("Queues: all, full, orphaned", "queues_OWNER: queues of the owner; "
                  "full_OWNER: queues at their limit; orphaned_OWNER: non-empty queues whose "
                  "last reader is gone", f"(queues|full|orphaned)_{OWNER}", "short"),
            Panel("Queue slots in use", "sysv_slots / posix_slots: queues in use of the "
                  "system maximum (msgmni, fs.mqueue.queues_max)", "(sysv|posix)_slots",
                  "percent", ("value", "warn", "crit"), maximum=100),
            Panel("Oldest unread", "unread_age_OWNER: longest time a non-empty queue has "
                  "gone unread", f"unread_age_{OWNER}", "s"),
            Panel("Message growth per minute", "messages_growth_OWNER: messages gained per "
                  "minute (least-squares slope over --trend-window); a gap on the first run "
                  "and after a reboot", f"messages_growth_{OWNER}", "short", minimum=None),
            Panel("Byte growth per minute", "bytes_growth_OWNER: bytes gained per minute",
                  f"bytes_growth_{OWNER}", "bytes", minimum=None),
            Panel("Time to full", "time_to_full_OWNER: seconds until the soonest queue is "
                  "full at its growth; only while a queue grows consistently",
                  f"time_to_full_{OWNER}", "s", ("value", "warn", "crit")),
        ),
    ),
    Dashboard(
        check="check_mta_backlog", uid="nagios-ipc-mta-backlog",
        title="nagios_ipc: mail queue backlog (check_mta_backlog)",
        description="Messages per queue, deferred against its thresholds, ages, bounces, "
                    "held mail and per-domain counts; mta_backlog and its sudo variants.",
        commands="^mta_backlog",
        variables=(Variable("domain", "Domain", labels_of("domain"), regex="/^domain_(.+)$/"),),
        panels=(
            Panel("Messages per queue", "messages_QUEUE, stacked (Postfix: maildrop incoming "
                  "active deferred hold corrupt; Exim: queued frozen)",
                  "messages_.+", "short", stack=True, exclude="_growth"),
            Panel("Deferred against its thresholds", "deferred: what -w/-c measure; warn and "
                  "crit as the command line gave them", "deferred", "short",
                  ("value", "warn", "crit")),
            Panel("Oldest message", "oldest_QUEUE per queue and deferred_age (the oldest "
                  "deferred message, with its thresholds)", "(oldest_.+|deferred_age)", "s",
                  ("value", "warn", "crit")),
            Panel("Bounces and held", "bounces: messages with the null sender; held: Postfix "
                  "hold, Exim frozen", "(bounces|held)", "short"),
            Panel("Per domain", "domain_DOMAIN: messages for each --domain",
                  "domain_($domain)", "short", ("value", "warn", "crit")),
            Panel("All queues", "messages: messages in all queues", "messages", "short"),
            Panel("Bytes queued", "bytes: all queues", "bytes", "bytes"),
            # the trend figures (--trend-window, on by default): a gap, not a 0, on the
            # first run, after a reboot and while a time is not known
            Panel("Growth per minute", "messages_growth: messages gained per minute in all "
                  "queues; deferred_growth: deferred messages (what --growth-warning judges); "
                  "least-squares slopes over --trend-window, negative while draining",
                  "(messages|deferred)_growth", "short", minimum=None),
            Panel("Growth per queue per minute", "messages_growth_QUEUE: messages gained per "
                  "minute in each queue", "messages_growth_.+", "short", minimum=None),
            Panel("Oldest deferred: ageing per minute", "deferred_age_growth: seconds the "
                  "oldest deferred message ages per minute; 60 with a flat deferred count is "
                  "mail that is stuck, not slow", "deferred_age_growth", "s", minimum=None),
            Panel("Time to CRITICAL and to capacity", "time_to_critical: until the deferred "
                  "count reaches the -c bound; time_to_full: until all messages reach "
                  "--capacity; only while growing consistently (--growing-samples)",
                  "time_to_(critical|full)", "s", ("value", "warn", "crit")),
        ),
    ),
    Dashboard(
        check="check_zmq_hwm", uid="nagios-ipc-zmq-hwm",
        title="nagios_ipc: ZeroMQ queues (check_zmq_hwm)",
        description="Mode 1 (the application's sockets): Send-Q, stalled peers, descriptors, "
                    "retransmissions. Mode 2 (the stats endpoint): drops and would-blocks "
                    "per minute.",
        commands="^zmq_hwm",
        panels=(
            Panel("Send-Q and Recv-Q", "sendq, recvq: the largest queue of any connection",
                  "(sendq|recvq)", "bytes", ("value", "warn", "crit")),
            Panel("Send-Q fill", "sendq_fill: the largest Send-Q as % of its socket's send "
                  "buffer", "sendq_fill", "percent", ("value", "warn", "crit"), maximum=100),
            Panel("Stalled peers", "stalled of peers: connections that stopped draining",
                  "(stalled|peers)", "short"),
            Panel("Connections not read", "not_reading: connections whose Recv-Q the "
                  "application has not read since the previous run (a hung consumer)",
                  "not_reading", "short"),
            Panel("Stalled for", "stalled_for: how long the longest-stalled peer has not "
                  "drained", "stalled_for", "s"),
            Panel("Descriptors", "fds: descriptors in use as % of the limit (the fullest "
                  "process)", "fds", "percent", ("value", "warn", "crit"), maximum=100),
            Panel("Retransmissions", "retrans: host TCP segments retransmitted, % of those "
                  "sent since the previous run", "retrans", "percent", maximum=100),
            Panel("Drops and would-blocks per minute (mode 2)", "drops_per_min: XPUB_NODROP "
                  "refusals; wouldblock_per_min: sends that returned zmq.Again; "
                  "disconnects and connect retries", "(drops|wouldblock|disconnects|retries)"
                  "_per_min", "short", bars=True),
            # the trend figures, with --trend-window (off by default)
            Panel("Send-Q growth per minute", "sendq_growth: the fastest-growing peer's "
                  "Send-Q, bytes per minute (least squares over --trend-window)",
                  "sendq_growth", "bytes", minimum=None),
            Panel("Time to a full send buffer", "time_to_full: until the soonest peer's "
                  "Send-Q reaches its send buffer, while it grows consistently "
                  "(--growing-samples)", "time_to_full", "s", ("value", "warn", "crit")),
            Panel("Drop and would-block trend (mode 2)", "drops_trend, wouldblock_trend: "
                  "per minute, least squares over --trend-window (steadier than the "
                  "per-run rates)", "(drops|wouldblock)_trend", "short"),
        ),
    ),
    Dashboard(
        check="check_host_uptime", uid="nagios-ipc-host-uptime",
        title="nagios_ipc: uptime and availability (check_host_uptime)",
        description="Uptime, availability per check period, reboots (also as annotations).",
        commands="host_uptime$",
        panels=(
            Panel("Uptime", "uptime: seconds since boot", "uptime", "s",
                  ("value", "warn", "crit")),
            Panel("Availability per period", "availability: % of the period between two "
                  "runs the host was up", "availability", "percent",
                  ("value", "warn", "crit"), maximum=100),
            Panel("Reboots", "reboots: boots detected since the previous run (0 or 1)",
                  "reboots", "short", bars=True),
            Panel("Down per period", "downtime_last_period, uptime_last_period: seconds of "
                  "the period between two runs", "(downtime|uptime)_last_period", "s"),
        ),
        annotations=({
            "name": "Reboots", "datasource": DATASOURCE, "enable": True,
            "iconColor": "red",
            "query": ('SELECT "value", "service" FROM /^$command$/ WHERE '  # noqa: S608
                      f'{SELECTION} AND "metric" = \'reboots\' AND "value" > 0'),
            "textColumn": "service", "tagsColumn": "", "titleColumn": "",
        },),
    ),
)


def variable_json(variable: Variable) -> Dict[str, Any]:
    return {
        "name": variable.name, "label": variable.label, "type": "query",
        "datasource": DATASOURCE, "query": variable.query, "definition": variable.query,
        "regex": variable.regex, "multi": variable.multi,
        "includeAll": variable.include_all, "refresh": 2, "sort": 1, "hide": 0,
        "current": {}, "options": [],
    }


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> Dict[str, Any]:
    defaults: Dict[str, Any] = {"unit": panel.unit, "custom": {
        "drawStyle": "bars" if panel.bars else "line", "lineWidth": 1,
        "fillOpacity": 30 if panel.stack or panel.bars else 0, "spanNulls": False,
        "showPoints": "auto",
        "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"}}}
    if panel.minimum is not None:
        defaults["min"] = panel.minimum
    if panel.maximum is not None:
        defaults["max"] = panel.maximum
    overrides = []
    for name, colour in (("warn", "orange"), ("crit", "red")):
        if name in panel.fields:
            # a threshold is a dashed line of its state's colour, never stacked
            overrides.append({
                "matcher": {"id": "byRegexp", "options": f".* {name}$"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}},
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
                    {"id": "custom.drawStyle", "value": "line"}]})
    return {
        "id": panel_id, "type": "timeseries", "title": panel.title,
        "description": panel.description, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": {"legend": {"displayMode": "table", "placement": "bottom",
                               "showLegend": True, "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{
            "refId": "A", "datasource": DATASOURCE, "rawQuery": True,
            "resultFormat": "time_series",
            "query": query(panel.metric, panel.fields, panel.exclude),
            # legend: "SERVICE LABEL FIELD" (the host is in the title bar)
            "alias": "$tag_service $tag_metric $col",
        }],
    }


def dashboard_json(board: Dashboard) -> Dict[str, Any]:
    panels = [panel_json(panel, index + 1, 12 * (index % 2), 8 * (index // 2))
              for index, panel in enumerate(board.panels)]
    variables = [
        {"name": "datasource", "label": "InfluxDB", "type": "datasource", "query": "influxdb",
         "regex": "", "hide": 0, "current": {}, "options": [], "multi": False,
         "includeAll": False},
        *(variable_json(v) for v in (*standard_variables(board.commands), *board.variables)),
    ]
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
               "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
               "name": "Annotations & Alerts", "type": "dashboard"}
    return {
        "uid": board.uid, "title": board.title, "description": board.description,
        "tags": ["nagios_ipc", "icinga2", "influxdb"], "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "graphTooltip": 1, "refresh": "1m", "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": [builtin, *board.annotations]},
        "templating": {"list": variables},
        "panels": panels,
    }


def files() -> Dict[Path, str]:
    return {OUT / f"{board.check}.json": json.dumps(dashboard_json(board), indent=2) + "\n"
            for board in DASHBOARDS}


def main() -> int:
    wanted = files()
    if "--write" in sys.argv:
        OUT.mkdir(parents=True, exist_ok=True)
        for path, text in wanted.items():
            path.write_text(text)
        return 0
    stale: List[str] = [str(path.relative_to(ROOT)) for path, text in wanted.items()
                        if not path.exists() or path.read_text() != text]
    for name in stale:
        print(f"{name}: not what tools/grafana_dashboards.py makes (run it with --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
