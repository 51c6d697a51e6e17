"""The reply policy on requests built with the wire codec: who is answered, and with what."""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from pxelab.boot.policy import Local, ProxyPolicy
from pxelab.config.dnsmasq import read_dnsmasq_text
from pxelab.wire import dhcp
from pxelab.wire.dhcp import Request
from tests.proxy.helpers import request

PROXY = IPv4Address("192.168.10.20")
LOCAL = Local(PROXY, 24, "eth0")
SEED = """\
port=0
log-dhcp
enable-tftp
tftp-root=/srv/tftp
dhcp-boot=pxelinux.0
dhcp-option=vendor:PXEClient,6,2b
dhcp-no-override
pxe-prompt="Press F8 for boot menu", 3
pxe-service=X86PC, "Boot from network", pxelinux
pxe-service=X86PC, "Boot from local hard disk", 0
dhcp-range=192.168.10.20,proxy
"""


def decide(conf: str, data: bytes, port: int = 67, local: Local = LOCAL):
    return ProxyPolicy(read_dnsmasq_text(conf)).decide(Request.from_bytes(data, port), local)


def test_uefi_on_67_gets_no_43_and_siaddr_self() -> None:
    conf = SEED + 'pxe-service=X86-64_EFI,"UEFI A",a.efi\npxe-service=X86-64_EFI,"UEFI B",b.efi\n'
    d = decide(conf, request(arch=7, vendor="PXEClient:Arch:00007:UNDI:003010"))
    m = dhcp.decode(d.reply)
    assert d.kind == "offer" and 43 not in m.options
    assert m.siaddr == PROXY and m.file_name == "pxelinux.0"
    assert m.options.raw(60) == b"PXEClient"
    # on 4011 (two UEFI services: no shortcut) it gets the menu
    d = decide(conf, request(3, arch=7, ciaddr="192.168.10.50"), port=4011)
    m = dhcp.decode(d.reply)
    assert [i.text for i in m.pxe_options().menu] == ["UEFI A", "UEFI B"]
    assert m.ciaddr == IPv4Address("192.168.10.50") and not m.broadcast


def test_single_uefi_service_shortcut() -> None:
    conf = SEED + 'pxe-service=X86-64_EFI,"UEFI",syslinux\n'
    d = decide(conf, request(arch=7))
    m = dhcp.decode(d.reply)
    assert 43 not in m.options and m.file == b"" and m.siaddr == PROXY
    d = decide(conf, request(3, arch=7), port=4011)  # iPXE/EDK2 ProxyDHCPREQUEST, no 43.71
    m = dhcp.decode(d.reply)
    assert d.kind == "ack" and 43 not in m.options
    assert m.file_name == "syslinux.0" and m.server_name == "192.168.10.20"
    assert m.broadcast and m.yiaddr == IPv4Address("0.0.0.0")
    # arch 9 is not arch 7 for services (dnsmasq matches the number exactly)
    d = decide(conf, request(arch=9))
    assert dhcp.decode(d.reply).file_name == "pxelinux.0"


def test_pxebs_layer_and_local_boot() -> None:
    d = decide(SEED, request(3, ciaddr="192.168.10.50", boot_item=(0x8000, 1)), port=4011)
    m = dhcp.decode(d.reply)
    assert m.file_name == "pxelinux.1" and m.yiaddr == IPv4Address("192.168.10.50")
    assert m.pxe_options().boot_item.layer == 1
    d = decide(SEED, request(3, ciaddr="192.168.10.50", boot_item=(0, 0)), port=4011)
    assert d.reply is None and "local boot" in d.reason
    d = decide(SEED, request(3, ciaddr="10.9.9.9", boot_item=(0x8000, 0)), port=4011)
    assert d.reply is None and "no proxy range" in d.reason


def test_ipxe_chainload_by_175_and_user_class() -> None:
    conf = SEED + "dhcp-match=set:ipxe,175\ndhcp-boot=tag:ipxe,http://192.168.10.20/menu.ipxe\n"
    d = decide(conf, request(ipxe=True))
    assert d.file == "http://192.168.10.20/menu.ipxe" and "ipxe" in d.tags
    assert decide(conf, request()).file == "pxelinux.0"
    conf = SEED + "dhcp-userclass=set:ipxe,iPXE\ndhcp-boot=tag:ipxe,undionly.kpxe\n"
    rfc3004 = b"\x04iPXE"
    assert decide(conf, request(user_class=rfc3004)).file == "undionly.kpxe"
    assert decide(conf, request(user_class=b"iPXE")).file == "undionly.kpxe"


def test_tag_if_combines_tags_in_order() -> None:
    conf = SEED + (
        "dhcp-match=set:efi64,option:client-arch,7\n"
        "dhcp-match=set:ipxe,175\n"
        "tag-if=set:efi-noipxe,tag:efi*,tag:!ipxe\n"
        "tag-if=set:late,tag:efi-noipxe\n"
        "dhcp-boot=tag:late,syslinux.efi\n"
    )
    d = decide(conf, request(arch=7))
    assert d.file == "syslinux.efi" and {"efi64", "efi-noipxe", "late"} <= set(d.tags)
    assert decide(conf, request(arch=7, ipxe=True)).file == "pxelinux.0"
    assert decide(conf, request(arch=0)).file == "pxelinux.0"


