"""UEFI HTTP Boot in the proxy policy: who gets an HTTP offer, with what URL, in what shape.

What the offer must look like is what EDK2's HttpBootDxe (HttpBootDhcp4.c) accepts from a proxy
offer: yiaddr 0, option 60 beginning with "HTTPClient", the URI in option 67 or the file field.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pxelab.boot.policy import Local, ProxyPolicy
from pxelab.config.dnsmasq import read_dnsmasq_text
from pxelab.config.model import ConfigError
from pxelab.config.tomlconf import read_toml
from pxelab.wire import dhcp
from pxelab.wire.dhcp import Request
from tests.proxy.helpers import request

PROXY = IPv4Address("192.168.10.20")
LOCAL = Local(PROXY, 24, "eth0")
HTTP_VC = "HTTPClient:Arch:00016:UNDI:003000"  # OVMF's HTTPv4 stack (REFERENCE.md)
# The lines people write for HTTP Boot with dnsmasq, plus a proxy range.
DNSMASQ = """\
port=0
dhcp-range=192.168.10.20,proxy
pxe-service=X86PC, "Boot from network", pxelinux
dhcp-boot=pxelinux.0
dhcp-vendorclass=set:http,HTTPClient
dhcp-option-force=tag:http,60,HTTPClient
dhcp-boot=tag:http,http://{server}:8080/efi64/snponly.efi
"""


def decide(cfg, data: bytes, port: int = 67, local: Local = LOCAL):
    if isinstance(cfg, str):
        cfg = read_dnsmasq_text(cfg)
    return ProxyPolicy(cfg).decide(Request.from_bytes(data, port), local)


def http_request(mtype: int = 1, **kw) -> bytes:
    return request(mtype, arch=kw.pop("arch", 16), vendor=kw.pop("vendor", HTTP_VC), **kw)


def test_dnsmasq_lines_get_an_http_proxy_offer() -> None:
    d = decide(DNSMASQ, http_request())
    assert d.kind == "offer", d.reason
    m = dhcp.decode(d.reply)
    assert m.message_type == dhcp.MessageType.OFFER
    assert str(m.yiaddr) == "0.0.0.0"  # EDK2: yiaddr 0 is a proxy offer
    assert m.options.raw(60) == b"HTTPClient"  # EDK2 compares these 10 bytes
    assert m.options.raw(54) == PROXY.packed
    # {server} is the address the request came in on; an IP host = HttpOfferTypeProxyIpUri
    assert m.file == b"http://192.168.10.20:8080/efi64/snponly.efi"
    assert 43 not in m.options  # nothing of PXE's discovery
    assert m.options.raw(97) is not None  # the machine id echoed, as for PXE
    assert d.vendor == "HTTPClient" and d.file.startswith("http://192.168.10.20:8080/")
    # the configured option-60 line is honoured, not warned about as "not sent"
    line = DNSMASQ.splitlines().index("dhcp-option-force=tag:http,60,HTTPClient") + 1
    assert [w for w in read_dnsmasq_text(DNSMASQ).warnings if w.source.line == line] == []
    # while any other plain option line still says it is not sent
    other = read_dnsmasq_text(DNSMASQ + "dhcp-option-force=tag:http,60,Other\n").warnings
    assert [w.source.line for w in other] == [len(DNSMASQ.splitlines()) + 1]


def test_server_is_the_arrival_address() -> None:
    other = Local(IPv4Address("10.0.0.5"), 24, "eth1")
    conf = DNSMASQ.replace("dhcp-range=192.168.10.20,proxy", "dhcp-range=10.0.0.5,proxy")
    m = dhcp.decode(decide(conf, http_request(), local=other).reply)
    assert m.file == b"http://10.0.0.5:8080/efi64/snponly.efi"


def test_pxe_clients_unchanged_and_ipxe_urls_get_server_too() -> None:
    d = decide(DNSMASQ, request(arch=0))
    assert d.kind == "offer" and d.file == "pxelinux.0"
    conf = DNSMASQ + "dhcp-match=set:ipxe,175\ndhcp-boot=tag:ipxe,http://{server}/boot.ipxe\n"
    d = decide(conf, request(ipxe=True))
    assert dhcp.decode(d.reply).file == b"http://192.168.10.20/boot.ipxe"
    # a TFTP name is never rewritten, braces or not
    d = decide(DNSMASQ.replace("dhcp-boot=pxelinux.0", "dhcp-boot={server}.0"), request(arch=0))
    assert d.file == "{server}.0"


def test_no_url_no_answer() -> None:
    conf = "\n".join(line for line in DNSMASQ.splitlines() if "http://" not in line)
    d = decide(conf, http_request())
    assert d.kind == "ignored" and "no boot URL" in d.reason
    # a TFTP file chosen by tags is no URL: EDK2 would drop the offer, so none is sent
    conf += "\ndhcp-boot=tag:http,efi64/syslinux.efi\n"
    assert decide(conf, http_request()).kind == "ignored"


def test_url_chosen_among_url_files_only() -> None:
    # the last matching tagged dhcp-boot is a TFTP name: the URL one before it is used
    conf = DNSMASQ + "dhcp-boot=tag:http,efi64/syslinux.efi\n"
    assert decide(conf, http_request()).file.endswith("/efi64/snponly.efi")


def test_http_clients_need_a_proxy_range_and_93_and_respect_ignore() -> None:
    conf = DNSMASQ.replace("dhcp-range=192.168.10.20,proxy\n", "")
    assert decide(conf, http_request()).kind == "ignored"
    assert decide(DNSMASQ, http_request(arch=None)).kind == "ignored"
    conf = DNSMASQ + "dhcp-mac=set:no,52:54:00:00:00:01\ndhcp-ignore=tag:no\n"
    d = decide(conf, http_request(mac="52:54:00:00:00:01"))
    assert d.kind == "ignored" and "dhcp-ignore" in d.reason


def test_not_on_4011_and_requests_only_for_this_server() -> None:
    d = decide(DNSMASQ, http_request(3, ciaddr="192.168.10.50"), port=4011)
    assert d.kind == "ignored" and "4011" in d.reason
    # the firmware REQUESTs the router's offer: not ours to answer
    assert decide(DNSMASQ, http_request(3, server_id="192.168.10.1")).kind == "ignored"
    d = decide(DNSMASQ, http_request(3, server_id="192.168.10.20"))
    assert d.kind == "ack" and dhcp.decode(d.reply).options.raw(60) == b"HTTPClient"


def test_only_http_client_prefix_counts() -> None:
    # "HTTPClient" is a prefix test of 10 bytes, as EDK2's; "HTTPClien" is no HTTP client
    assert decide(DNSMASQ, http_request(vendor="HTTPClien")).kind == "ignored"
    assert decide(DNSMASQ, http_request(vendor="HTTPClient")).kind == "offer"
    # and a plain DHCP client never
    assert decide(DNSMASQ, request(vendor="MSFT 5.0")).kind == "ignored"


def test_long_url_goes_to_option_67() -> None:
    url = "http://{server}:8080/" + "d" * 150 + "/x.efi"
    conf = DNSMASQ.replace("http://{server}:8080/efi64/snponly.efi", url)
    m = dhcp.decode(decide(conf, http_request()).reply)
    assert m.file == b""
    assert m.options.raw(67) == url.replace("{server}", "192.168.10.20").encode()


def test_decide_packet_cache_gives_the_same_bytes() -> None:
    policy = ProxyPolicy(read_dnsmasq_text(DNSMASQ))
    data = http_request()
    first = policy.decide_packet(data, 67, LOCAL)
    again = policy.decide_packet(data, 67, LOCAL)
    assert first.reply == again.reply == policy.decide(Request.from_bytes(data, 67), LOCAL).reply


def _toml(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "pxelab.toml"
    p.write_text(body)
    return p


def test_toml_http_boot_per_architecture(tmp_path: Path) -> None:
    cfg = read_toml(
        _toml(
            tmp_path,
            """\
