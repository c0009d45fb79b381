#!/usr/bin/env python3
"""Generate the Icinga Director basket (contrib/icinga2/director/) from the checks.

    .venv/bin/python tools/director_basket.py          # check: exit 1 when stale
    .venv/bin/python tools/director_basket.py --write  # rewrite the basket

One source of truth, two inputs, nothing typed in here:
- each check's argument parser (what its --help prints): the options, whether an
  option is a flag, repeatable or a number, and the description of every argument
  and data field (the option's help text);
- the CheckCommands in contrib/icinga2/*.conf: the command names, the custom variable
  behind each option (so a service works with either the .conf files or the basket),
  set_if/repeat_key, the command timeout; and contrib/icinga2/services.conf for the
  intervals and plugin timeout of the example services, which the service templates
  start from.
An option of --help without an argument in its CheckCommand (or the reverse) is an
error: the two must be brought in step first. CheckCommands with fixed arguments
(the sudo commands) have nothing to configure and are left to the .conf files.
"""

from __future__ import annotations

import argparse
import configparser
import importlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib" / "icinga2"
BASKET = CONTRIB / "director" / "nagios_ipc-basket.json"
DATATYPE = "Icinga\\Module\\Director\\DataType\\DataType"
# where a service template keeps its per-service state by default: the Icinga user's
# own directory on Debian (nagios owns /var/lib/icinga2); macros make it per service
STATE_FILE = "/var/lib/icinga2/nagios_ipc-$host.name$-$service.name$.json"
ICINGA_DEFAULT_COMMAND_TIMEOUT = 60  # seconds, when a CheckCommand sets none
DEFAULT_INTERVALS = (300, 60)        # when services.conf has no example service
DEFAULT_PLUGIN_TIMEOUT = 10


class BasketError(Exception):
    """The inputs disagree: say what to fix."""


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --- the CheckCommands of contrib/icinga2 ---------------------------------------------

@dataclass
class Argument:
    option: str
    fields: Dict[str, str]

    @property
    def variable(self) -> Optional[str]:
        """The custom variable the argument reads ($name$), if it is only that."""
        raw = self.fields.get("set_if", self.fields.get("value", ""))
        match = re.fullmatch(r'"\$(\w+)\$"', raw)
        return match.group(1) if match else None

    @property
    def flag(self) -> bool:
        return "set_if" in self.fields and "value" not in self.fields


@dataclass
class CheckCommand:
    name: str
    path: Path
    command: List[str]                # the words of command = [ ... ], unparsed
    imports: List[str]
    timeout: Optional[int]            # seconds
    arguments: Dict[str, Argument] = field(default_factory=dict)

    @property
    def plugin(self) -> Optional[str]:
        """check_X when the command runs only PluginContribDir + "/check_X"."""
        if len(self.command) == 1:
            match = re.fullmatch(r'PluginContribDir\s*\+\s*"/(check_\w+)"', self.command[0])
            if match:
                return match.group(1)
        return None


def strip_comments(text: str) -> str:
    """The text without /* */ and // comments (strings kept: they may hold //)."""
    out: List[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[index:end + 1])
            index = end + 1
        elif text.startswith("/*", index):
            index = text.index("*/", index) + 2
        elif text.startswith("//", index) or char == "#":
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
        else:
            out.append(char)
            index += 1
    return "".join(out)


def block_at(text: str, start: int) -> Tuple[str, int]:
    """The body of the { ... } opening at *start*, and the index after it."""
    depth = 0
    index = start
    in_string = False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:index], index + 1
        index += 1
    raise BasketError(f"unbalanced braces from offset {start}")


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text.strip())
    if not match:
        raise BasketError(f"not a duration: {text!r}")
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    return int(int(match.group(1)) * factor)


def check_commands(directory: Path = CONTRIB) -> List[CheckCommand]:
    """Every CheckCommand of contrib/icinga2/*.conf, in file and then text order."""
    found: List[CheckCommand] = []
    for path in sorted(directory.glob("*.conf")):
        text = strip_comments(path.read_text())
        for match in re.finditer(r'object\s+CheckCommand\s+"([^"]+)"\s*\{', text):
            body, _end = block_at(text, match.end() - 1)
            top = body
            arguments: Dict[str, Argument] = {}
            args = re.search(r"\barguments\s*\+?=\s*\{", body)
            if args:
                inner, after = block_at(body, args.end() - 1)
                top = body[:args.start()] + body[after:]
                for arg in re.finditer(r'"(-[^"]+)"\s*=\s*', inner):
                    rest = inner[arg.end():]
                    if rest.startswith("{"):
                        fields_text, _ = block_at(rest, 0)
                        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$",
                                                 fields_text, re.M))
                    else:  # "-x" = "$var$"
                        fields = {"value": re.match(r'"[^"]*"', rest).group(0)}  # type: ignore[union-attr]
                    arguments[arg.group(1)] = Argument(arg.group(1), fields)
            command = re.search(r"\bcommand\s*=\s*\[(.*?)\]", top, re.S)
            words = [w.strip() for w in command.group(1).split(",")] if command else []
            timeout = re.search(r"^\s*timeout\s*=\s*(\S+)", top, re.M)
            found.append(CheckCommand(
                name=match.group(1), path=path, command=[w for w in words if w],
                imports=re.findall(r'^\s*import\s+"([^"]+)"', top, re.M),
                timeout=parse_duration(timeout.group(1)) if timeout else None,
                arguments=arguments))
    return found


