"""The dnsmasq.conf reader: the seed's file, every supported option, warnings and errors."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pxelab.config.dnsmasq import read_dnsmasq_conf, read_dnsmasq_text, split_line
from pxelab.config.model import ConfigError, Source

SEED = Path(__file__).parent / "data" / "seed-dnsmasq.conf"


def test_seed_conf_verbatim() -> None:
    cfg = read_dnsmasq_conf(SEED)
    assert cfg.dns_port == 0 and cfg.log_dhcp and cfg.no_override
    assert cfg.tftp.enabled and cfg.tftp.root == Path("/home/tftpboot")
    assert [b.file for b in cfg.boot] == ["pxelinux.0"]
    assert [(p.text, p.timeout) for p in cfg.prompts] == [("Press F8 for boot menu", 3)]
    assert [(s.csa, s.text, s.basename, s.type) for s in cfg.services] == [
        (0, "Boot from network", "pxelinux", 0x8000),
        (0, "Boot from local hard disk", None, 0),
    ]
    assert [(r.address, r.netmask) for r in cfg.ranges] == [(IPv4Address("192.168.10.20"), None)]
    # the 43.6 "2b" quirk: decimal 2, one byte, as dnsmasq reads it; the warning names the line
    opt6 = next(o for o in cfg.options if o.number == 6)
    assert opt6.vendor == "PXEClient" and opt6.value == b"\x02"
    text = SEED.read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if t.startswith("dhcp-option=vendor:"))
    (warning,) = cfg.warnings
    assert warning.source == Source(str(SEED), line) and "write 43" in warning.message
    assert cfg.sources["tftp.root"].line == next(
        i for i, t in enumerate(text, 1) if t.startswith("tftp-root")
    )


def test_line_syntax_quotes_comments_spaces() -> None:
    name, args = split_line('pxe-service = x86PC , "a, b # c" , x # comment', Source("f", 1))
    assert name == "pxe-service"
    assert [(a.text, a.quoted) for a in args] == [("x86PC", False), ("a, b # c", True),
                                                  ("x", False)]
    assert split_line("   # only a comment", Source("f", 1)) is None
    assert split_line("log-dhcp", Source("f", 1)) == ("log-dhcp", None)
    name, args = split_line(r'pxe-prompt="say \"hi\"\tnow",5', Source("f", 1))
    assert args[0].text == 'say "hi"\tnow' and args[1].text == "5"


ALL_OPTIONS = """\
interface=eth1
listen-address=192.168.10.20
bind-interfaces
port=0
log-dhcp
enable-tftp
tftp-root=/srv/tftp
tftp-no-blocksize
tftp-mtu=1400
tftp-max=30
tftp-single-port
dhcp-boot=pxelinux.0
dhcp-boot=tag:ipxe,http://10.0.0.1/boot.ipxe,bootsrv,192.168.10.30
dhcp-boot=tag:efi64,tag:!ipxe,syslinux.efi,,tftp.example
dhcp-option=vendor:PXEClient,6,2b
dhcp-option-force=tag:ipxe,vendor:PXEClient,6,8
dhcp-option=option:tftp-server,"10.0.0.1"
dhcp-option=66,10.0.0.1
dhcp-no-override
pxe-prompt="Press F8 for boot menu", 3
pxe-prompt=tag:efi64,"Choose"
pxe-service=X86PC, "Boot from network", pxelinux
pxe-service=x86PC, "Boot from local hard disk", 0
pxe-service=tag:!ipxe,X86-64_EFI,"UEFI",syslinux.efi,192.168.10.40
pxe-service=9,"BC",bootx64.efi,bootserver
pxe-service=7,"Remote",4
dhcp-range=192.168.10.20,proxy
dhcp-range=tag:lab,set:relayed,10.1.0.0,proxy,255.255.0.0
dhcp-match=set:ipxe,175
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:bios,93,0
dhcp-match=set:hw,60,48:57:2d
dhcp-userclass=set:ipxe2,iPXE
dhcp-vendorclass=set:pxe,PXEClient
dhcp-pxe-vendor=PXEClient,HW-Client
dhcp-reply-delay=2
dhcp-reply-delay=tag:slow,5
tag-if=set:efi-noipxe,set:x,tag:efi*,tag:!ipxe
"""


def test_every_supported_option() -> None:
    cfg = read_dnsmasq_text(ALL_OPTIONS, "all.conf")
    assert cfg.interfaces == ["eth1"] and cfg.listen_addresses == [IPv4Address("192.168.10.20")]
    assert cfg.bind_interfaces and cfg.dns_port == 0 and cfg.log_dhcp and cfg.no_override
    t = cfg.tftp
    assert (t.enabled, t.root, t.no_blocksize, t.mtu, t.max_transfers, t.single_port) == (
        True, Path("/srv/tftp"), True, 1400, 30, True)
    b0, b1, b2 = cfg.boot
    assert (b0.file, b0.tags) == ("pxelinux.0", ())
    assert (b1.file, b1.server_name, b1.server_address, b1.tags) == (
        "http://10.0.0.1/boot.ipxe", "bootsrv", IPv4Address("192.168.10.30"), ("ipxe",))
    assert (b2.server_name, b2.server_host, b2.tags) == (None, "tftp.example", ("efi64", "!ipxe"))
    vend = [o for o in cfg.options if o.vendor == "PXEClient"]
    assert [(o.number, o.value, o.force, o.tags) for o in vend] == [
        (6, b"\x02", False, ()), (6, b"\x08", True, ("ipxe",))]
    plain = [o for o in cfg.options if o.vendor is None and not o.vendor_pxe]
    assert [(o.number, o.value, o.is_string) for o in plain] == [
        (66, b"10.0.0.1", True), (66, b"10.0.0.1", True)]
    prompts = [(p.text, p.timeout, p.tags) for p in cfg.prompts]
    assert prompts == [("Press F8 for boot menu", 3, ()), ("Choose", 255, ("efi64",))]
    s = cfg.services
    assert [(x.csa, x.type, x.basename) for x in s] == [
        (0, 0x8000, "pxelinux"), (0, 0, None), (7, 0x8001, "syslinux.efi"),
        (9, 0x8002, "bootx64.efi"), (7, 4, None)]
    assert s[2].server_address == IPv4Address("192.168.10.40") and s[2].tags == ("!ipxe",)
    assert s[3].server_name == "bootserver"
    _r0, r1 = cfg.ranges
    assert r1.netmask == IPv4Address("255.255.0.0") and r1.tags == ("lab",)
    assert r1.set_tag == "relayed"
    rules = {(r.kind, r.tag): r for r in cfg.tag_rules}
    assert rules[("match", "ipxe")].option == 175 and rules[("match", "ipxe")].value is None
    assert rules[("match", "efi64")].option == 93 and rules[("match", "efi64")].value == b"\0\x07"
    assert rules[("match", "bios")].value == b"\0\0"
    assert rules[("match", "hw")].value == b"HW-" and rules[("match", "hw")].is_hex
    assert rules[("userclass", "ipxe2")].value == b"iPXE"
    assert rules[("vendorclass", "pxe")].value == b"PXEClient"
    assert cfg.vendor_classes == ["PXEClient", "HW-Client"]
    assert [(d.seconds, d.tags) for d in cfg.reply_delays] == [(2, ()), (5, ("slow",))]
    assert [(t.sets, t.conditions) for t in cfg.tag_ifs] == [
        (("efi-noipxe", "x"), ("efi*", "!ipxe"))]
    where = {(w.source.line, w.option) for w in cfg.warnings}
    # dhcp-option 66 (not vendor-encapsulated) is never sent by a proxy: both lines warned
    assert {(15, "dhcp-option"), (17, "dhcp-option"), (18, "dhcp-option")} <= where


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("server=8.8.8.8", "serves no DNS"),
        ("domain=lan", "serves no DNS"),
        ("dhcp-host=00:11:22:33:44:55,192.168.10.50", "no addresses or leases"),
        ("dhcp-range=192.168.10.100,192.168.10.200,12h", "address-leasing range"),
        ("dhcp-authoritative", "no addresses or leases"),
        ("dhcp-circuitid=set:x,abc", "not supported"),
        ("user=nobody", "ignored"),
        ("port=53", "serves no DNS"),
        ("dhcp-option=option6:dns-server,[::]", "DHCPv6"),
    ],
)
def test_unsupported_lines_warn_with_file_and_line(line: str, words: str) -> None:
    cfg = read_dnsmasq_text("# header\ndhcp-range=10.0.0.1,proxy\n" + line + "\n", "x.conf")
    hits = [w for w in cfg.warnings if w.source == Source("x.conf", 3)]
    assert hits and words in hits[0].message, cfg.warnings
    assert str(hits[0]).startswith("x.conf:3: ")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("no-such-option=1", "bad option"),
        ("log-dhcp=yes", "extraneous parameter"),
        ("dhcp-boot", "missing parameter"),
        ('pxe-prompt="unterminated', 'missing "'),
        ("pxe-service=Amiga,menu,file", "unknown client architecture"),
        ("dhcp-range=192.168.10.300,proxy", "not an IPv4 address"),
        ("dhcp-range=192.168.10.3,foo", "bad dhcp-range"),
        ("dhcp-option=vendor:PXEClient,notanumber", "no option number"),
        ("dhcp-option=option:nosuch,1", "unknown option name"),
        ("dhcp-option=option:router,abc", "bad IP address"),
        ("dhcp-option=option:lease-time,1", "set by the server"),
        ("dhcp-match=175", "exactly one set:TAG"),
        ("tftp-mtu=big", "not a number"),
        ("dhcp-reply-delay=x", "not a number"),
        ("pxe-prompt=hi,soon", "not a number"),
        ("conf-file=/nonexistent/pxelab.conf", "no such file"),
        ("tag-if=tag:a", "no set:TAG"),
        ("tag-if=set:a,foo", "bad tag-if"),
        ("dhcp-mac=set:w,00:zz:64", "bad hardware address"),
    ],
)
def test_errors_name_file_line_and_problem(line: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_dnsmasq_text("log-dhcp\n" + line + "\n", "bad.conf")
    assert str(info.value).startswith("bad.conf:2: ")
    assert words in str(info.value)


def test_conf_file_and_conf_dir(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "10-boot.conf").write_text("dhcp-boot=a.0\n")
    (d / "20-more.conf").write_text("dhcp-boot=b.0\n")
    (d / "30-skip.bak").write_text("dhcp-boot=never\n")
    (d / ".hidden.conf").write_text("dhcp-boot=never\n")
    (tmp_path / "extra.conf").write_text("\n\nnot-an-option\n")
    main = tmp_path / "main.conf"
    main.write_text(f"conf-dir={d},.bak\ndhcp-range=10.0.0.1,proxy\n")
    cfg = read_dnsmasq_conf(main)
    assert [b.file for b in cfg.boot] == ["a.0", "b.0"]
    assert cfg.boot[1].source == Source(str(d / "20-more.conf"), 1)
    main.write_text(f"conf-dir={d},*.conf\nconf-file={tmp_path / 'extra.conf'}\n")
    with pytest.raises(ConfigError) as info:
        read_dnsmasq_conf(main)
    assert str(info.value).startswith(f"{tmp_path / 'extra.conf'}:3: ")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_dnsmasq_conf(tmp_path / "nope.conf")
