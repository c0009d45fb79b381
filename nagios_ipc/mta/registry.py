"""Which MTA modules exist, which one is installed here, and which method reads it.

A module is imported only when its MTA is asked for or probed (``--mta auto``
probes in DETECTION_ORDER and stops at the first installed one). A module
missing from this build (ImportError) is "not supported in this build": auto
skips it; asking for it by name is an UNKNOWN saying so.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .model import QueueSource, Settings, Unavailable

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

NAMES = ("postfix", "exim", "sendmail", "qmail", "opensmtpd", "nullmailer", "imsimta")
# Postfix and Exim first (the common ones; both also install a 'sendmail' binary),
# the Messaging Server last (its imsimta is unmistakable but rare).
DETECTION_ORDER = ("postfix", "exim", "opensmtpd", "qmail", "sendmail", "nullmailer",
                   "imsimta")
METHOD_CHOICES = ("auto", "spool", "command")


class NotSupported(Unavailable):
    """The MTA's module is not part of this build."""


def load(name: str) -> ModuleType:
    if name not in NAMES:
        raise NotSupported(f"unknown MTA '{name}'", f"use one of {', '.join(NAMES)} or auto")
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError as exc:
        if exc.name and not exc.name.endswith(f"mta.{name}"):
            raise  # the module exists but lacks a dependency: a real error
        raise NotSupported(f"{name} is not supported in this build of nagios_ipc",
                           "install a version of nagios_ipc that has it, or choose "
                           "another --mta") from None


def detect(settings: Settings) -> ModuleType:
    """The first MTA in DETECTION_ORDER that is installed here."""
    tried: List[str] = []
    for name in DETECTION_ORDER:
        try:
            module = load(name)
        except NotSupported:
            continue
        tried.append(name)
        if module.installed(settings):
            return module
    raise Unavailable(f"no supported MTA found (looked for {', '.join(tried)})",
                      "name it with --mta, and its queue with --spool-dir or --config-dir")


def open_source(module: ModuleType, settings: Settings, method: str
                ) -> Tuple[QueueSource, Optional[Unavailable]]:
    """The source for *method*; with auto, the spool when readable, else the command.

    Returns the source and, with auto, why the spool was not used (for the detail).
    When no method works, raises Unavailable naming every cause and every fix."""
    methods: Tuple[str, ...] = tuple(module.METHODS)
    if method != "auto":
        if method not in methods:
            raise Unavailable(f"{module.NAME} cannot be read by --method {method}",
                              f"use --method {' or '.join(methods)}")
        return module.open_source(settings, method), None
    failures: List[Unavailable] = []
    for candidate in methods:
        try:
            return module.open_source(settings, candidate), (failures[0] if failures else None)
        except Unavailable as exc:
            failures.append(exc)
    raise merge(module.NAME, failures, methods)


def merge(mta: str, failures: List[Unavailable],
          methods: Tuple[str, ...] = ("spool", "command")) -> Unavailable:
    """One Unavailable for every method that failed: each fix once. One cause (the
    MTA is not installed: both methods miss the same binary) is the first line;
    several are summed up there and each goes to the long output, in its program's
    words, so that the first line stays short enough to read at 3 a.m."""
    reasons: List[str] = []
    fixes: List[str] = []
    for failure in failures:
        if failure.reason not in reasons:
            reasons.append(failure.reason)
        for fix in failure.fix.split("; or "):
            if fix and fix not in fixes:
                fixes.append(fix)
    overruled = {fix for failure in failures for fix in failure.overrules}
    fixes = [fix for fix in fixes if fix not in overruled]
    if len(reasons) == 1:
        return Unavailable(f"cannot read the {mta} queue: {reasons[0]}", "; or ".join(fixes))
    generic = "run it by hand to see why"  # the causes below say why already
    fixes = [fix for fix in fixes if fix != generic] or fixes
    import os
    import pwd

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = f"uid {os.geteuid()}"
    words = {"spool": "spool scan", "command": "listing"}
    details = [f"{words.get(method, method)}: {failure.reason}"
               for method, failure in zip(methods, failures)]
    return Unavailable(f"{user} cannot read the {mta} queue by "
                       f"{' or '.join(words.get(m, m) for m in methods)} (see below)",
                       "; or ".join(fixes), details)
