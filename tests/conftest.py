"""Shared test set-up.

With CI=true a skipped integration test is a failure: the integration tests
prove the checks against real queues, MTAs, sockets and schedulers, and CI
must not pass without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
