"""A lab with the simulated router running in namespace `rtr` (real `pxelab router` process)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pxelab.serve.events import read_events


@dataclass
class RouterLab:
    lab: object
    rtr: object
    events: Path
    tmp: Path

    def events_named(self, name: str) -> list[dict]:
        return [e for e in read_events(self.events) if e["event"] == name]


def start_router(lab, rtr, events: Path, *extra: str, subnet: str = "192.168.10.1/24",
                 pool: str = "192.168.10.100-192.168.10.150"):
    argv = [sys.executable, "-m", "pxelab", "router", "--interface", "eth0",
            "--address", subnet, "--pool", pool, "--events", str(events), *extra]
    proc = rtr.popen(argv)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(e["event"] == "start" for e in read_events(events)):
            return proc
        if proc.poll() is not None:
            pytest.fail(f"pxelab router exited with {proc.returncode}")
        time.sleep(0.05)
    pytest.fail("pxelab router did not start within 15 s")


@pytest.fixture
def router_lab(tmp_path: Path) -> Iterator[RouterLab]:
    from pxelab.lab.network.topology import Lab

    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        events = tmp_path / "router.jsonl"
        start_router(lab, rtr, events, "--static", "02:00:00:00:ab:0a=192.168.10.21")
        yield RouterLab(lab=lab, rtr=rtr, events=events, tmp=tmp_path)
