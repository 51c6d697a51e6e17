"""Fixtures for the DHCP/PXE codec tests: the real packets of the shared captures."""

from __future__ import annotations

from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
# The same capture, committed, for a clone that has no shared/ beside it.
COMMITTED = Path(__file__).resolve().parents[1] / "proxy" / "data"
DHCP_PORTS = {67, 68, 4011}


def _capture_dir() -> Path:
    for candidate in (CAPTURES, Path("/work/shared/captures"), COMMITTED):
        if candidate.is_dir():
            return candidate
    pytest.fail(f"no captures folder at {CAPTURES}")


def load_dhcp_payloads() -> list[tuple[str, int, bytes]]:
    """(pcap name, packet index, UDP payload) of every UDP packet on ports 67/68/4011."""
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    out = []
    for pcap in sorted(_capture_dir().glob("*.pcap")):
        for i, pkt in enumerate(rdpcap(str(pcap))):
            if UDP in pkt and {pkt[UDP].sport, pkt[UDP].dport} & DHCP_PORTS:
                out.append((pcap.name, i, bytes(pkt[UDP].payload)))
    return out


@pytest.fixture(scope="session")
def dhcp_payloads() -> list[tuple[str, int, bytes]]:
    payloads = load_dhcp_payloads()
    assert payloads, "the captures hold no DHCP packets"
    return payloads
