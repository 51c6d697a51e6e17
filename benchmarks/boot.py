"""Seconds from QEMU start to the PXELINUX menu on pc-bios (SeaBIOS + iPXE), phase by phase,
with pxelab and with dnsmasq as the proxy, in the same run (alternating, so load on the machine
hits both alike). Target: <= 6.5 s under TCG; the floor is ~5.5 s (iPXE's 2.4 s Ctrl-B banner +
the seed's 3 s pxe-prompt countdown).

The seed's lab: dnsmasq as the home router (DHCP + IPv6 RAs), the proxy with the seed's own
dnsmasq.conf, the seed's menu. Phases come from when text first showed up on the serial console:

    firmware       QEMU let go (cont) -> iPXE's "Configuring (net0"  (SeaBIOS, iPXE, Ctrl-B banner)
    DHCP           -> "Configuring ... ok"        (router's offer, proxy offers, request/ack)
    proxy          -> "PXEBS (net0"                (the proxy's menu prompt: pxe-prompt countdown)
    PXEBS          -> "tftp://.../pxelinux.0"      (boot server discovery on port 4011)
    NBP            -> "PXELINUX 6"                 (pxelinux.0 over TFTP)
    config search  -> the menu's first box line    (ldlinux.c32, pxelinux.cfg/*, menu.c32 + libs)
    menu           -> the whole menu on screen

    python benchmarks/boot.py [--repeat N] [--proxies pxelab,dnsmasq] [--accel tcg]

Needs root (network namespaces). Prints a table and exits 0; 1 if a boot failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pxelab.lab.machines.vm import VM
from pxelab.lab.network.topology import Lab
from pxelab.lab.services import tftptree

TARGET_S = 6.5
ROUTER_CONF = """\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.10.100,192.168.10.150,12h
no-ping
enable-ra
dhcp-range=::,constructor:eth0,ra-stateless
"""
PHASES: list[tuple[str, re.Pattern[str] | None]] = [
    ("firmware", re.compile(r"Configuring \(net0")),
    ("DHCP", re.compile(r"Configuring \(net0[^)]*\)[. ]*ok")),
    ("proxy", re.compile(r"PXEBS \(net0")),
    ("PXEBS", re.compile(r"tftp://\S*pxelinux\.0")),
    ("NBP", re.compile(r"PXELINUX 6")),
    ("config search", re.compile("┌")),
    ("menu", None),  # when menu() first parses the whole menu
]


def _wait_log(path: Path, text: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{path}: no {text!r} within {timeout:g} s:\n"
                       f"{path.read_text(errors='replace') if path.exists() else ''}")


def start_proxy(kind: str, host, conf: Path, log: Path, ready: str = "proxy on subnet"
                ) -> subprocess.Popen:
    if kind == "dnsmasq":
        argv = [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "-C", str(conf), "-k",
                "--user=root", "--pid-file=", f"--log-facility={log}",
                f"--dhcp-leasefile={conf.with_suffix('.leases')}"]
        proc = host.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        with open(log, "wb") as fh:
            proc = host.popen([sys.executable, "-m", "pxelab", "serve", "--user", "root",
                "--dnsmasq-conf",
                               str(conf)], stdout=fh, stderr=subprocess.STDOUT)
    _wait_log(log, ready)
    return proc


def boot_once(lab: Lab, tap: str, work: Path, accel: str) -> dict[str, float]:
    """One boot to the menu; returns each phase's seconds (and "total")."""
    with VM("pc-bios", lab=lab, tap=tap, workdir=work, accel=accel) as vm:
        menu = vm.console.wait_for_menu(120, title="PXE Boot Menu")
        at_menu = time.monotonic()
        assert vm.started_at is not None and menu.entries
        t0 = vm.started_at
        marks = []
        for name, pattern in PHASES:
            t = at_menu if pattern is None else vm.console.first_seen(pattern, end=True)
            if t is None:
                raise RuntimeError(f"phase {name}: {pattern} never showed ({vm.console_log})")
            marks.append((name, t))
    out: dict[str, float] = {}
    prev = t0
    for name, t in marks:
        out[name] = max(0.0, t - prev)
        prev = max(prev, t)
    out["total"] = at_menu - t0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="boots per proxy (default 2)")
    ap.add_argument("--proxies", default="pxelab,dnsmasq")
    ap.add_argument("--accel", default="tcg", help="tcg (default), kvm or auto")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    work = Path(tempfile.mkdtemp(prefix="pxelab-bench-boot-"))
    results: dict[str, list[dict[str, float]]] = {p: [] for p in proxies}
    failures = 0
    try:
        with Lab() as lab:
            tree = tftptree.seed_tree(work / "tftpboot")
            # As the VM tests serve it: no `serial` line (SeaBIOS already mirrors the screen to
            # the serial port; PXELINUX writing it too doubles every character).
            default = tree / "pxelinux.cfg" / "default"
            default.write_text("".join(ln for ln in default.read_text().splitlines(True)
                                       if not ln.lower().lstrip().startswith("serial")))
            conf = tftptree.write_dnsmasq_conf(tftptree.SEED_DIR / "dnsmasq.conf",
                                               work / "proxy.conf", tree)
            rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
            pxe = lab.add_host("pxe", ipv4="192.168.10.20/24")
            tap = lab.add_tap("vm0")
            (work / "router.conf").write_text(ROUTER_CONF)
            start_proxy("dnsmasq", rtr, work / "router.conf", work / "router.log",
                        ready="DHCP, IP range")
            for i in range(args.repeat):
                for kind in proxies:
                    log = work / f"{kind}-{i}.log"
                    proc = start_proxy(kind, pxe, conf, log)
                    try:
                        results[kind].append(
                            boot_once(lab, tap, work / f"{kind}-{i}", args.accel))
                    except Exception as exc:  # report and go on with the other proxy
                        failures += 1
                        print(f"{kind} boot {i + 1}: {exc}", file=sys.stderr)
                    finally:
                        lab.stop(proc)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, args.accel)
    return 1 if failures else 0


def print_table(results: dict[str, list[dict[str, float]]], accel: str) -> None:
    kinds = [k for k, runs in results.items() if runs]
    print(f"pc-bios (SeaBIOS + iPXE rtl8139) to the seed's menu, {accel.upper()}, "
          f"median seconds of {max((len(r) for r in results.values()), default=0)} boot(s)")
    print(f"{'phase':<15}" + "".join(f"{k:>10}" for k in kinds))
    for name in [n for n, _ in PHASES] + ["total"]:
        row = f"{name:<15}"
        for k in kinds:
            row += f"{statistics.median(r[name] for r in results[k]):>10.2f}"
        print(("-" * (15 + 10 * len(kinds)) + "\n" if name == "total" else "") + row)
    # TCG shares the cores with everything else: a busy machine stretches every phase.
    print("load average at the end: " + " ".join(f"{x:.1f}" for x in os.getloadavg())
          + f" on {os.cpu_count()} cores")
    for k in kinds:
        totals = [r["total"] for r in results[k]]
        verdict = "met" if statistics.median(totals) <= TARGET_S else "missed"
        print(f"{k}: totals {', '.join(f'{t:.2f}' for t in totals)} s; "
              f"target {TARGET_S} s {verdict}")


if __name__ == "__main__":
    sys.exit(main())