def test_dhcp_option_pxe_plain_options_after_43() -> None:
    # dnsmasq 2.92's dhcp-option-pxe: the one way to put plain options in proxy replies
    conf = SEED + (
        "dhcp-option-pxe=option:tftp-server-address,0.0.0.0\n"
        "dhcp-option-pxe=66,first\n"
        "dhcp-option-pxe=66,second\n"
        "dhcp-match=set:ipxe,175\n"
        "dhcp-option-pxe=tag:ipxe,66,ipxe-server\n"
        "dhcp-option=67,never.0\n"
    )
    m = dhcp.decode(decide(conf, request()).reply)
    codes = list(m.options)
    assert codes[codes.index(43) + 1:] == [66, 150]  # after 43, last line first
    assert m.options.raw(66) == b"second" and m.options.raw(150) == PROXY.packed
    assert 67 not in m.options
    m = dhcp.decode(decide(conf, request(ipxe=True)).reply)
    assert m.options.raw(66) == b"ipxe-server"


def test_dhcp_mac_and_dhcp_ignore() -> None:
    conf = SEED + ("dhcp-mac=set:wyse,00:80:64:*:*:*\ndhcp-ignore=tag:!wyse\n"
                   "dhcp-boot=tag:wyse,wyse.0\n")
    assert decide(conf, request()).file == "wyse.0"  # the seed's Wyse MAC
    d = decide(conf, request(mac="52:54:00:12:34:56"))
    assert d.reply is None and "dhcp-ignore" in d.reason
    conf = SEED + "dhcp-mac=set:wyse,6-00:80:64:*:*:*\ndhcp-boot=tag:wyse,wyse.0\n"
    assert decide(conf, request()).file == "pxelinux.0"  # hardware type 6 is not Ethernet


def test_boot_per_arch_with_next_server() -> None:
    conf = SEED + (
        "dhcp-match=set:efi64,option:client-arch,7\n"
        "dhcp-boot=tag:efi64,syslinux.efi,,192.168.10.30\n"
    )
    m = dhcp.decode(decide(conf, request(arch=7)).reply)
    assert m.file_name == "syslinux.efi" and m.siaddr == IPv4Address("192.168.10.30")
    m = dhcp.decode(decide(conf, request(arch=0)).reply)
    assert m.file_name == "pxelinux.0" and m.siaddr == IPv4Address("0.0.0.0")


def test_uuid_echo_and_vendor_classes() -> None:
    assert 97 not in dhcp.decode(decide(SEED, request(uuid=None)).reply).options
    zero = bytes(17)
    assert dhcp.decode(decide(SEED, request(uuid=zero)).reply).options.raw(97) == zero
    conf = SEED + "dhcp-pxe-vendor=PXEClient,HW-Client\n"
    d = decide(conf, request(vendor="HW-Client:Arch:00000"))
    assert dhcp.decode(d.reply).options.raw(60) == b"HW-Client"
    assert decide(SEED, request(vendor="HW-Client:Arch:00000")).reply is None


def test_relayed_discover_is_answered_when_a_range_covers_the_relay() -> None:
    d = decide(SEED, request(giaddr="192.168.10.1"))
    m = dhcp.decode(d.reply)
    assert m.giaddr == IPv4Address("192.168.10.1") and m.broadcast
    d = decide(SEED, request(giaddr="10.0.0.1"))
    assert d.reply is None and "no proxy range" in d.reason


def test_no_93_no_answer_and_request_to_us_is_acked() -> None:
    d = decide(SEED, request(arch=None))
    assert d.reply is None and "93" in d.reason
    d = decide(SEED, request(3, server_id="192.168.10.20"))
    assert d.kind == "ack"  # deliberate difference from dnsmasq (it ignores REQUEST on 67)


def test_menu_cap_drops_the_menu() -> None:
    long = "x" * 60
    conf = SEED + "".join(f'pxe-service=x86PC,"{long}{i}",f{i}\n' for i in range(5))
    m = dhcp.decode(decide(conf, request()).reply)
    pxe = m.pxe_options()
    # dnsmasq logs "PXE menu too large" and sends only the configured sub-options
    assert not pxe.menu and not pxe.boot_servers and pxe.discovery_control == 2


def test_no_menu_means_discovery_8_and_fake_prompt() -> None:
    conf = "dhcp-boot=pxelinux.0\ndhcp-range=192.168.10.20,proxy\n"
    pxe = dhcp.decode(decide(conf, request()).reply).pxe_options()
    assert pxe.discovery_control == 8 and pxe.prompt.text == "PXE" and pxe.prompt.timeout == 0


