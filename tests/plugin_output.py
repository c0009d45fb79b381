"""Plugin output read the strict way the Monitoring Plugins guidelines write it.

* :func:`split_output`: first line text, long output lines, perfdata items (from
  the first line and from the ``|`` on a long-output line on), as Nagios reads it.
* :func:`parse_perf`: one perfdata item against the grammar
  ``'label'=value[UOM];[warn];[crit];[min];[max]``; raises on anything else.
* :class:`RefRange`: a reference evaluator of threshold ranges with the
  semantics of Monitoring::Plugin::Range (checked against the Perl module itself
  in tests/integration/test_conformance.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

UOMS = ("", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c")
NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)"  # no exponent, no comma, no sign '+'
RANGE_RE = re.compile(rf"^@?(?:~|{NUMBER})?(?::(?:{NUMBER})?)?$")
LABEL_RE = re.compile(r"^(?:'((?:[^'=]|'')+)'|([^'=\s]+))=")


class PerfError(ValueError):
    pass


@dataclass(frozen=True)
class Perf:
    label: str
    value: float
    uom: str
    warn: str
    crit: str
    min: str
    max: str


def parse_perf(item: str) -> Perf:
    match = LABEL_RE.match(item)
    if not match:
        raise PerfError(f"bad label in {item!r}")
    label = (match.group(1) or "").replace("''", "'") if match.group(1) else match.group(2)
    fields = item[match.end():].split(";")
    if len(fields) > 5:
        raise PerfError(f"more than 5 fields in {item!r}")
    fields += [""] * (5 - len(fields))
    value = re.match(rf"^({NUMBER})([a-zA-Z%]*)$", fields[0])
    if not value or value.group(2) not in UOMS:
        raise PerfError(f"bad value or unit of measure in {item!r}")
    for threshold in fields[1:3]:
        if threshold and not RANGE_RE.match(threshold):
            raise PerfError(f"bad threshold {threshold!r} in {item!r}")
    for bound in fields[3:5]:
        if bound and not re.match(rf"^{NUMBER}$", bound):
            raise PerfError(f"bad min/max {bound!r} in {item!r}")
    return Perf(str(label), float(value.group(1)), value.group(2), fields[1], fields[2],
                fields[3], fields[4])


def split_output(stdout: str) -> Tuple[str, List[str], List[str]]:
    """(first line text, long output lines, perfdata items) as Nagios reads them."""
    lines = stdout.rstrip("\n").split("\n")
    first, _, perf = lines[0].partition("|")
    items = perf.split()
    text: List[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            items += line.split()
        elif "|" in line:
            before, _, after = line.partition("|")
            if before.strip():
                text.append(before.rstrip())
            items += after.split()
            in_perf = True
        else:
            text.append(line)
    return first.rstrip(), text, items


class RefRange:
    """A threshold range as Monitoring::Plugin::Range reads and checks it."""

    def __init__(self, text: str) -> None:
        self.text = text
        string = re.sub(r"\s", "", text)
        if not (re.search(r"[\d~]", string)
                and re.match(r"^@?(-?[\d.]+|~)?(:(-?[\d.]+)?)?$", string)):
            raise ValueError(f"invalid range {text!r}")
        self.inside = string.startswith("@")
        string = string.lstrip("@")
        self.start: float = 0.0
        self.end: float = 0.0
        self.start_inf = False
        self.end_inf = False
        valid = 0
        if string.startswith("~"):
            self.start_inf = True
            string = string[1:]
        match = re.match(r"^([\d.-]+)?:", string)
        if match:
            if match.group(1) is not None:
                self.start = float(match.group(1))
            self.end_inf = True
            string = string[match.end():]
            valid += 1
        if re.match(r"^[-\d.]+$", string):
            self.end = float(string)
            self.end_inf = False
            valid += 1
        if not valid or not (self.start_inf or self.end_inf or self.start <= self.end):
            raise ValueError(f"invalid range {text!r}")

    def alert(self, value: float) -> bool:
        if not self.start_inf and not self.end_inf:
            inside = self.start <= value <= self.end
        elif not self.start_inf:
            inside = value >= self.start
        elif not self.end_inf:
            inside = value <= self.end
        else:
            inside = True
        return inside if self.inside else not inside


def perf_state(perf: Perf) -> int:
    """The state a scheduler would derive from this item's own thresholds."""
    if perf.crit and RefRange(perf.crit).alert(perf.value):
        return 2
    if perf.warn and RefRange(perf.warn).alert(perf.value):
        return 1
    return 0


def first_line_bytes(stdout: str) -> int:
    return len(stdout.split("\n", 1)[0].encode())


def is_ascii_printable(text: str) -> bool:
    return all(32 <= ord(ch) < 127 for ch in text)


def state_word(code: int) -> Optional[str]:
    return ("OK", "WARNING", "CRITICAL", "UNKNOWN")[code] if 0 <= code <= 3 else None
