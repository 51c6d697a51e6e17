"""Faults in the lab: a lossy, slow, duplicating and reordering cable (Lab.impair), the TFTP
server killed mid-transfer, the proxy restarted between DISCOVER and 4011.

The scripted client (`pxelab probe`) must still reach the menu; the time it took is printed and
recorded as a test property (the long form with 5, 10 and 20 % is benchmarks/reliability.py).
A walk that fails is retried from the start (up to 4 walks), as a person reboots a PC whose
ROM gave up (the lossy-network scenario does the same for the VM): what must hold is that the
servers recover, not that a ROM's fixed retries beat every unlucky run of drops.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pxelab.lab.drills.storm import PxeSegment, proxy_restart_drill, tftp_restart_drill
from pxelab.serve.events import read_events

pytestmark = pytest.mark.lab


def menu_walk(seg: PxeSegment, mac: str, attempts: int = 4) -> tuple[dict[str, Any], int]:
    for attempt in range(1, attempts + 1):
        data = seg.walk_json("--mac", mac, "--timeout", "60")
        if data["ok"] and data["reached"] == "menu":
            return data, attempt
    return data, attempts


@pytest.mark.parametrize(
    "impairment",
    [
        {"loss": 10.0},
        # 100 ms is the long form's (benchmarks/reliability.py); CI keeps the walk short.
        {"delay_ms": 20.0, "jitter_ms": 10.0, "duplicate": 10.0, "reorder": 10.0},
    ],
    ids=["loss-10", "delay-jitter-duplicate-reorder"],
)
def test_menu_through_an_impaired_cable(impairment: dict[str, float], record_property) -> None:
    with PxeSegment() as seg:
        seg.lab.impair("cl", **impairment)
        data, attempts = menu_walk(seg, "52:54:00:fa:00:01")
        assert data["ok"] and data["reached"] == "menu", data["failure"]
        assert seg.proxy_alive()
    record_property("menu_s", data["menu_at"])
    record_property("attempts", attempts)
    print(f"\n{impairment}: menu after {data['menu_at']:.1f} s (attempt {attempts})")


def test_tftp_killed_and_restarted_mid_transfer() -> None:
    with PxeSegment() as seg:
        out = tftp_restart_drill(seg)
        assert out["ok"], out
        assert out["attempts"] >= 2, "the kill missed the transfer"
        # The server writes the outcome once the last ACK is in (it crosses the slow cable).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sent = [e for e in read_events(seg.work / "proxy.events")
                    if e.get("event") == "transfer" and e.get("outcome") == "sent"]
            if sent:
                break
            time.sleep(0.1)
        assert sent, read_events(seg.work / "proxy.events")[-5:]
        # And the whole chain after the restart.
        data, _ = menu_walk(seg, "52:54:00:fa:00:02")
        assert data["ok"] and data["reached"] == "menu", data["failure"]


def test_proxy_restarted_between_discover_and_4011() -> None:
    with PxeSegment() as seg:
        out = proxy_restart_drill(seg, mac="52:54:00:fa:00:03")
    assert out["request_held"], "the client sent no boot-server request"
    assert out["ok"], out
    assert out["requests_4011"] >= 2, out  # the first went unanswered: a retry got through
