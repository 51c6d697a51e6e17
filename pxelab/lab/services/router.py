"""The lab's home router as a child process: `pxelab router` arguments or a dnsmasq.conf.

Both come from one `[router]` table (the scenario model's `Router`, read here by its fields
only, so this module imports nothing from the rest of `pxelab.lab`). A router that knows PXE
(`next_server`, `boot_file`) is what OpenWrt's and pfSense's "next-server"/"filename" settings
make: dnsmasq's `dhcp-boot`, and pxelab router's `--next-server`/`--boot-file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pxelab_router_args(r: Any, events: Path) -> list[str]:
    """`pxelab router ...` arguments (after the command itself) for the lab's segment."""
    argv = [
        "router", "--interface", "eth0", "--address", str(r.address),
        "--pool", f"{r.pool[0]}-{r.pool[1]}", "--events", str(events),
        "--lease-time", str(r.lease_time),
    ]  # fmt: skip
    for mac, ip in r.static.items():
        argv += ["--static", f"{mac}={ip}"]
    for q in r.quirks:
        argv += ["--quirk", q]
    if not r.ra:
        argv.append("--no-ra")
    if r.next_server is not None:
        argv += ["--next-server", str(r.next_server)]
    if r.boot_file is not None:
        argv += ["--boot-file", r.boot_file]
    return argv


def dnsmasq_router_conf(r: Any) -> str:
    """A dnsmasq.conf that is the same home router: DHCP only (port=0), no ping."""
    lines = [
        "port=0", "interface=eth0", "bind-interfaces", "no-ping", "log-dhcp",
        f"dhcp-range={r.pool[0]},{r.pool[1]},{r.address.netmask},{r.lease_time}",
        f"dhcp-option=option:router,{r.address.ip}",
        *(f"dhcp-host={mac},{ip}" for mac, ip in r.static.items()),
    ]  # fmt: skip
    if r.next_server is not None or r.boot_file is not None:
        # dhcp-boot=FILE,SERVERNAME,ADDRESS: the address becomes siaddr; an empty file name
        # leaves the file field empty (a router that only says where the TFTP server is).
        server = f",,{r.next_server}" if r.next_server is not None else ""
        lines.append(f"dhcp-boot={r.boot_file or ''}{server}")
    if r.ra:
        lines += ["enable-ra", "dhcp-range=::,constructor:eth0,ra-stateless"]
    return "\n".join(lines) + "\n"
