"""Real DHCP clients read what our encoder overloads: busybox udhcpc and ISC dhclient get the
server identifier (54) and lease time (51) only from the file field of our replies, behind a
300-byte option split over two fields, which dhclient joins back (RFC 3396).
The server is tests/wire/dhcp_responder.py (pxelab.wire.dhcp on a socket, in a namespace)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxelab.wire import dhcp
from pxelab.wire.dhcp import MessageType
from tests.conftest import require_tool

pytestmark = pytest.mark.lab

RESPONDER = str(Path(__file__).with_name("dhcp_responder.py"))
SERVER, OFFERED = "192.168.10.1", "192.168.10.100"


@pytest.fixture
def lab():
    from pxelab.lab.network.topology import Lab

    with Lab() as lab:
        srv = lab.add_host("srv", ipv4=f"{SERVER}/24")
        cli = lab.add_host("cli")
        proc = srv.popen(
            [sys.executable, RESPONDER, SERVER, OFFERED],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout.readline().strip() == "ready"  # listening before a client starts

        def requests() -> list[dhcp.DhcpMessage]:
            out, err = proc.communicate(timeout=40)
            assert proc.returncode == 0, err
            return [dhcp.decode(bytes.fromhex(line)) for line in out.split()]

        yield cli, requests


def assert_request_names_our_server(requests: list[dhcp.DhcpMessage]) -> None:
    req = next(m for m in requests if m.message_type == MessageType.REQUEST)
    # The client can only know 54 from the overloaded fields of our OFFER.
    assert str(req.options.get(54)) == SERVER
    assert str(req.options.get(50)) == OFFERED


def test_udhcpc_reads_overloaded_options(lab):
    cli, requests = lab
    busybox = require_tool("busybox")
    run = cli.run(
        [busybox, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "1", "-A", "1",
         "-s", "/bin/true"],
        timeout=40,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert f"lease of {OFFERED} obtained from {SERVER}, lease time 4242" in out
    assert_request_names_our_server(requests())


def test_dhclient_reads_overloaded_options(lab, tmp_path):
    cli, requests = lab
    dhclient = require_tool("dhclient")
    leases = tmp_path / "leases"
    proc = cli.popen(
        [dhclient, "-d", "-1", "-sf", "/bin/true", "-lf", str(leases),
         "-pf", str(tmp_path / "pid"), "eth0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # dhclient stays in the foreground once bound: wait for its lease file, then stop it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "dhcp-lease-time" not in _read(leases):
        time.sleep(0.2)
    cli.stop(proc)
    text = _read(leases)
    assert f"fixed-address {OFFERED};" in text, text
    assert "option dhcp-lease-time 4242;" in text
    assert f"option dhcp-server-identifier {SERVER};" in text
    # dhclient joined both pieces of the split option 227 (RFC 3396): 300 bytes.
    assert f"option unknown-227 {':'.join(['e3'] * 300)};" in text
    assert_request_names_our_server(requests())


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
