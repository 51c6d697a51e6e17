"""A router that knows PXE, seen by a real DHCP client: udhcpc against pxelab router and dnsmasq.

udhcpc hands the reply's header fields to its script as `siaddr` and `boot_file`. The script here
only writes them to a file (it configures nothing, like `-s /bin/true`), so the test reads exactly
what the client took from the wire.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pxelab.lab.scenario.model import load
from pxelab.lab.services.commands import dnsmasq_command
from pxelab.lab.services.router import dnsmasq_router_conf
from tests.conftest import require_tool
from tests.router.conftest import start_router
from tests.router.test_next_server import scenario

pytestmark = pytest.mark.lab

SCRIPT = """#!/bin/sh
[ "$1" = bound ] && echo "siaddr=$siaddr boot_file=$boot_file ip=$ip" >> "{out}"
exit 0
"""


def _udhcpc(pc, tmp: Path) -> str:
    busybox = require_tool("busybox")
    out_file = tmp / "udhcpc.out"
    script = tmp / "dump.sh"
    script.write_text(SCRIPT.format(out=out_file))
    script.chmod(0o755)
    out = pc.run([busybox, "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0",
                  "-s", str(script)], timeout=30)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out_file.read_text()


def _wait_listening(host, proc, port: int = 67) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"router exited with {proc.returncode}")
        if f":{port} " in host.run(["ss", "-Hulnp"], timeout=5).stdout:
            return
        time.sleep(0.1)
    pytest.fail("router did not listen on UDP 67 within 15 s")


def test_udhcpc_sees_siaddr_and_file_from_pxelab_router(tmp_path: Path) -> None:
    from pxelab.lab.network.topology import Lab

    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
        start_router(lab, rtr, tmp_path / "ev.jsonl", "--no-ra", "--next-server",
                     "192.168.10.20", "--boot-file", "shimx64.efi")  # fmt: skip
        seen = _udhcpc(lab.add_host("pc"), tmp_path)
    assert "siaddr=192.168.10.20 boot_file=shimx64.efi ip=192.168.10." in seen, seen


def test_udhcpc_sees_siaddr_and_file_from_dnsmasq_router(tmp_path: Path) -> None:
    from pxelab.lab.network.topology import Lab

    router = load(scenario(tmp_path, impl="dnsmasq")).router
    conf = tmp_path / "router.conf"
    conf.write_text(dnsmasq_router_conf(router))
    conf.chmod(0o644)
    require_tool("dnsmasq")
    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        proc = rtr.popen(dnsmasq_command(conf, tmp_path / "router.pid"))
        _wait_listening(rtr, proc)
        seen = _udhcpc(lab.add_host("pc"), tmp_path)
    assert "siaddr=192.168.10.20 boot_file=shimx64.efi ip=192.168.10." in seen, seen
