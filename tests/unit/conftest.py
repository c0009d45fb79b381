"""Unit tests keep their state (trend histories, stalled peers) in a directory of their
own: a check run by one test must not see the samples another test (or an earlier run
of the suite) left in the user's default state directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("NAGIOS_IPC_STATE_DIR", str(path))
    return path
