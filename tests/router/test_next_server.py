"""`[router] next_server` / `boot_file`: a home router that knows PXE (OpenWrt, pfSense).

Unit half: the model's validation (file:line errors), pxelab router's replies, and the two
router configurations the lab builds from one table. The lab half (real udhcpc against both
router implementations) is in test_next_server_ns.py.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pxelab.lab.scenario.model import ScenarioError, load
from pxelab.lab.services.router import dnsmasq_router_conf, pxelab_router_args
from pxelab.serve.router import DhcpLogic, RouterSettings
from pxelab.wire import dhcp
from pxelab.wire.options import MessageType as MT
from pxelab.wire.options import Opt

SCENARIO = """\
description = "router knows PXE"
[router]
implementation = "{impl}"
next_server = "{ns}"
boot_file = "{bf}"
[proxy]
dnsmasq_conf = "dnsmasq.conf"
[[client]]
name = "c0"
"""


def scenario(tmp_path: Path, impl="pxelab", ns="192.168.10.20", bf="shimx64.efi") -> Path:
    d = tmp_path / "s"
    d.mkdir(exist_ok=True)
    (d / "dnsmasq.conf").write_text("port=0\n")
    (d / "scenario.toml").write_text(SCENARIO.format(impl=impl, ns=ns, bf=bf))
    return d / "scenario.toml"


def test_keys_load(tmp_path: Path) -> None:
    r = load(scenario(tmp_path)).router
    assert r.next_server == ipaddress.IPv4Address("192.168.10.20")
    assert r.boot_file == "shimx64.efi"
    f = tmp_path / "s" / "scenario.toml"
    f.write_text(
        "\n".join(
            line
            for line in f.read_text().splitlines()
            if not line.startswith(("next_server", "boot_file"))
        )
    )
    r = load(f).router
    assert r.next_server is None and r.boot_file is None
    assert "dhcp-boot" not in dnsmasq_router_conf(r)
    assert "--next-server" not in pxelab_router_args(r, tmp_path / "ev.jsonl")


@pytest.mark.parametrize(
    ("ns", "bf", "key", "line", "words"),
    [
        ("192.168.10.300", "shimx64.efi", "router.next_server", 4, "not an IPv4 address"),
        ("0.0.0.0", "shimx64.efi", "router.next_server", 4, "not a host address"),
        ("224.0.0.1", "shimx64.efi", "router.next_server", 4, "not a host address"),
        ("192.168.10.20", "", "router.boot_file", 5, "empty"),
        ("192.168.10.20", "a" * 128, "router.boot_file", 5, "longer than 127 bytes"),
        ("192.168.10.20", "shim,x64.efi", "router.boot_file", 5, "no commas"),
        ("192.168.10.20", "sh\\u00efm.efi", "router.boot_file", 5, "printable ASCII"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path, ns, bf, key, line, words) -> None:
    f = scenario(tmp_path, ns=ns, bf=bf)
    with pytest.raises(ScenarioError) as info:
        load(f)
    text = str(info.value)
    assert text.startswith(f"{f.resolve()}:{line}: {key}: "), text
    assert words in text


def test_wrong_type_is_an_error(tmp_path: Path) -> None:
    f = scenario(tmp_path)
    f.write_text(f.read_text().replace('next_server = "192.168.10.20"', "next_server = 7"))
    with pytest.raises(ScenarioError, match=r"router\.next_server: expected a string"):
        load(f)


def _logic(**kw) -> DhcpLogic:
    return DhcpLogic(RouterSettings(interface="eth0", address="192.168.10.1/24", **kw))


def _reply(lg: DhcpLogic, mtype: int, prl: bytes = b"\x01\x03\x06") -> dhcp.DhcpMessage:
    msg = dhcp.DhcpMessage(op=1, xid=7, mac="52:54:00:00:00:01", message_type=MT.DISCOVER,
                           options=[(55, prl)])  # fmt: skip
    offer = lg.handle(dhcp.decode(msg.encode()), 1000.0).reply
    assert offer is not None
    if mtype == MT.OFFER:
        return dhcp.decode(offer.encode())
    req = dhcp.DhcpMessage(
        op=1,
        xid=7,
        mac="52:54:00:00:00:01",
        message_type=MT.REQUEST,
        options=[(55, prl), (50, str(offer.yiaddr)), (54, "192.168.10.1")],
    )
    ack = lg.handle(dhcp.decode(req.encode()), 1000.0).reply
    assert ack is not None and ack.message_type == MT.ACK
    return dhcp.decode(ack.encode())


@pytest.mark.parametrize("mtype", [MT.OFFER, MT.ACK])
def test_pxelab_router_puts_siaddr_and_file_in_offer_and_ack(mtype) -> None:
    out = _reply(_logic(next_server="192.168.10.20", boot_file="shimx64.efi"), mtype)
    assert out.siaddr == ipaddress.IPv4Address("192.168.10.20")
    assert out.file_name == "shimx64.efi"
    assert Opt.BOOTFILE_NAME not in out.options  # not asked for in option 55
    asked = _reply(_logic(boot_file="shimx64.efi"), mtype, prl=b"\x01\x03\x43")
    assert asked.options.get(Opt.BOOTFILE_NAME) == "shimx64.efi"
    assert asked.siaddr == ipaddress.IPv4Address("0.0.0.0")


def test_plain_router_stays_plain() -> None:
    out = _reply(_logic(), MT.ACK, prl=b"\x01\x03\x42\x43")
    assert out.siaddr == ipaddress.IPv4Address("0.0.0.0") and out.file == b""
    assert Opt.BOOTFILE_NAME not in out.options


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"next_server": "nope"}, "not an IPv4 address"),
        ({"boot_file": ""}, "empty"),
        ({"next_server": "255.255.255.255"}, "not a host address"),
    ],
)
def test_router_settings_refuse_bad_values(kw, words) -> None:
    with pytest.raises(ValueError, match=words):
        RouterSettings(interface="eth0", **kw)


def test_cli_refuses_bad_next_server(capsys) -> None:
    from pxelab.cli import main

    assert main(["router", "-i", "eth0", "--address", "192.168.10.1/24",
                 "--next-server", "x"]) == 2  # fmt: skip
    assert "not an IPv4 address" in capsys.readouterr().err


def test_both_router_configurations(tmp_path: Path) -> None:
    r = load(scenario(tmp_path)).router
    argv = pxelab_router_args(r, tmp_path / "ev.jsonl")
    assert argv[argv.index("--next-server") + 1] == "192.168.10.20"
    assert argv[argv.index("--boot-file") + 1] == "shimx64.efi"
    assert "dhcp-boot=shimx64.efi,,192.168.10.20" in dnsmasq_router_conf(r).splitlines()
    only_server = load(scenario(tmp_path, impl="dnsmasq")).router
    assert "dhcp-boot=shimx64.efi,,192.168.10.20" in dnsmasq_router_conf(only_server)