_LINES = [
    "dhcp-boot=pxelinux.0", "dhcp-boot=tag:ipxe,http://x/boot.ipxe", "dhcp-match=set:ipxe,175",
    "dhcp-match=set:any60,60", "dhcp-boot=tag:any60,evil.0", "dhcp-userclass=set:u,iPXE",
    "dhcp-vendorclass=set:msft,MSFT", "dhcp-boot=tag:msft,evil.0",
    "dhcp-option=vendor:MSFT,6,8", "dhcp-option=vendor:,6,8", 'pxe-prompt="hi",3',
    'pxe-service=x86PC,"net",pxelinux', 'pxe-service=x86PC,"disk",0',
    'pxe-service=X86-64_EFI,"efi",syslinux.efi', "dhcp-range=192.168.10.20,proxy",
    "dhcp-range=192.168.10.0,proxy,255.255.255.0", "dhcp-range=10.0.0.1,proxy",
    "dhcp-no-override", "dhcp-reply-delay=0",
]


@st.composite
def _configs(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(_LINES), max_size=10))
    vendors = draw(st.lists(st.sampled_from(["PXEClient", "HW-Client", "ACME", "MS"]),
                            max_size=3))
    if vendors:
        lines.append("dhcp-pxe-vendor=" + ",".join(vendors))
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(
    conf=_configs(),
    vendor=st.one_of(st.none(), st.sampled_from(["MSFT 5.0", "udhcp 1.36", "", "PXECLIENT",
                                                 "xPXEClient", "dhcpcd-9", "HW-Clien"]),
                     st.text(max_size=20)),
    mtype=st.sampled_from([1, 3, 8]),
    arch=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    port=st.sampled_from([67, 4011]),
    giaddr=st.sampled_from(["0.0.0.0", "192.168.10.1"]),
)
def test_non_pxe_client_is_never_answered(conf: str, vendor: str | None, mtype: int,
                                          arch: int | None, port: int, giaddr: str) -> None:
    cfg = read_dnsmasq_text(conf)
    if vendor is not None and any(vendor.encode().startswith(v.encode())
                                  for v in cfg.vendor_classes):
        return  # a PXE client for this configuration
    data = request(mtype, vendor=vendor, arch=arch, giaddr=giaddr, ciaddr="192.168.10.9",
                   boot_item=(0x8000, 0) if port == 4011 else None, server_id="192.168.10.20")
    d = ProxyPolicy(cfg).decide(Request.from_bytes(data, port), LOCAL)
    assert d.reply is None and d.kind == "ignored"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([67, 4011]))
def test_garbage_never_raises_anything_but_wire_errors(data: bytes, port: int) -> None:
    from pxelab.wire.errors import WireError

    try:
        req = Request.from_bytes(data, port)
    except WireError:
        return
    d = ProxyPolicy(read_dnsmasq_text(SEED)).decide(req, LOCAL)
    if d.reply is not None:
        assert dhcp.decode(d.reply).yiaddr in (IPv4Address("0.0.0.0"), IPv4Address(req.ciaddr))


@settings(max_examples=150, deadline=None)
@given(
    conf=st.sampled_from([SEED, SEED + "dhcp-mac=set:w,00:80:64:*:*:*\ndhcp-boot=tag:w,w.0\n",
                          SEED + 'pxe-service=X86-64_EFI,"e",syslinux.efi\n'
                          "dhcp-match=set:ipxe,175\ndhcp-boot=tag:ipxe,x.ipxe\n"]),
    mtype=st.sampled_from([1, 3, 8]),
    arch=st.sampled_from([None, 0, 7, 9]),
    port=st.sampled_from([67, 4011]),
    ipxe=st.booleans(),
    ciaddr=st.sampled_from(["0.0.0.0", "192.168.10.9"]),
    giaddr=st.sampled_from(["0.0.0.0", "192.168.10.1"]),
    flags=st.sampled_from([0, 0x8000]),
    boot=st.sampled_from([None, (0x8000, 0), (0, 0)]),
    macs=st.lists(st.sampled_from(["00:80:64:71:ab:0a", "52:54:00:12:34:56", "00:80:64:00:00:01"]),
                  min_size=2, max_size=3),
    xids=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3),
)
def test_whole_reply_cache_gives_what_decide_gives(conf: str, mtype: int, arch: int | None,
                                                   port: int, ipxe: bool, ciaddr: str,
                                                   giaddr: str, flags: int, boot, macs, xids
                                                   ) -> None:
    policy = ProxyPolicy(read_dnsmasq_text(conf))
    fresh = ProxyPolicy(read_dnsmasq_text(conf))
    for mac, xid in zip(macs, xids, strict=False):
        data = request(mtype, arch=arch, ipxe=ipxe, ciaddr=ciaddr, giaddr=giaddr, flags=flags,
                       boot_item=boot, mac=mac, xid=xid)
        cached = policy.decide_packet(data, port, LOCAL)
        direct = fresh.decide(Request.from_bytes(data, port), LOCAL)
        assert (cached.kind, cached.reply, cached.file, cached.tags, cached.reason) == (
            direct.kind, direct.reply, direct.file, direct.tags, direct.reason)