[http_boot]
x64 = "http://{server}:8080/efi64/snponly.efi"
arm64 = "http://{server}:8080/arm64/grubaa64.efi"

[[range]]
address = "192.168.10.20"
""",
        )
    )
    assert decide(cfg, http_request()).file == "http://192.168.10.20:8080/efi64/snponly.efi"
    d = decide(cfg, http_request(arch=19, vendor="HTTPClient:Arch:00019:UNDI:003000"))
    assert d.file == "http://192.168.10.20:8080/arm64/grubaa64.efi"
    # no entry for ia32 (15), none for every architecture: no answer
    assert decide(cfg, http_request(arch=15)).kind == "ignored"
    assert cfg.http_boot[1].source.line == 3


def test_toml_http_boot_for_every_architecture(tmp_path: Path) -> None:
    cfg = read_toml(
        _toml(
            tmp_path,
            """\
http_boot = "http://{server}/x.efi"

[[range]]
address = "192.168.10.20"
""",
        )
    )
    assert decide(cfg, http_request(arch=15)).file == "http://192.168.10.20/x.efi"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('http_boot = "efi64/snponly.efi"\n', 1, "is not an http:// or https:// URL"),
        ('[http_boot]\nsparc = "http://x/y"\n', 2, "unknown architecture 'sparc'"),
        ('[http_boot]\nx64 = "tftp://x/y"\n', 2, "is not an http:// or https:// URL"),
    ],
)
def test_toml_http_boot_errors_name_the_line(
    tmp_path: Path, body: str, line: int, words: str
) -> None:
    path = _toml(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        read_toml(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and words in str(err.value)