def configurable_command(check: str, commands: Sequence[CheckCommand]) -> CheckCommand:
    """The CheckCommand that runs *check* with custom variables: the first in file order
    (an alias kept for an old name, a copy or an import, comes after it)."""
    names = {c.name for c in commands}
    candidates = [c for c in commands
                  if c.plugin == check and c.arguments
                  and not any(name in names for name in c.imports)]
    if not candidates:
        raise BasketError(f"no CheckCommand in contrib/icinga2 runs PluginContribDir + "
                          f'"/{check}" with arguments')
    own = [c for c in candidates if c.path.name == f"{check}.conf"]
    return (own or candidates)[0]


# --- the example services: intervals and plugin timeout ---------------------------------

def example_service(command: str, path: Path = CONTRIB / "services.conf"
                    ) -> Tuple[int, int, Optional[int]]:
    """check_interval, retry_interval (s) and vars.COMMAND_timeout of the first apply
    rule of services.conf that uses *command* (defaults when there is none)."""
    text = strip_comments(path.read_text()) if path.exists() else ""
    for match in re.finditer(r'apply\s+Service\b[^{]*\{', text):
        body, _ = block_at(text, match.end() - 1)
        if not re.search(rf'check_command\s*=\s*"{re.escape(command)}"', body):
            continue
        check = re.search(r"^\s*check_interval\s*=\s*(\S+)", body, re.M)
        retry = re.search(r"^\s*retry_interval\s*=\s*(\S+)", body, re.M)
        timeout = re.search(rf"^\s*vars\.{re.escape(command)}_timeout\s*=\s*(\S+)", body, re.M)
        return (parse_duration(check.group(1)) if check else DEFAULT_INTERVALS[0],
                parse_duration(retry.group(1)) if retry else DEFAULT_INTERVALS[1],
                parse_duration(timeout.group(1).strip('"')) if timeout else None)
    return (*DEFAULT_INTERVALS, None)


# --- the checks' own options ------------------------------------------------------------

def console_scripts() -> Dict[str, str]:
    """check name -> module, from setup.cfg: every check there is."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    scripts: Dict[str, str] = {}
    for line in parser["options.entry_points"]["console_scripts"].strip().splitlines():
        name, _, target = line.partition("=")
        scripts[name.strip()] = target.strip().partition(":")[0]
    return dict(sorted(scripts.items()))


@dataclass(frozen=True)
class Option:
    option: str            # the long form, the CheckCommand's argument key
    help: str
    kind: str              # flag, array, number, string
    choices: Tuple[str, ...]
    metavar: str


def options_of(check: str, module: str) -> List[Option]:
    """The options --help lists (but -h and -V), from the check's own parser."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    parser: argparse.ArgumentParser = importlib.import_module(module).parser()
    out: List[Option] = []
    for action in parser._actions:  # argparse has no public list of its actions
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs:
            raise BasketError(f"{check}: {action.option_strings} has no long form")
        text = action.help or ""
        if "%" in text:  # what argparse's help formatter expands
            text = text % {**vars(action), "prog": parser.prog}
        if isinstance(action, (argparse._StoreTrueAction, argparse._CountAction,
                               argparse._StoreConstAction)):
            kind = "flag"
        elif isinstance(action, argparse._AppendAction):
            kind = "array"
        elif action.type is int and not action.choices:
            kind = "number"
        else:
            kind = "string"
        metavar = action.metavar if isinstance(action.metavar, str) else ""
        out.append(Option(longs[0], text, kind,
                          tuple(str(c) for c in action.choices or ()), metavar))
    return out


# --- the basket -------------------------------------------------------------------------

def describe(option: Option) -> str:
    """The option's help text as --help prints it, and the values it takes."""
    text = option.help.strip()
    text = text[:1].upper() + text[1:]
    if option.choices:
        text += "; one of: " + ", ".join(option.choices)
    return text


def caption(option: Option) -> str:
    """What the Director form shows beside the field: the option in words."""
    words = option.option.lstrip("-").replace("-", " ")
    return words[:1].upper() + words[1:]


def datatype(option: Option) -> str:
    return DATATYPE + {"flag": "Boolean", "array": "Array", "number": "Number",
                       "string": "String"}[option.kind]


