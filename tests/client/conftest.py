"""A PXE segment in namespaces for the scripted client: router, proxy, one client host.

`pxe_segment(...)` builds a Lab (pxelab.lab.network.topology) with
- rtr 192.168.10.1: dnsmasq as a plain home-router DHCP server (no PXE, no-ping), or
  `pxelab router` (router="pxelab"), with the seed machine's static lease
  00:80:64:71:ab:0a -> 192.168.10.21;
- pxe 192.168.10.20: dnsmasq with the seed's dnsmasq.conf (tftp-root pointed at the seed tree
  built by pxelab.lab.services.tftptree) plus any lab-only lines a test adds, or `pxelab serve
  --dnsmasq-conf` on the same file (proxy="pxelab");
- cl: the client namespace, eth0 with the given MAC and no IPv4 address;
and `probe(seg, *args)` runs `pxelab probe --json` in cl and returns (exit code, JSON).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxelab.lab.network.userns import single_uid
from tests.conftest import require_tool
from tests.seed import WYSE_IP as SEED_IP
from tests.seed import WYSE_MAC as SEED_MAC
from tests.seed import WYSE_UUID as SEED_UUID  # noqa: F401 (for the tests here)

ROUTER_CONF = """\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.10.100,192.168.10.150,12h
dhcp-host=00:80:64:71:ab:0a,192.168.10.21
dhcp-option=option:router,192.168.10.1
no-ping
"""


@dataclass
class Segment:
    lab: Any
    client: Any
    tree: Path
    proxy_log: Path
    router_log: Path
    proxy_events: Path

    def proxy_lines(self) -> list[str]:
        return self.proxy_log.read_text(errors="replace").splitlines()


def _sink(path: Path) -> Any:
    """A file for a child's output; the child holds it open, the lab stops the child."""
    return open(path, "wb")


def _wait_udp(host: Any, port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = host.run(["ss", "-ulnH"]).stdout
        if any(
            line.split()[3].endswith(f":{port}")
            for line in out.splitlines()
            if len(line.split()) > 3
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on UDP port {port} after 30 s")


def _pxelab_router(host: Any, work: Path) -> None:
    host.popen(
        [
            sys.executable,
            "-m",
            "pxelab",
            "router",
            "--interface",
            "eth0",
            "--address",
            "192.168.10.1/24",
            "--pool",
            "192.168.10.100-192.168.10.150",
            "--static",
            f"{SEED_MAC}={SEED_IP}",
            "--no-ra",
            "--events",
            str(work / "router.events"),
        ],
        stdout=_sink(work / "router.log"),
        stderr=subprocess.STDOUT,
    )
    _wait_udp(host, 67, "pxelab router")


def _pxelab_serve(host: Any, conf: Path, log: Path, events: Path) -> None:
    host.popen(
        [
            sys.executable,
            "-m",
            "pxelab",
            "serve", "--user", "root",
            "--dnsmasq-conf",
            str(conf),
            "--interface",
            "eth0",
            "--log-dhcp",
            "--events",
            str(events),
        ],
        stdout=_sink(log),
        stderr=subprocess.STDOUT,
    )
    _wait_udp(host, 4011, "pxelab serve (proxyDHCP)")
    _wait_udp(host, 69, "pxelab serve (TFTP)")


def _dnsmasq(host: Any, conf: Path, log: Path, leases: Path) -> None:
    dnsmasq = require_tool("dnsmasq")
    host.popen(
        [
            dnsmasq,
            "-k",
            "-C",
            str(conf),
            "--pid-file",
            f"--log-facility={log}",
            f"--dhcp-leasefile={leases}",
            "--user=root",
            # One uid mapped (a rootless run): setgroups() is denied, so no group change.
            "--group=" if single_uid() else "--group=root",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and "started" in log.read_text(errors="replace"):
            # dnsmasq logs "started" just before it enters its loop; the sockets are open.
            return
        time.sleep(0.05)
    raise RuntimeError(f"dnsmasq did not start: {log.read_text(errors='replace')[-500:]}")


@contextlib.contextmanager
def pxe_segment(
    *,
    router: str | None = "dnsmasq",
    proxy: str | None = "dnsmasq",
    proxy_extra: str = "",
    proxy_conf: str | None = None,
    client_mac: str = SEED_MAC,
    efi64: bool = False,
    drop: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
    router_extra: str = "",
    client_ipv4: str | None = None,
) -> Iterator[Segment]:
    from pxelab.lab.network.topology import Lab
    from pxelab.lab.services import tftptree

    work = Path(tempfile.mkdtemp(prefix="pxelab-client-", dir="/tmp"))
    try:
        work.chmod(0o755)
        tree = tftptree.seed_tree(work / "tftpboot", efi64=efi64)
        for name in drop:
            (tree / name).unlink()
        for name, text in (files or {}).items():
            tftptree.place(tree, name, text.encode())
        with Lab() as lab:
            rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
            pxe = lab.add_host("pxe", ipv4="192.168.10.20/24")
            cl = lab.add_host("cl", mac=client_mac, ipv4=client_ipv4)
            seg = Segment(
                lab, cl, tree, work / "proxy.log", work / "router.log", work / "proxy.events"
            )
            if router == "dnsmasq":
                (work / "router.conf").write_text(ROUTER_CONF + router_extra)
                _dnsmasq(rtr, work / "router.conf", seg.router_log, work / "router.leases")
            elif router == "pxelab":
                _pxelab_router(rtr, work)
            if proxy:
                conf = work / "proxy.conf"
                if proxy_conf is None:
                    tftptree.write_dnsmasq_conf(
                        tftptree.SEED_DIR / "dnsmasq.conf", conf, tree, extra=proxy_extra
                    )
                else:
                    conf.write_text(proxy_conf.format(tree=tree) + proxy_extra)
                if proxy == "pxelab":
                    _pxelab_serve(pxe, conf, seg.proxy_log, seg.proxy_events)
                else:
                    _dnsmasq(pxe, conf, seg.proxy_log, work / "proxy.leases")
            yield seg
    finally:
        shutil.rmtree(work, ignore_errors=True)


def probe(seg: Segment, *args: str, timeout: float = 90) -> tuple[int, dict[str, Any]]:
    """Run the probe in the client namespace.

    For profiles that stop collecting offers once both kinds are in (iPXE), the proxy gets
    5 s instead of 2 s to answer: the same behaviour when it answers at once, and no failure
    when a loaded CI machine delays a Python server."""
    from pxelab.client import profile

    args_ = list(args)
    name = args_[args_.index("--profile") + 1] if "--profile" in args_ else "pxe-2.0-rom"
    if "--offer-wait" not in args_ and profile.load(name).dhcp.stop_when_complete:
        args_ += ["--offer-wait", "5"]
    proc = seg.client.run([sys.executable, "-m", "pxelab", "probe", "--interface", "eth0",
                           "--json", *args_], timeout=timeout)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"probe printed no JSON (exit {proc.returncode}):\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}") from exc
    return proc.returncode, data
