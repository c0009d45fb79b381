"""Fixtures shared by the scheduler integration tests (Icinga 2, NRPE, Nagios 4)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, Iterator

import pytest
import schedulers  # tests/ is on sys.path (tests/conftest.py)
from scenarios import Scenario, all_scenarios


@pytest.fixture(scope="session")
def plugins() -> Iterator[Dict[str, Path]]:
    """Every console script installed as /usr/lib/nagios/plugins/check_X (undone after)."""
    why = schedulers.missing_tools()
    if why:
        pytest.skip(why)
    with schedulers.installed_plugins() as placed:
        yield placed


@pytest.fixture(scope="module")
def netns() -> Iterator[schedulers.Netns]:
    """A private network namespace (loopback only) for the module's daemons, the
    scenarios' network-facing data (ZeroMQ applications) and the checks that look
    at it: socket tables are per namespace."""
    why = schedulers.missing_tools("/usr/bin/unshare", "/usr/bin/nsenter")
    if why:
        pytest.skip(why)
    namespace = schedulers.Netns()
    try:
        yield namespace
    finally:
        namespace.close()


@pytest.fixture(scope="module")
def scenarios(netns: schedulers.Netns) -> Iterator[Dict[str, Scenario]]:
    """The real data of every check's scenario, made once per test module."""
    workdir = schedulers.make_workdir("nagios-ipc-scenarios-")
    try:
        with all_scenarios(workdir, list(schedulers.console_scripts()), netns) as made:
            yield made
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
