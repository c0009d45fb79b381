"""The ZeroMQ stats helper under arbitrary requests, and its CURVE gate (issue 8).

The helper runs inside monitored applications: whatever a client sends it must
answer with the snapshot (only for exactly ``stats``) or the fixed error, keep
serving, and never act on the content. Under CURVE, a client without an allowed
key gets no snapshot, and check_zmq_hwm without the right keys is one UNKNOWN line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterator, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

zmq = pytest.importorskip("zmq")
helper = pytest.importorskip("nagios_ipc.zmqhwm.helper")

from tests.helpers import CHECKS  # noqa: E402 - after the importorskips
from tests.robustness import assert_one_unknown_line  # noqa: E402

ERROR = {"schema": "nagios_ipc.zmq_stats/1", "error": "unknown request; send exactly 'stats'"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    directory = tmp_path_factory.mktemp("helper")
    endpoint = f"ipc://{directory}/stats.ipc"
    app_context = zmq.Context()
    stats = helper.StatsServer(endpoint, context=app_context)
    pub = stats.register(app_context.socket(zmq.PUB), name="ticks")
    pub.bind(f"ipc://{directory}/ticks.ipc")
    stats.start()
    stats.client = app_context.socket(zmq.REQ)  # type: ignore[attr-defined]
    yield stats
    stats.client.close(0)  # type: ignore[attr-defined]
    pub.close(0)
    stats.close()
    app_context.destroy(linger=0)


def ask(stats: object, frames: List[bytes]) -> object:
    req = zmq.Context.instance().socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(stats.endpoint)  # type: ignore[attr-defined]
    try:
        req.send_multipart(frames)
        # libzmq drops an oversized request (MAXMSGSIZE 1024) unanswered: wait less for it
        big = sum(len(f) for f in frames) > helper.MAX_REQUEST - 64
        if not req.poll(300 if big else 5000):
            return None  # dropped (over MAXMSGSIZE): no answer, and the helper goes on
        return json.loads(req.recv())
    finally:
        req.close(0)


MARKER = "/tmp/nagios_ipc-helper-pwned"
NASTY = [b"__import__('os').system('touch " + MARKER.encode() + b"')",
         b"\x80\x04\x95" + b"cos\nsystem\n(S'touch " + MARKER.encode() + b"'\ntR.",  # a pickle
         b'{"cmd": "stats"}', b"stats\x00", b"STATS", b" stats", b"", b"stats" * 300]


@settings(deadline=None)
@given(frames=st.lists(st.one_of(st.binary(max_size=300), st.sampled_from(NASTY)),
                       min_size=1, max_size=3))
def test_arbitrary_requests_get_the_fixed_error(server: object, frames: List[bytes]) -> None:
    reply = ask(server, frames)
    if frames == [b"stats"]:
        assert isinstance(reply, dict) and "sockets" in reply
    elif reply is not None:
        assert reply == ERROR
    assert not os.path.exists(MARKER)
    # still serving
    snapshot = ask(server, [b"stats"])
    assert isinstance(snapshot, dict) and snapshot["sockets"][0]["name"] == "ticks"


def test_nasty_requests_are_refused(server: object) -> None:
    for request in NASTY:
        reply = ask(server, [request])
        assert reply in (ERROR, None), (request, reply)
    assert not os.path.exists(MARKER)


def test_curve_without_the_right_keys_is_unknown(tmp_path: Path) -> None:
    server_public, server_secret = zmq.curve_keypair()
    allowed_public, _ = zmq.curve_keypair()
    endpoint = f"ipc://{tmp_path}/curve.ipc"
    app_context = zmq.Context()
    stats = helper.StatsServer(endpoint, context=app_context, curve_secret_key=server_secret,
                               curve_public_key=server_public,
                               allowed_client_keys=[allowed_public])
    stats.start()
    try:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        import subprocess

        # "--option=KEY": a Z85 key may start with '-'
        for extra in ([], [f"--curve-server-key={zmq.curve_keypair()[0].decode()}"],
                      [f"--curve-server-key={server_public.decode()}"]):
            proc = subprocess.run(
                [sys.executable, str(CHECKS / "check_zmq_hwm"), "--stats-endpoint", endpoint,
                 "-t", "4", "--state-file", str(tmp_path / "s.json"), *extra],
                capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
            assert_one_unknown_line("ZMQ_HWM", proc.returncode, proc.stdout, proc.stderr)
            assert "sockets" not in proc.stdout and "sends=" not in proc.stdout
    finally:
        stats.close()
        app_context.destroy(linger=0)