def template_name(check: str) -> str:
    return "nagios_ipc-" + check.removeprefix("check_")


def build() -> Dict[str, Any]:
    commands = check_commands()
    fields: Dict[str, Dict[str, Any]] = {}
    command_objects: Dict[str, Dict[str, Any]] = {}
    templates: Dict[str, Dict[str, Any]] = {}
    problems: List[str] = []
    for check, module in console_scripts().items():
        command = configurable_command(check, commands)
        options = options_of(check, module)
        where = f"{shown(command.path)} ({command.name})"
        missing = [o.option for o in options if o.option not in command.arguments]
        extra = sorted(set(command.arguments) - {o.option for o in options})
        if missing:
            problems.append(f"{where}: no argument for {', '.join(missing)} of {check} --help")
        if extra:
            problems.append(f"{where}: {', '.join(extra)} not in {check} --help")
        arguments: Dict[str, Dict[str, Any]] = {}
        links: List[Dict[str, Any]] = []
        variables: Dict[str, str] = {}
        for option in options:
            if option.option not in command.arguments:
                continue
            argument = command.arguments[option.option]
            variable = argument.variable
            if variable is None:
                problems.append(f"{where}: {option.option} is not one plain $variable$")
                continue
            if argument.flag != (option.kind == "flag"):
                problems.append(f"{where}: {option.option}: set_if is for flags (and only)")
            if (argument.fields.get("repeat_key") == "true") != (option.kind == "array"):
                problems.append(f"{where}: {option.option}: repeat_key = true is for "
                                "repeatable options (and only)")
            variables[option.option] = variable
            director_arg: Dict[str, Any] = {"description": describe(option)}
            if argument.flag:
                director_arg["set_if"] = f"${variable}$"
            else:
                director_arg["value"] = f"${variable}$"
            if option.kind == "array":
                director_arg["repeat_key"] = True
            for key in ("order", "required", "skip_key", "key"):
                if key in argument.fields:
                    value: Any = argument.fields[key].strip('"')
                    director_arg[{"order": "sort_order", "key": "key_string"}.get(key, key)] = (
                        int(value) if key == "order" else
                        value == "true" if key in ("required", "skip_key") else value)
            arguments[option.option] = director_arg
            field_id = str(len(fields) + 1)
            fields[field_id] = {
                "varname": variable,
                "caption": caption(option),
                "description": describe(option),
                "datatype": datatype(option),
                "format": None,
                "originalId": field_id,
                "settings": {},
                "category": None,
            }
            links.append({"datafield_id": int(field_id), "is_required": "n",
                          "var_filter": None})
        command_object: Dict[str, Any] = {
            "arguments": dict(sorted(arguments.items())),
            "command": f"PluginContribDir + /{check}",
            "fields": links,
            "methods_execute": "PluginCheck",
            "object_name": command.name,
            "object_type": "object",
        }
        if command.timeout is not None:
            command_object["timeout"] = str(command.timeout)
        command_objects[command.name] = command_object
        check_interval, retry_interval, plugin_timeout = example_service(command.name)
        plugin_timeout = plugin_timeout or DEFAULT_PLUGIN_TIMEOUT
        limit = command.timeout or ICINGA_DEFAULT_COMMAND_TIMEOUT
        if plugin_timeout >= limit:
            problems.append(f"{where}: plugin timeout {plugin_timeout}s is not below the "
                            f"command timeout {limit}s")
        template_vars: Dict[str, Any] = {}
        if "--timeout" in variables:
            template_vars[variables["--timeout"]] = str(plugin_timeout)
        if "--state-file" in variables:
            template_vars[variables["--state-file"]] = STATE_FILE
        templates[template_name(check)] = {
            "check_command": command.name,
            "check_interval": str(check_interval),
            "fields": [],
            "object_name": template_name(check),
            "object_type": "template",
            "retry_interval": str(retry_interval),
            "vars": template_vars,
        }
    if problems:
        raise BasketError("\n".join(problems))
    return {"Datafield": fields, "Command": command_objects, "ServiceTemplate": templates}


def render() -> str:
    return json.dumps(build(), indent=4, ensure_ascii=False) + "\n"


def main(argv: Sequence[str]) -> int:
    try:
        wanted = render()
    except BasketError as error:
        print(f"cannot generate the Director basket:\n{error}", file=sys.stderr)
        return 2
    if "--write" in argv:
        BASKET.parent.mkdir(parents=True, exist_ok=True)
        BASKET.write_text(wanted)
        return 0
    current = BASKET.read_text() if BASKET.exists() else ""
    if current != wanted:
        print(f"{shown(BASKET)} is out of date with the checks' --help and "
              "contrib/icinga2/*.conf; run .venv/bin/python tools/director_basket.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
