"""Full DHCP exchange rate: pxelab's simulated router against dnsmasq, in the same run.

Both servers run in namespace `rtr` of one lab, alternating step by step (10.10.0.0/16, pool
of ~65,000 addresses); perfdhcp (Debian's kea-admin) runs in namespace `pf` and relays
through its own address (giaddr), as REFERENCE.md's figures were taken. A rate is "held" when
perfdhcp reaches at least 95 % of it and at most 1 % of the DISCOVERs end without an ACK (best
of two tries). The search climbs a ladder of rates (past its list, by half again each step,
until the server fails or --max-rate), then bisects between the last held and the first
failed rate; both saturation points are printed, and no ratio when one never saturated. Each
step starts a fresh server (an empty lease table) and uses new clients (-R = every exchange
its own MAC).

dnsmasq runs as a plain DHCP server with `no-ping` (else it pings each new address for up to
3 s), `leasefile-ro` (else it rewrites its lease file on every lease) and `quiet-dhcp`.

    python benchmarks/router.py [--seconds 3] [--max-rate 200000] [--only pxelab|dnsmasq]

Needs root (namespaces). Prints both figures and the ratio pxelab / faster.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
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


def ladder(max_rate: int) -> Iterator[int]:
    """LADDER, then on up by half again each step until `max_rate`: a server still holding
    the last listed step has not been measured yet, only bounded from below."""
    rate = 0
    for rate in LADDER:
        if rate > max_rate:
            return
        yield rate
    while rate * 3 // 2 <= max_rate:
        rate = rate * 3 // 2 // 500 * 500
        yield rate


class Search:
    """One server's search: climb the ladder to the first failed rate, then bisect."""

    def __init__(self, kind: str, max_rate: int) -> None:
        self.kind = kind
        self.good, self.bad = 0, None
        self._climb = ladder(max_rate)
        self._bisects = 0
        self.next: int | None = next(self._climb, None)

    def report(self, held_it: bool) -> None:
        assert self.next is not None
        if held_it:
            self.good = self.next
        else:
            self.bad = self.next
        if self.bad is None:  # still climbing
            self.next = next(self._climb, None)
            return
        self.next = None
        if self._bisects < 3 and self.bad - self.good > max(50, self.good // 10):
            self._bisects += 1
            self.next = (self.good + self.bad) // 2

    def figure(self) -> str:
        if self.bad is None:
            return f">= {self.good} exchanges/s (held every step: not saturated)"
        return f"{self.good} exchanges/s (first failed: {self.bad}/s)"


def measure(rtr, pf, kinds: list[str], seconds: float, max_rate: int, tmp: Path
            ) -> dict[str, Search]:
    """Both servers' searches step by step, alternating who goes first (as proxydhcp.py
    does), so a burst of other work on the shared machine meets both alike."""
    seed = [1]

    def attempt(kind: str, rate: int) -> bool:
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

    searches = {kind: Search(kind, max_rate) for kind in kinds}
    turn = 0
    while any(s.next is not None for s in searches.values()):
        order = list(searches.values())
        if turn % 2:
            order.reverse()
        turn += 1
        for s in order:
            if s.next is not None:
                # Two tries: on a shared machine another job's burst can sink one run; it only
                # ever lowers a figure, for both servers alike.
                s.report(attempt(s.kind, s.next) or attempt(s.kind, s.next))
    return searches


def ratio_line(ours: Search, peer: Search) -> str:
    """The ratio of the saturation points; none when a server never saturated (both holding
    the top step would print 1.00, a figure of the ladder, not of the servers)."""
    if ours.bad is None and peer.bad is None:
        return f"not measured: both held {ours.good}/s, the top step (raise --max-rate)"
    if not peer.good:
        return "peer held no step"
    ratio = f"{ours.good / peer.good:.2f}"
    if ours.bad is None:
        ratio = f">= {ratio} (pxelab not saturated)"
    elif peer.bad is None:
        ratio = f"<= {ratio} (dnsmasq not saturated)"
    verdict = "met" if ours.good >= peer.good else "NOT met"
    return f"{ratio}  (target >= 1.0 against the faster: {verdict})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one perfdhcp step")
    ap.add_argument("--max-rate", type=int, default=200000,
                    help="the ladder climbs past its list up to here, until a server fails")
    ap.add_argument("--only", choices=["pxelab", "dnsmasq"])
    args = ap.parse_args()

    from pxelab.lab.network.topology import Lab, check_privileges

    problem = check_privileges()
    if problem:
        # Like the other benchmarks without root: say why, and do not fail the bench session.
        print(f"benchmarks/router.py: skipped: {problem}")
        return 0
    which("perfdhcp")
    kinds = [k for k in ("pxelab", "dnsmasq") if not args.only or k == args.only]
    with tempfile.TemporaryDirectory(prefix="pxelab-bench-router-") as d, Lab(
        subnet=SUBNET
    ) as lab:
        tmp = Path(d)
        rtr = lab.add_host("rtr", ipv4=f"{ROUTER_IP}/16")
        pf = lab.add_host("pf", ipv4=f"{CLIENT_IP}/16")
        print(f"{' and '.join(kinds)}: searching the highest rate held at <= 1 % drops",
              flush=True)
        results = measure(rtr, pf, kinds, args.seconds, args.max_rate, tmp)
    print()
    print("full DHCP exchanges (DISCOVER/OFFER/REQUEST/ACK), relayed, perfdhcp, <= 1 % drops:")
    for kind, s in results.items():
        print(f"  {kind:8} {s.figure()}")
    if len(results) == 2:
        print(f"  ratio pxelab / dnsmasq: {ratio_line(results['pxelab'], results['dnsmasq'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
