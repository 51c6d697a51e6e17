"""The seed's lab for real firmware: router + proxy in namespaces, a tap for the VM.

Router: dnsmasq as a plain DHCP server with IPv6 router advertisements (without them iPXE waits
~16 s) and a static lease for the Wyse MAC (the seed's 192.168.10.21). Proxy: `pxelab serve
--dnsmasq-conf` (or dnsmasq itself, the reference) with the seed's own dnsmasq.conf, only
tftp-root changed. Both log in dnsmasq's words ("sent ...", "file ... not found").
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pxelab.lab.network.topology import Lab
from pxelab.lab.services import tftptree
from tests.conftest import require_tool

ROUTER_CONF = """\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.10.100,192.168.10.150,12h
dhcp-host=00:80:64:71:ab:0a,192.168.10.21
no-ping
enable-ra
dhcp-range=::,constructor:eth0,ra-stateless
"""

EFI_SERVICE = 'pxe-service=X86-64_EFI, "Boot UEFI from network", efi64/syslinux.efi'
SEED_ENTRIES = (
    "Standard Tiny Core 4.7.6",
    "Standard Tiny Core on Wyse Sx0",
    "Tiny Core on Wyse Sx0 (Specific)",
)


def vm_menu_config(text: str, *, console: str = "console=ttyS0") -> str:
    """The seed's pxelinux.cfg/default as a QEMU lab serves it.

    - No `serial` line: with graphics=off SeaBIOS already copies the screen to the serial port,
      and PXELINUX writing the same port itself doubles every character ("SSttaannddaarrdd",
      seen here), which no terminal emulator can take apart again.
    - `console=ttyS0` on every APPEND, so the guest's kernel prints on the serial port.
    """
    lines = [ln for ln in text.splitlines() if not re.match(r"\s*serial\b", ln, re.I)]
    lines = [f"{ln} {console}" if re.match(r"\s*append\b", ln, re.I) else ln for ln in lines]
    return "\n".join(lines) + "\n"


@dataclass
class SeedLab:
    lab: Lab
    work: Path
    tree: Path
    tap: str
    proxy_log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def proxy_lines(self) -> list[str]:
        return self.proxy_log.read_text(errors="replace").splitlines()


def _dnsmasq(host: object, conf: Path, log: Path, dnsmasq: str) -> subprocess.Popen[bytes]:
    # --user=root: the tree lives under pytest's 0700 tmp dirs, unreadable for "nobody".
    return host.popen(  # type: ignore[attr-defined]
        [
            dnsmasq,
            "-C",
            str(conf),
            "-k",
            "--user=root",
            "--pid-file=",
            f"--log-facility={log}",
            "--dhcp-leasefile=" + str(conf.with_suffix(".leases")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_log(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log = path.read_text(errors="replace") if path.exists() else "(no log)"
    pytest.fail(f"{proc.args} did not come up (exit {proc.poll()}); its log:\n{log}")


@pytest.fixture
def seed_lab(tmp_path: Path) -> Iterator[Callable[..., SeedLab]]:
    """A factory: seed_lab(efi64=False, images={...}) -> the lab, up and serving."""
    dnsmasq = require_tool("dnsmasq")
    require_tool("qemu-system-x86_64")
    labs: list[Lab] = []

    def make(
        *,
        efi64: bool = False,
        images: dict[str, Path | bytes] | None = None,
        proxy: str = "pxelab",
    ) -> SeedLab:
        lab = Lab()
        labs.append(lab)
        lab.start()
        tree = tftptree.seed_tree(tmp_path / "tftpboot", images=images, efi64=efi64)
        seed_default = (tftptree.SEED_DIR / "pxelinux.cfg" / "default").read_text()
        for cfg in ["pxelinux.cfg/default"] + (["efi64/pxelinux.cfg/default"] if efi64 else []):
            (tree / cfg).write_text(vm_menu_config(seed_default))
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        pxe = lab.add_host("pxe", ipv4="192.168.10.20/24")
        tap = lab.add_tap("vm0")

        rtr_conf = tmp_path / "router.conf"
        rtr_conf.write_text(ROUTER_CONF)
        rtr_log = tmp_path / "router.log"
        r = _dnsmasq(rtr, rtr_conf, rtr_log, dnsmasq)

        proxy_conf = tftptree.write_dnsmasq_conf(
            tftptree.SEED_DIR / "dnsmasq.conf",
            tmp_path / "proxy.conf",
            tree,
            extra=EFI_SERVICE if efi64 else "",
        )
        proxy_log = tmp_path / "proxy.log"
        if proxy == "dnsmasq":
            p = _dnsmasq(pxe, proxy_conf, proxy_log, dnsmasq)
        else:
            with open(proxy_log, "wb") as log:
                p = pxe.popen(
                    [sys.executable, "-m", "pxelab", "serve", "--user", "root",
                        "--dnsmasq-conf", str(proxy_conf)],
                    stdout=log, stderr=subprocess.STDOUT,
                )
        _wait_for_log(rtr_log, "DHCP, IP range", r, 10)
        _wait_for_log(proxy_log, "proxy on subnet", p, 20)
        return SeedLab(lab, tmp_path, tree, tap, proxy_log, [r, p])

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture(scope="session")
def guest() -> dict[str, Path]:
    """The test guest (kernels + initramfs), built once into ~/.cache/pxelab/guest."""
    from pxelab.lab.machines import guest as guest_mod
    if shutil.which("apt-get") is None:
        pytest.fail("building the test guest needs apt-get (Debian)")
    return guest_mod.build()
