"""Full DHCP exchange rate: pxelab's simulated router against dnsmasq, in the same run.

Both servers run in turn in namespace `rtr` of one lab (10.10.0.0/16, pool of ~65,000
addresses); perfdhcp (Debian's kea-admin) runs in namespace `pf` and relays through its own
address (giaddr), as REFERENCE.md's figures were taken. A rate is "held" when perfdhcp reaches
at least 95 % of it and at most 1 % of the DISCOVERs end without an ACK (best of two
tries). The search climbs a
ladder of rates, then bisects between the last held and the first failed rate. Each step starts
a fresh server (an empty lease table) and uses new clients (-R = every exchange its own MAC).

dnsmasq runs as a plain DHCP server with `no-ping` (else it pings each new address for up to
3 s), `leasefile-ro` (else it rewrites its lease file on every lease) and `quiet-dhcp`.

    python benchmarks/router.py [--seconds 3] [--max-rate 20000] [--only pxelab|dnsmasq]

Needs root (namespaces). Prints both figures and the ratio pxelab / faster.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

SUBNET = "10.10.0.0/16"
ROUTER_IP, CLIENT_IP = "10.10.0.1", "10.10.0.2"
POOL = ("10.10.1.0", "10.10.254.255")
LADDER = [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000]


def which(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        sys.exit(f"{tool} is not installed: run `pxelab doctor --install`")
    return path


def dnsmasq_conf(tmp: Path) -> Path:
    conf = tmp / "dnsmasq.conf"
    conf.write_text(
        "port=0\n"
        "interface=eth0\n"
        "bind-interfaces\n"
        f"dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,12h\n"
        "dhcp-lease-max=200000\n"
        "no-ping\n"
        "leasefile-ro\n"
        "quiet-dhcp\n"
        "no-resolv\n"
        "no-hosts\n"
    )
    return conf


def server_argv(kind: str, tmp: Path) -> list[str]:
    if kind == "dnsmasq":
        return [which("dnsmasq"), "-k", "-C", str(dnsmasq_conf(tmp)), "--pid-file=",
                "--user=root"]
    return [sys.executable, "-m", "pxelab", "router", "--interface", "eth0",
            "--address", f"{ROUTER_IP}/16", "--pool", f"{POOL[0]}-{POOL[1]}", "--no-ra",
            "--lease-time", "43200"]


def wait_for_port67(host, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = host.run(["ss", "-lunH", "sport", "= :67"], timeout=10).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise RuntimeError("server did not bind port 67")


def run_perfdhcp(pf, rate: int, seconds: float, seed: int) -> dict[str, float]:
    n = int(rate * seconds)
    out = pf.run(
        [which("perfdhcp"), "-4", "-l", CLIENT_IP, "-r", str(rate), "-p", f"{seconds:g}",
         "-R", str(max(n, 1)), "-s", str(seed), "-W", "1500000", ROUTER_IP],
        timeout=seconds * 4 + 30,
    ).stdout

    def stat(section: str, name: str) -> int:
        part = out.split(f"Statistics for: {section}")[1]
        m = re.search(rf"{name}: (\d+)", part)
        return int(m.group(1)) if m else 0

    try:
        sent = stat("DISCOVER-OFFER", "sent packets")
        acked = stat("REQUEST-ACK", "received packets")
    except IndexError:
        return {"sent": 0, "acked": 0, "achieved": 0.0, "drop": 1.0}
    # perfdhcp's own "Rate" counts the exit wait (-W) too: the send rate is sent / period.
    achieved = sent / seconds
    drop = 1.0 - acked / sent if sent else 1.0
    return {"sent": sent, "acked": acked, "achieved": achieved, "drop": drop}


def held(r: dict[str, float], rate: int) -> bool:
    return r["drop"] <= 0.01 and r["achieved"] >= 0.95 * rate


def measure(lab, rtr, pf, kind: str, seconds: float, max_rate: int, tmp: Path) -> int:
    seed = [1]

    def attempt(rate: int) -> bool:
        with open(tmp / f"{kind}.log", "ab") as logf:
            proc = rtr.popen(server_argv(kind, tmp), stdout=logf, stderr=logf)
            try:
                wait_for_port67(rtr)
                seed[0] += 1
                r = run_perfdhcp(pf, rate, seconds, seed[0])
            finally:
                rtr.stop(proc)
        ok = held(r, rate)
        print(f"  {kind:8} {rate:6d}/s -> sent {r['achieved']:8.1f}/s, "
              f"{int(r['acked'])}/{int(r['sent'])} acked, drops {r['drop'] * 100:5.2f} % "
              f"{'held' if ok else 'NOT held'}", flush=True)
        return ok

    def step(rate: int) -> bool:
        # Two tries: on a shared machine another job's burst can sink one run; it only ever
        # lowers a figure, for both servers alike.
        return attempt(rate) or attempt(rate)

    good, bad = 0, None
    for rate in [x for x in LADDER if x <= max_rate]:
        if step(rate):
            good = rate
        else:
            bad = rate
            break
    if bad is not None:
        for _ in range(3):
            mid = (good + bad) // 2
            if bad - good <= max(50, good // 10):
                break
            if step(mid):
                good = mid
            else:
                bad = mid
    return good


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one perfdhcp step")
    ap.add_argument("--max-rate", type=int, default=20000)
    ap.add_argument("--only", choices=["pxelab", "dnsmasq"])
    args = ap.parse_args()

    from pxelab.lab.network.topology import Lab, check_privileges

    problem = check_privileges()
    if problem:
        # Like the other benchmarks without root: say why, and do not fail the bench session.
        print(f"benchmarks/router.py: skipped: {problem}")
        return 0
    which("perfdhcp")
    results: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="pxelab-bench-router-") as d, Lab(
        subnet=SUBNET
    ) as lab:
        tmp = Path(d)
        rtr = lab.add_host("rtr", ipv4=f"{ROUTER_IP}/16")
        pf = lab.add_host("pf", ipv4=f"{CLIENT_IP}/16")
        for kind in ("pxelab", "dnsmasq"):
            if args.only and kind != args.only:
                continue
            print(f"{kind}: searching the highest rate held at <= 1 % drops", flush=True)
            results[kind] = measure(lab, rtr, pf, kind, args.seconds, args.max_rate, tmp)
    print()
    print("full DHCP exchanges (DISCOVER/OFFER/REQUEST/ACK), relayed, perfdhcp, <= 1 % drops:")
    for kind, rate in results.items():
        print(f"  {kind:8} {rate:6d} exchanges/s")
    if len(results) == 2:
        ratio = results["pxelab"] / max(results["dnsmasq"], 1)
        verdict = "met" if results["pxelab"] >= max(results.values()) else "NOT met"
        print(f"  ratio pxelab / dnsmasq: {ratio:.2f}  (target >= 1.0 against the faster: "
              f"{verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
