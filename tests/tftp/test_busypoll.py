"""The adaptive busy poll: it polls while answers come fast, and stops when they do not."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.serve.events import read_events
from pxelab.serve.tftp_busypoll import START, BusyPoll
from tests.conftest import require_tool
from tests.tftp.conftest import make_file
from tests.tftp.test_cli import _free_udp_port, _wait_answering


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    b.connect(a.getsockname())
    yield a, b
    a.close()
    b.close()


def echo_after(peer: socket.socket, delay: float, count: int) -> threading.Thread:
    """The peer answers each packet after `delay` seconds, as a client ACKs a block."""

    def run() -> None:
        for _ in range(count):
            pkt = peer.recv(100)
            if delay:
                time.sleep(delay)
            peer.send(pkt)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def exchange(bp: BusyPoll, sock: socket.socket, count: int) -> list[float]:
    budgets = []
    for i in range(count):
        sock.send(i.to_bytes(4, "big"))
        assert bp.receive() == i.to_bytes(4, "big")
        budgets.append(bp.budget)
    return budgets


def answered(server: socket.socket, client: socket.socket, i: int) -> None:
    """Send packet i and wait until the peer's answer is queued on `server` (a hang guard
    only): what a fast client's ACK looks like when the server comes to read it."""
    server.send(i.to_bytes(4, "big"))
    client.send(client.recv(100))
    ready, _, _ = select.select([server], [], [], 10)
    assert ready, "the answer never came"


def test_fast_answers_grow_the_budget_until_they_are_caught_polling(pair) -> None:
    server, client = pair
    limit = 0.5  # far above any wait for an answer already queued: the outcome is not timing
    spare = [False]  # no CPU to spare at first: every read is the blocking one
    bp = BusyPoll(server, limit, lambda: spare[0])
    budgets = []
    for i in range(3):  # the blocking read finds each answer at once: a fast link
        answered(server, client, i)
        assert bp.receive() == i.to_bytes(4, "big")
        budgets.append(bp.budget)
    assert budgets == [START, 2 * START, 4 * START]  # doubled from START after each fast ACK
    assert bp.caught == 0
    spare[0] = True
    for i in range(3, 8):  # now an answer that is there is caught by the poll
        answered(server, client, i)
        assert bp.receive() == i.to_bytes(4, "big")
        assert bp.budget == 4 * START  # caught while polling: the budget is kept as it is
    assert bp.caught == 5


def test_slow_answers_shrink_the_budget_to_zero(pair) -> None:
    server, client = pair
    bp = BusyPoll(server, 50e-6, lambda: True)
    bp.budget = 40e-6  # as after a fast stretch
    th = echo_after(client, 3e-3, 6)  # a slow client: 3 ms per ACK
    budgets = exchange(bp, server, 6)
    th.join(5)
    assert budgets[-1] == 0.0, budgets
    assert bp.caught == 0


def test_no_polling_while_no_cpu_is_spare(pair) -> None:
    server, client = pair
    bp = BusyPoll(server, 2e-3, lambda: False)
    th = echo_after(client, 0, 50)
    exchange(bp, server, 50)
    th.join(5)
    assert bp.budget > 0  # it learns the link is fast...
    assert bp.caught == 0  # ...but does not spend a CPU on it


def test_the_blocking_read_keeps_its_timeout(pair) -> None:
    server, _client = pair
    server.settimeout(None)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                      (0).to_bytes(8, "little") + (50_000).to_bytes(8, "little"))
    bp = BusyPoll(server, 50e-6, lambda: True)
    bp.budget = 50e-6
    with pytest.raises(BlockingIOError):
        bp.receive()  # nothing comes: EAGAIN after SO_RCVTIMEO, for the retransmission timer


@pytest.mark.parametrize("flag", [[], ["--tftp-busy-poll", "50"], ["--tftp-busy-poll", "0"]],
                         ids=["default", "on", "off"])
def test_pxelab_serve_busy_polls_unless_told_not_to(
        flag: list[str], tftp_root: Path, tmp_path: Path) -> None:
    data = make_file(tftp_root, "f", 2 << 20)
    port = _free_udp_port()
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxelab", "serve", "--user", "root", "--no-proxy",
         "--tftp-root", str(tftp_root), "--listen", "127.0.0.1", "--tftp-port", str(port),
         "--events", str(events), *flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_answering(port, proc)
        out = tmp_path / "out"
        res = subprocess.run([require_tool("atftp"), "-g", "-r", "f", "-l", str(out),
                              "127.0.0.1", str(port)], capture_output=True, timeout=60,
                             check=False)
        assert res.returncode == 0, res.stderr
        assert out.read_bytes() == data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    (sent,) = [e for e in read_events(events) if e.get("outcome") == "sent"]
    # The event carries `polled` exactly when the transfer waited through a BusyPoll: whether
    # the poll was armed is behaviour; how many ACKs it caught depends on the scheduler, and is
    # not asserted (the unit tests above show a queued ACK is caught).
    if flag != ["--tftp-busy-poll", "0"] and (os.cpu_count() or 1) >= 2:
        assert "polled" in sent, sent
    else:
        assert "polled" not in sent, sent


def test_busy_poll_is_a_toml_key(tmp_path: Path) -> None:
    from pxelab.config.model import ConfigError
    from pxelab.config.tomlconf import read_toml

    conf = tmp_path / "p.toml"
    conf.write_text("[tftp]\nroot = \"/srv\"\n")
    assert read_toml(conf).tftp.busy_poll_us == 50  # on by default
    conf.write_text("[tftp]\nroot = \"/srv\"\nbusy_poll_us = 0\n")
    assert read_toml(conf).tftp.busy_poll_us == 0
    conf.write_text("[tftp]\nroot = \"/srv\"\nbusy_poll_us = 20000\n")
    with pytest.raises(ConfigError, match=r"p.toml:3: tftp.busy_poll_us: 20000 is outside"):
        read_toml(conf)
