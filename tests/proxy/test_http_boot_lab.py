"""UEFI HTTP Boot behind a router, in a lab: the router (`pxelab router`) gives the address, the
proxy the boot URL. The client is the scripted EDK2 HTTP Boot client (tests/proxy/httpbootclient:
the `edk2-http-x64` profile, offers typed and chosen as HttpBootDxe does, then HEAD and GET).

pxelab answers with a ProxyIpUri offer and serves the file over its own HTTP server; dnsmasq,
with the dnsmasq.conf lines people write for HTTP Boot, does not answer: the known difference
(the firmware then has no URI and fails, as scenarios/uefi-http-boot-dnsmasq shows with OVMF).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxelab.lab.services.commands import dnsmasq_command, pxelab_command
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
ROUTER, SERVER, CLIENT = "192.168.10.1", "192.168.10.20", "192.168.10.50"
# The lines people write for HTTP Boot. dnsmasq needs the address written out; pxelab reads
# the same file with {server} as well (see the pxelab case).
CONF = """\
port=0
log-dhcp
enable-tftp
tftp-root={root}
dhcp-range=192.168.10.20,proxy
pxe-service=X86-64_EFI, "UEFI boot", efi64/syslinux.efi
dhcp-vendorclass=set:http,HTTPClient
dhcp-option-force=tag:http,60,HTTPClient
dhcp-boot=tag:http,http://{server}:8080/efi64/boot.efi
"""
pytestmark = pytest.mark.lab


def _wait_port(host, proto: str, port: int, proc) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if f":{port} " in host.run(["ss", f"-{proto}ln"]).stdout:
            return
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail(f"nothing listening on {proto} port {port}")


def _boot(tmp_path: Path, which: str, extra: str = "") -> tuple[dict, bytes]:
    from pxelab.lab.network.topology import Lab

    root = tmp_path / "root"
    (root / "efi64").mkdir(parents=True)
    image = hashlib.sha256(b"efi").digest() * 4096  # 128 KiB, stands in for an EFI program
    (root / "efi64" / "boot.efi").write_bytes(image)
    server = "{server}" if which == "pxelab" else SERVER
    conf = tmp_path / f"{which}.conf"
    conf.write_text(CONF.format(root=root, server=server) + extra)
    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4=f"{ROUTER}/24")
        srv = lab.add_host("srv", ipv4=f"{SERVER}/24")
        cli = lab.add_host("cli", ipv4=f"{CLIENT}/24")
        router = rtr.popen([*pxelab_command(), "router", "--interface", "eth0", "--address",
                            f"{ROUTER}/24", "--no-ra"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
        if which == "dnsmasq":
            require_tool("dnsmasq")
            argv = dnsmasq_command(conf, tmp_path / "dnsmasq.pid")
        else:
            argv = [*pxelab_command(), "serve", "--user", "root", "--dnsmasq-conf", str(conf),
                    "--http-port", "8080"]  # fmt: skip
        proc = srv.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait_port(rtr, "u", 67, router)
        _wait_port(srv, "u", 67, proc)
        if which == "pxelab":
            _wait_port(srv, "t", 8080, proc)
        result = cli.run([sys.executable, "-m", "tests.proxy.httpbootclient", "eth0"],
                         cwd=str(REPO), timeout=90)  # fmt: skip
        assert result.returncode == 0, result.stderr
        srv.stop(proc)
        rtr.stop(router)
    return json.loads(result.stdout), image


def test_pxelab_answers_http_boot_behind_the_router(tmp_path: Path) -> None:
    got, image = _boot(tmp_path, "pxelab")
    types = {o["server"]: o["type"] for o in got["offers"]}
    assert types == {ROUTER: "DhcpDns", SERVER: "ProxyIpUri"}, got
    proxy = next(o for o in got["offers"] if o["server"] == SERVER)
    assert proxy["vendor_class"] == "HTTPClient" and proxy["yiaddr"] == "0.0.0.0"
    assert proxy["file"] == f"http://{SERVER}:8080/efi64/boot.efi"  # {server} filled in
    assert got["ack_from"] == ROUTER  # the address is the router's; the router is untouched
    http = got["http"]
    assert http["head_status"] == 200 and http["content_length"] == str(len(image))
    assert http["content_type"] == "application/efi"
    assert http["get_sha"] == hashlib.sha256(image).hexdigest()


def test_dnsmasq_proxy_stays_silent_known_difference(tmp_path: Path) -> None:
    """dnsmasq's proxy answers only option 60 beginning with a dhcp-pxe-vendor ("PXEClient"):
    the HTTP Boot client gets the router's offer alone, so HttpBootDxe selects nothing."""
    got, _image = _boot(tmp_path, "dnsmasq")
    assert [(o["server"], o["type"]) for o in got["offers"]] == [(ROUTER, "DhcpDns")], got
    assert got["selected"] == [None, None] and "http" not in got


def _offer_bytes(got: dict) -> bytes:
    """The proxy's offer without xid and chaddr (each lab has its own client)."""
    (offer,) = [o for o in got["offers"] if o["server"] == SERVER]
    raw = bytes.fromhex(offer["hex"])
    return raw[:4] + bytes(4) + raw[8:28] + bytes(16) + raw[44:]


def test_dnsmasq_answers_with_dhcp_pxe_vendor_the_same_bytes(tmp_path: Path) -> None:
    """Found while writing this: dnsmasq's proxy does answer HTTP Boot once HTTPClient is one
    of its PXE vendor classes (`dhcp-pxe-vendor=PXEClient,HTTPClient`): its proxy path then
    puts the matched class in 60 and the dhcp-boot URL in the file field, a valid ProxyIpUri
    offer, byte for byte pxelab's. (It still has no HTTP server to fetch the URL from.)"""
    line = "dhcp-pxe-vendor=PXEClient,HTTPClient\n"
    theirs, _ = _boot(tmp_path / "d", "dnsmasq", line)
    assert {o["server"]: o["type"] for o in theirs["offers"]} == {
        ROUTER: "DhcpDns",
        SERVER: "ProxyIpUri",
    }
    assert "error" in theirs["http"]  # nothing serves the URL: dnsmasq has no HTTP server
    ours, _ = _boot(tmp_path / "p", "pxelab", line)
    assert _offer_bytes(ours) == _offer_bytes(theirs)
