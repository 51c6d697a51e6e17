"""Debian 12's real GRUB netboot image under real OVMF, against what pxelab.boot.grub_search says.

EDK2's own PXE (virtio-net with `romfile=`, so no iPXE) loads grubnetx64.efi.signed as
grubx64.efi; IPv6 PXE is switched off through fw_cfg (else OVMF waits ~60 s for DHCPv6 first).

1. dnsmasq as the full DHCP server gives address and boot file: the names GRUB then asks the
   TFTP server for are grub_search.config_search's, file for file -- and not the per-MAC
   grub.cfg-01-<mac> lying in the tree, which Debian's GRUB never asks for.
2. A router gives the address, `pxelab serve` (proxyDHCP) the boot file: the firmware fetches
   grubx64.efi, GRUB starts and then asks TFTP for nothing (it reads its server from the PXE
   DhcpAck, the router's; see pxelab/config/check_grub.py) and stops at `grub>`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pxelab.boot import grub_search
from pxelab.lab.machines.profile import load_profile
from pxelab.lab.machines.vm import VM
from pxelab.lab.network.topology import Lab
from tests.conftest import require_tool

pytestmark = [pytest.mark.lab, pytest.mark.qemu]

GRUB_IMAGE = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
MAC = "52:54:00:15:00:01"
CLIENT_IP = "192.168.15.50"
NO_PXE6 = ["-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n"]
GRUB_CFG = """\
set timeout=30
menuentry "pxelab grub test" {
  linux /images/vmlinuz console=ttyS0
}
"""
# Under TCG on 2 shared cores OVMF reaches PXE in ~15 s when idle; be generous.
BOOT_TIMEOUT = 300
SENT = re.compile(r"(?:sent|file) (\S+?)(?: to [\d.]+| not found)")


def _edk2_profile():
    """uefi-x64 with virtio-net and no option ROM: OVMF's own PXE runs, as on a real board."""
    p = load_profile("uefi-x64")
    # nic_args writes "<model>,netdev=..."; an empty romfile= must be said explicitly.
    return replace(p, nic=replace(p.nic, model="virtio-net-pci,romfile=", romfile=None, mac=MAC))


def _tree(tmp: Path) -> Path:
    if not GRUB_IMAGE.exists():
        pytest.fail(f"{GRUB_IMAGE} is missing: apt-get install grub-efi-amd64-signed")
    tree = tmp / "tftp"
    (tree / "grub").mkdir(parents=True)
    shutil.copy(GRUB_IMAGE, tree / "grubx64.efi")
    (tree / "grub" / "grub.cfg").write_text(GRUB_CFG)
    # A per-MAC config an upstream GRUB would take; Debian's must not even ask for it.
    (tree / "grub" / f"grub.cfg-{grub_search.mac_name(MAC)}").write_text(GRUB_CFG)
    return tree


def _dnsmasq(host, conf: Path, log: Path, text: str) -> subprocess.Popen[bytes]:
    conf.write_text(text)
    return host.popen(
        [
            require_tool("dnsmasq"),
            "-C",
            str(conf),
            "-k",
            "--user=root",
            "--pid-file=",
            f"--log-facility={log}",
            f"--dhcp-leasefile={conf.with_suffix('.leases')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_log(path: Path, text: str, timeout: float) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = path.read_text(errors="replace") if path.exists() else ""
        if text in body:
            return body
        time.sleep(0.2)
    pytest.fail(f"{text!r} never appeared in {path}:\n{body}")


def _requested(log: str, root: Path) -> list[str]:
    """TFTP names in the order the server logged them, relative to the root."""
    prefix = str(root).rstrip("/") + "/"
    return [m.group(1).removeprefix(prefix) for m in SENT.finditer(log)]


def test_debian_grub_asks_for_exactly_what_grub_search_says(tmp_path):
    tree = _tree(tmp_path)
    log = tmp_path / "dnsmasq.log"
    with Lab(subnet="192.168.15.0/24") as lab:
        srv = lab.add_host("srv", ipv4="192.168.15.1/24")
        tap = lab.add_tap("vm0")
        _dnsmasq(
            srv,
            tmp_path / "dnsmasq.conf",
            log,
            f"""\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.15.100,192.168.15.150,12h
dhcp-host={MAC},{CLIENT_IP}
no-ping
dhcp-boot=grubx64.efi
enable-tftp
tftp-root={tree}
""",
        )
        _wait_log(log, "DHCP, IP range", 20)
        with VM(
            _edk2_profile(),
            lab=lab,
            tap=tap,
            workdir=tmp_path / "vm",
            accel="tcg",
            extra_args=NO_PXE6,
        ) as vm:
            body = _wait_log(log, "grub/grub.cfg", BOOT_TIMEOUT)
            vm.console.wait_for_text("pxelab grub test", 120)  # GRUB's menu from that file
            time.sleep(3)  # anything GRUB asks for after its config would land by now
            body = log.read_text(errors="replace")
    names = _requested(body, tree)
    after_nbp = names[len(names) - names[::-1].index("grubx64.efi") :]
    expected = grub_search.config_search(MAC, CLIENT_IP, None, build=grub_search.DEBIAN_12_X64)
    assert after_nbp == expected, body


def test_debian_grub_behind_a_proxy_starts_then_asks_for_nothing(tmp_path):
    tree = _tree(tmp_path)
    rtr_log, proxy_log = tmp_path / "router.log", tmp_path / "proxy.log"
    with Lab(subnet="192.168.15.0/24") as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.15.1/24")
        pxe = lab.add_host("pxe", ipv4="192.168.15.20/24")
        tap = lab.add_tap("vm0")
        _dnsmasq(
            rtr,
            tmp_path / "router.conf",
            rtr_log,
            f"""\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.15.100,192.168.15.150,12h
dhcp-host={MAC},{CLIENT_IP}
no-ping
""",
        )
        conf = tmp_path / "proxy.conf"
        conf.write_text(f"""\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.15.0,proxy
pxe-service=X86-64_EFI,"GRUB",grubx64.efi
enable-tftp
tftp-root={tree}
""")
        with open(proxy_log, "wb") as out:
            pxe.popen(
                [
                    sys.executable,
                    "-m",
                    "pxelab",
                    "serve",
                    "--user",
                    "root",
                    "--dnsmasq-conf",
                    str(conf),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_log(rtr_log, "DHCP, IP range", 20)
        _wait_log(proxy_log, "proxy on subnet", 30)
        with VM(
            _edk2_profile(),
            lab=lab,
            tap=tap,
            workdir=tmp_path / "vm",
            accel="tcg",
            extra_args=NO_PXE6,
        ) as vm:
            _wait_log(proxy_log, "grubx64.efi", BOOT_TIMEOUT)
            vm.console.wait_for_text("grub>", BOOT_TIMEOUT)
            served = _requested(proxy_log.read_text(errors="replace"), tree)
            time.sleep(20)
            later = _requested(proxy_log.read_text(errors="replace"), tree)
    assert set(served) == {"grubx64.efi"}, served
    assert later == served, "GRUB behind a proxy asked the TFTP server for more"
