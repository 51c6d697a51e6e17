"""ProxyDHCP load: perfdhcp against dnsmasq and `pxelab serve`, in namespaces, in one run.

    sudo python benchmarks/proxydhcp.py [--rates 2000,4000,...] [--period 3] [--json FILE]

One lab segment: dnsmasq on 192.168.10.20 and pxelab on 192.168.10.21 (each its own
namespace, the same configuration: the seed's proxy lines without TFTP and log-dhcp), perfdhcp
(Debian's kea-admin) on 192.168.10.50 sending relayed DISCOVERs only (`-i`; perfdhcp's DHCPv4
requests carry giaddr, so replies come back unicast to its port 67) with option 60
`PXEClient:Arch:00000:UNDI:002001` and option 93 = 0, from 100,000 simulated clients.

Rates are stepped up; at each step both servers are measured back to back, so both see the
same machine load. A server "holds" a rate when perfdhcp reaches at least 95 % of it and at
most 1 % of the DISCOVERs go unanswered (a failed step is tried once more, as other work on a
shared machine can spoil one run; three failed steps in a row end that server's ladder;
`--repeat N` runs the ladder N times and keeps each server's best).
Past the listed rates the ladder climbs on until both servers have failed a step (or
`--max-rate`). Printed: the highest rate each holds and the lowest it failed (where it
saturates), their ratio (none when neither saturated, a bound when one did not),
and the median and 99th percentile DISCOVER->OFFER delay at that rate (from perfdhcp's
per-exchange timestamps, `-x t`), and the server's CPU time per answered DISCOVER (from
/proc: a figure the machine's other load disturbs less than the rates).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CONF = """\
port=0
dhcp-boot=pxelinux.0
dhcp-option=vendor:PXEClient,6,2b
dhcp-no-override
pxe-prompt="Press F8 for boot menu", 3
pxe-service=X86PC, "Boot from network", pxelinux
pxe-service=X86PC, "Boot from local hard disk", 0
dhcp-range=192.168.10.20,proxy
"""
SERVERS = {"dnsmasq": "192.168.10.20", "pxelab": "192.168.10.21"}
VENDOR_HEX = b"PXEClient:Arch:00000:UNDI:002001".hex()


def perfdhcp(host, server: str, rate: int, period: int) -> dict:
    argv = ["perfdhcp", "-4", "-i", "-r", str(rate), "-p", str(period), "-R", "100000",
            "-o", f"60,{VENDOR_HEX}", "-o", "93,0000", "-x", "t", "-l", "eth0", server]
    out = host.run(argv, timeout=period + 60).stdout
    num = {}
    for key, pat in (("rate", r"Rate: ([\d.]+)"), ("sent", r"sent packets: (\d+)"),
                     ("received", r"received packets: (\d+)"),
                     ("drops_pct", r"drops ratio: ([\d.]+)")):
        m = re.search(pat, out)
        num[key] = float(m.group(1)) if m else 0.0
    delays = [float(b) - float(a) for a, b in
              re.findall(r"sent / received: ([\d.]+) / ([\d.]+)", out)]
    delays.sort()
    if delays:
        num["median_ms"] = round(statistics.median(delays) * 1000, 3)
        num["p99_ms"] = round(delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000, 3)
    if not num["sent"]:
        num["drops_pct"] = 100.0
    return num


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ladder(rates: list[int], max_rate: int) -> Iterator[int]:
    """The listed rates, then on up by half again each step to `max_rate` (the caller stops
    once both servers have failed a step)."""
    yield from rates
    rate = rates[-1]
    while rate * 3 // 2 <= max_rate:
        rate = rate * 3 // 2 // 500 * 500
        yield rate


def holds(r: dict, rate: int) -> bool:
    return r["sent"] > 0 and r["rate"] >= 0.95 * rate and r["drops_pct"] <= 1.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates",
                    default="2000,4000,6000,8000,10000,12000,14000,16000,18000,20000")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the whole ladder this many times; each server's best counts")
    ap.add_argument("--period", type=int, default=3, help="seconds per step (default 3)")
    ap.add_argument("--max-rate", type=int, default=200000,
                    help="past the listed rates the ladder climbs (by half again each step) "
                    "until both servers fail, or to this rate")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", "dnsmasq"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"{tool} is not installed (pxelab doctor --install)", file=sys.stderr)
            return 2
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    from pxelab.lab.network.topology import Lab

    rates = [int(x) for x in args.rates.split(",")]
    results: dict[str, dict[int, dict]] = {name: {} for name in SERVERS}
    with tempfile.TemporaryDirectory() as tmp, Lab() as lab:
        conf = Path(tmp) / "proxy.conf"
        conf.write_text(CONF)
        hosts = {name: lab.add_host(name[:6], ipv4=f"{addr}/24")
                 for name, addr in SERVERS.items()}
        client = lab.add_host("perf", ipv4="192.168.10.50/24")
        procs = {
            "dnsmasq": hosts["dnsmasq"].popen(
                ["dnsmasq", "-k", "-9", f"--conf-file={conf}", "--pid-file",
                 "--log-facility=-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            "pxelab": hosts["pxelab"].popen(
                [sys.executable, "-m", "pxelab", "serve", "--user", "root",
                    "--dnsmasq-conf", str(conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        }
        time.sleep(2.0)
        for name, p in procs.items():
            if p.poll() is not None:
                print(f"{name} exited at start", file=sys.stderr)
                return 1
        for round_ in range(args.repeat):
            failing = {name: 0 for name in SERVERS}
            for step, rate in enumerate(ladder(rates, args.max_rate)):
                # alternate who goes first, so neither always meets the same moment
                order = list(SERVERS.items())
                if (step + round_) % 2:
                    order.reverse()
                for name, addr in order:
                    if failing[name] >= 3:
                        continue
                    cpu0 = cpu_seconds(procs[name].pid)
                    r = perfdhcp(client, addr, rate, args.period)
                    if not holds(r, rate):  # the machine is shared: one retry before it counts
                        cpu0 = cpu_seconds(procs[name].pid)
                        r = perfdhcp(client, addr, rate, args.period)
                    if r["received"]:
                        r["cpu_us_per_offer"] = round(
                            (cpu_seconds(procs[name].pid) - cpu0) / r["received"] * 1e6, 1)
                    old = results[name].get(rate)
                    if old is None or (holds(r, rate) and not holds(old, rate)):
                        results[name][rate] = r
                    failing[name] = 0 if holds(r, rate) else failing[name] + 1
                    print(f"{name:8s} rate {rate:6d}/s: sent at {r['rate']:9.1f}/s, "
                          f"drops {r['drops_pct']:6.2f} %, median {r.get('median_ms', '-')} ms, "
                          f"p99 {r.get('p99_ms', '-')} ms, "
                          f"CPU {r.get('cpu_us_per_offer', '-')} us/offer", flush=True)
                if all(f >= 3 for f in failing.values()):
                    break
                if step >= len(rates) - 1 and all(f >= 1 for f in failing.values()):
                    break  # past the list, once both have failed their saturation is known
    best = {}
    for name in SERVERS:
        held = [rate for rate, r in results[name].items() if holds(r, rate)]
        best[name] = max(held) if held else 0
    print()
    print(f"{'server':8s} {'holds (<=1% drops)':>20s} {'median ms':>10s} {'p99 ms':>8s} "
          f"{'CPU us/offer':>13s}")
    for name in SERVERS:
        r = results[name].get(best[name], {})
        print(f"{name:8s} {best[name]:>18d}/s {r.get('median_ms', '-')!s:>10s} "
              f"{r.get('p99_ms', '-')!s:>8s} {r.get('cpu_us_per_offer', '-')!s:>13s}")
    # The lowest rate a server failed: with its best held rate, where it saturates. A server
    # that failed none was not measured, only bounded from below (both holding the top step
    # would print a ratio of 1.00: the ladder's figure, not theirs).
    failed = {name: min((rate for rate, r in results[name].items() if not holds(r, rate)),
                        default=None) for name in SERVERS}
    for name in SERVERS:
        sat = (f"saturates between {best[name]}/s and {failed[name]}/s" if failed[name]
               else f"held every step up to {best[name]}/s: not saturated")
        print(f"{name:8s} {sat}")
    ratio = best["pxelab"] / best["dnsmasq"] if best["dnsmasq"] else float("nan")
    if failed["pxelab"] is None and failed["dnsmasq"] is None:
        print("pxelab / dnsmasq: not measured (neither saturated: raise --max-rate)")
    elif failed["pxelab"] is None:
        print(f"pxelab / dnsmasq: >= {ratio:.2f}x (pxelab not saturated)")
    elif failed["dnsmasq"] is None:
        print(f"pxelab / dnsmasq: <= {ratio:.2f}x (dnsmasq not saturated)")
    else:
        print(f"pxelab / dnsmasq: {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"best": best, "first_failed": failed, "ratio": ratio,
             "steps": {n: {str(k): v for k, v in rs.items()} for n, rs in results.items()}},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
