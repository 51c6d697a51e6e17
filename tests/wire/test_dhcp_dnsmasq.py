"""Option overload against a real peer: dnsmasq 2.90 reads the options we put in file/sname,
and we read the options dnsmasq puts there (scapy and tcpdump read neither)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pxelab.lab.network.userns import single_uid
from pxelab.wire import dhcp
from pxelab.wire.dhcp import MessageType
from tests.conftest import require_tool

pytestmark = pytest.mark.lab

EXCHANGE = str(Path(__file__).with_name("udp_exchange.py"))


@pytest.fixture
def dnsmasq_lab(tmp_path):
    """A lab with dnsmasq as the DHCP server on `srv` and an empty host `cli`; yields
    (client host, function that stops dnsmasq and returns its log)."""
    from pxelab.lab.network.topology import Lab

    dnsmasq = require_tool("dnsmasq")
    with Lab() as lab:
        srv = lab.add_host("srv", ipv4="192.168.10.1/24")
        cli = lab.add_host("cli")
        # Four 100-byte options the client can ask for: more than 312 bytes of options.
        big = [f"--dhcp-option-force={code},{'x' * 100}" for code in range(224, 228)]
        proc = srv.popen(
            [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
             "--interface=eth0", "--bind-interfaces", "--user=root",
             *(["--group="] if single_uid() else []),  # rootless: no group to change to
             "--dhcp-range=192.168.10.100,192.168.10.150,12h", "--no-ping", "--leasefile-ro",
             "--log-dhcp", "--log-facility=-", f"--pid-file={tmp_path / 'dnsmasq.pid'}", *big],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

        def log() -> str:
            lab.stop(proc)
            return proc.stdout.read()

        yield cli, log


def exchange(cli, data: bytes) -> bytes:
    # dnsmasq may still be starting: a few tries, each waits up to 5 s for the reply.
    for _ in range(4):
        out = cli.run([sys.executable, EXCHANGE, data.hex()], timeout=30).stdout.strip()
        if out:
            return bytes.fromhex(out)
    pytest.fail("dnsmasq never answered the DISCOVER")


def test_dnsmasq_reads_options_we_overload_into_file(dnsmasq_lab):
    cli, log = dnsmasq_lab
    msg = dhcp.DhcpMessage(
        xid=0x1234,
        mac="02:00:00:00:00:01",
        flags=0x8000,
        message_type=MessageType.DISCOVER,
        options=[
            (224, b"f" * 40),
            (12, "wire-overload-host"),
            (60, "PXEClient:Arch:00000:UNDI:002001"),
        ],
    )
    data = msg.encode(max_size=290)  # too small for the options field: 12 and 60 go to file
    assert dhcp.decode(data).overload == 1 and data[108] == 12
    reply = dhcp.decode(exchange(cli, data))
    assert reply.message_type == MessageType.OFFER and reply.xid == 0x1234
    text = log()
    assert "client provides name: wire-overload-host" in text
    assert "vendor class: PXEClient:Arch:00000:UNDI:002001" in text


def test_we_read_options_dnsmasq_overloads(dnsmasq_lab):
    cli, log = dnsmasq_lab
    msg = dhcp.DhcpMessage(
        xid=0x5678,
        mac="02:00:00:00:00:02",
        flags=0x8000,
        message_type=MessageType.DISCOVER,
        options=[(55, [1, 3, 224, 225, 226, 227])],  # dnsmasq overloads only with a PRL
    )
    raw = exchange(cli, msg.encode())
    reply = dhcp.decode(raw)
    assert reply.overload != 0  # dnsmasq used file and/or sname for options
    text = log()
    # Every option dnsmasq says it sent, with its size, is what we decoded (its log order
    # is not the packet order).
    sent = [
        (int(code), int(size))
        for size, code in re.findall(r"sent size:\s*(\d+) option:\s*(\d+)", text)
    ]
    assert sent, text
    assert (52, 1) in sent  # dnsmasq logs the overload option it added
    ours = [(c, len(reply.options.raw(c))) for c in reply.options]
    assert sorted(ours) == sorted(x for x in sent if x[0] != 52)
    for code in range(224, 228):
        if code in reply.options:
            assert reply.options.raw(code) == b"x" * 100
    assert any(reply.options.offset(c) < 236 for c in reply.options), (
        "no option came from the file/sname fields"
    )
