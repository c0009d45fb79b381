"""Shared test set-up.

With CI=true a skipped integration test is a failure: the integration tests
prove the checks against real queues, MTAs, sockets and schedulers, and CI
must not pass without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import first_line_recorder

ROOT = Path(__file__).resolve().parent.parent
first_line_recorder.install()


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """The first-line table's audit runs last, after every test that prints lines."""
    last = [item for item in items if item.name == "test_every_failure_line_has_a_row"]
    for item in last:
        items.remove(item)
        items.append(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (os.environ.get("CI") == "true" and report.skipped
            and "integration" in Path(str(item.fspath)).parts):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"integration test skipped in CI (CI=true): {reason}"
    return outcome


try:  # property-based tests: fast by default, HYPOTHESIS_PROFILE=deep for a long run
    from hypothesis import HealthCheck, settings

    settings.register_profile("default", max_examples=200, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("deep", max_examples=20000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


# --- how many cases each property ran (issue 8: the closing note states them) ------------
# Every call of a hypothesis test's inner function is one case (generated, explicit
# @example, replayed from the database, or shrinking). Counts go to the terminal summary
# and to .pytest-cases.json (or $NAGIOS_IPC_CASES_FILE).
CASES: dict = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is None:
        first_line_recorder.CURRENT["test"] = item.nodeid  # issue 17: the first-line table
        try:
            yield
        finally:
            first_line_recorder.CURRENT["test"] = None
        return
    CASES[item.nodeid] = 0

    def counted(*args: object, **kwargs: object) -> object:
        CASES[item.nodeid] += 1
        return inner(*args, **kwargs)

    handle.inner_test = counted
    try:
        yield
    finally:
        handle.inner_test = inner


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: object) -> None:
    if not CASES:
        return
    import json
    import sys

    try:
        import hypothesis
        version = hypothesis.__version__
    except ImportError:  # pragma: no cover
        version = "?"
    profile = os.environ.get("HYPOTHESIS_PROFILE", "default")
    path = Path(os.environ.get("NAGIOS_IPC_CASES_FILE") or ROOT / ".pytest-cases.json")
    record = {"profile": profile, "python": sys.executable, "hypothesis": version,
              "properties": len(CASES), "cases": sum(CASES.values()),
              "per_property": dict(sorted(CASES.items()))}
    try:
        path.write_text(json.dumps(record, indent=1) + "\n")
        where = str(path)
    except OSError as exc:
        where = f"not written: {exc.strerror}"
    write = terminalreporter.write_line  # type: ignore[attr-defined]
    write(f"hypothesis ({version}, profile {profile}): {len(CASES)} properties ran "
          f"{sum(CASES.values())} cases, fewest {min(CASES.values())}; per property in {where}")
    if os.environ.get("NAGIOS_IPC_CASES") or config.option.verbose > 0:  # type: ignore[attr-defined]
        for nodeid, count in sorted(CASES.items()):
            write(f"  {count:7d}  {nodeid}")
