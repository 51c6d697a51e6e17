"""Boot storms and fault drills on one PXE segment: many scripted clients at once, in one lab.

    with PxeSegment(proxy="pxelab") as seg:      # rtr (dnsmasq DHCP), pxe (proxy + TFTP), cl
        out = seg.storm(20)                       # {"clients", "served", "last_menu_s", ...}
        seg.restart_proxy()

One namespace and one process drive every client (``python -m pxelab.lab.drills.storm`` in ``cl``):
each client is a thread running the scripted client's walk (pxelab.client.walk) with a MAC of its
own. 200 namespaces with 200 Python interpreters (scapy alone is ~1 s of CPU each to import)
would measure the machine's two cores, not the servers; one process with 200 identities puts the
load where it belongs, on the DHCP, proxy and TFTP servers. The client namespace carries every
pool address as a secondary address, so replies sent to any client's leased address
(ciaddr) arrive, and the walk finds an address on the interface and leaves it alone.

The router is dnsmasq with a pool of 221 addresses (the same for both proxies being compared);
the proxy is `pxelab serve --dnsmasq-conf` or dnsmasq itself on the seed's configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pxelab.lab.network.topology import Lab
from pxelab.lab.network.userns import single_uid
from pxelab.lab.services import tftptree
from pxelab.lab.services.commands import pxelab_command

ROUTER_IP, PROXY_IP, CLIENT_IP = "192.168.10.1", "192.168.10.20", "192.168.10.29"
POOL = (30, 250)
ROUTER_CONF = f"""\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.10.{POOL[0]},192.168.10.{POOL[1]},12h
dhcp-option=option:router,{ROUTER_IP}
dhcp-lease-max=1000
no-ping
"""


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if Path(p := f"{d}/{name}").exists()), None)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run `pxelab doctor --install` as root")
    return path


def wait_udp(host: Any, port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = host.run(["ss", "-ulnH"]).stdout
        if any(len(f := line.split()) > 3 and f[3].endswith(f":{port}")
               for line in out.splitlines()):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on UDP port {port} after {timeout:.0f} s")


def _dnsmasq(host: Any, conf: Path, log: Path, leases: Path) -> Any:
    log.write_text("")
    proc = host.popen([_tool("dnsmasq"), "-k", "-C", str(conf), "--pid-file",
                       f"--log-facility={log}", f"--dhcp-leasefile={leases}", "--user=root",
                       # one uid mapped (rootless): setgroups() is denied, no group change
                       "--group=" if single_uid() else "--group=root"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "started" in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"dnsmasq did not start: {log.read_text(errors='replace')[-500:]}")


class PxeSegment:
    """rtr 192.168.10.1 (dnsmasq DHCP), pxe 192.168.10.20 (the proxy and TFTP under test) and
    cl (192.168.10.29 plus every pool address), in a Lab of their own."""

    def __init__(self, proxy: str = "pxelab", extra_conf: str = "") -> None:
        if proxy not in ("pxelab", "dnsmasq"):
            raise ValueError(f"proxy must be pxelab or dnsmasq, not {proxy!r}")
        self.proxy_impl = proxy
        self.extra_conf = extra_conf
        self.work = Path(tempfile.mkdtemp(prefix="pxelab-storm-", dir="/tmp"))
        self.work.chmod(0o755)
        self.proxy_log = self.work / "proxy.log"
        self.proxy_proc: Any = None
        self.proxy_starts = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> PxeSegment:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def _build(self) -> None:
        self.tree = tftptree.seed_tree(self.work / "tftpboot")
        self.conf = tftptree.write_dnsmasq_conf(tftptree.SEED_DIR / "dnsmasq.conf",
                                                self.work / "proxy.conf", self.tree,
                                                extra=self.extra_conf)
        self.lab = self._stack.enter_context(Lab())
        self.rtr = self.lab.add_host("rtr", ipv4=f"{ROUTER_IP}/24")
        self.pxe = self.lab.add_host("pxe", ipv4=f"{PROXY_IP}/24")
        self.cl = self.lab.add_host("cl", ipv4=f"{CLIENT_IP}/24")
        batch = "".join(f"address add 192.168.10.{i}/24 dev eth0\n"
                        for i in range(POOL[0], POOL[1] + 1))
        (self.work / "addrs").write_text(batch)
        self.cl.run(["ip", "-batch", str(self.work / "addrs")], check=True)
        (self.work / "router.conf").write_text(ROUTER_CONF)
        _dnsmasq(self.rtr, self.work / "router.conf", self.work / "router.log",
                 self.work / "router.leases")
        self.start_proxy()

    # ------------------------------------------------------------------ the server under test

    def start_proxy(self, tftp: bool = True, proxy: bool = True) -> None:
        self.proxy_starts += 1
        if self.proxy_impl == "dnsmasq":
            self.proxy_proc = _dnsmasq(self.pxe, self.conf, self.proxy_log,
                                       self.work / "proxy.leases")
            return
        argv = [*pxelab_command(), "serve", "--user", "root",
            "--dnsmasq-conf", str(self.conf),
                "--interface", "eth0", "--events", str(self.work / "proxy.events")]
        argv += [] if tftp else ["--no-tftp"]
        argv += [] if proxy else ["--no-proxy"]
        log = open(self.proxy_log, "ab")  # noqa: SIM115 -- the child holds it
        self.proxy_proc = self.pxe.popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if proxy:
            wait_udp(self.pxe, 4011, "pxelab serve (proxyDHCP)")
        if tftp:
            wait_udp(self.pxe, 69, "pxelab serve (TFTP)")

    def stop_proxy(self, kill: bool = False) -> None:
        if self.proxy_proc is not None:
            self.lab.stop(self.proxy_proc, grace=0.0 if kill else 3.0)
            self.proxy_proc = None

    def restart_proxy(self, kill: bool = True) -> None:
        self.stop_proxy(kill)
        self.start_proxy()

    def proxy_lines(self) -> list[str]:
        return self.proxy_log.read_text(errors="replace").splitlines()

    def proxy_alive(self) -> bool:
        return self.proxy_proc is not None and self.proxy_proc.poll() is None

    # ------------------------------------------------------------------ clients

    def storm(self, clients: int, *, timeout: float = 120.0, profile: str = "pxe-2.0-rom",
              first_mac: int = 1) -> dict[str, Any]:
        """`clients` scripted clients at once from cl: how many reached the menu, and when."""
        proc = self.cl.run([sys.executable, "-m", "pxelab.lab.drills.storm", "--interface", "eth0",
                            "--clients", str(clients), "--timeout", str(timeout),
                            "--profile", profile, "--first-mac", str(first_mac)],
                           timeout=timeout + 120)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"storm printed no JSON (exit {proc.returncode}):\n"
                               f"{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}") from None

    def walk_json(self, *args: str, timeout: float = 120.0) -> dict[str, Any]:
        """One `pxelab probe --json` from cl (the interface keeps its addresses)."""
        proc = self.cl.run([*pxelab_command(), "probe", "--interface", "eth0",
                            "--json", *args], timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"probe printed no JSON (exit {proc.returncode}):\n"
                               f"{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}") from None


def mac_of(i: int) -> str:
    return "52:54:00:5a:" + f"{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def _narrow_links() -> None:
    """Give each client's raw socket a BPF filter for its own DHCP replies only.

    The scripted client's Link reads every UDP frame on the interface (filter "udp"): right for
    one client, but with 200 each would parse every other client's offers and TFTP data with
    scapy, and the storm would measure the client process. Here the kernel keeps, for each
    socket, the replies from ports 67 and 4011 whose chaddr (UDP payload bytes 28-33) is its MAC.
    """
    import scapy.layers.inet
    import scapy.layers.l2  # noqa: F401 -- registers Ether, so received frames decode
    from scapy.arch.linux import L2Socket

    from pxelab.client import dhcp as client_dhcp
    from pxelab.client import walk as client_walk

    class NarrowLink(client_dhcp.Link):
        def __init__(self, iface: str, mac: bytes) -> None:
            self.iface, self.mac = iface, mac
            # chaddr sits 28 bytes into the DHCP payload, 36 into the UDP datagram.
            self.sock = L2Socket(iface=iface, promisc=True, filter=(
                f"udp and src port (67 or 4011) and udp[36:4] = 0x{mac[:4].hex()} "
                f"and udp[40:2] = 0x{mac[4:6].hex()}"))

    client_walk.Link = NarrowLink  # type: ignore[misc]


def run_storm(interface: str, clients: int, timeout: float, profile_name: str,
              first_mac: int = 1) -> dict[str, Any]:
    """Walk `clients` identities at once on `interface` (threads), return the figures."""
    from pxelab.client import profile as profiles
    from pxelab.client.walk import WalkOptions, walk

    _narrow_links()

    prof = profiles.load(profile_name)
    results: list[dict[str, Any]] = [{} for _ in range(clients)]
    go = threading.Event()

    def one(i: int) -> None:
        go.wait()
        t0 = time.monotonic()
        try:
            res = walk(WalkOptions(interface=interface, profile=prof, mac=mac_of(first_mac + i),
                                   timeout=timeout))
            results[i] = {"ok": res.ok and res.reached == "menu", "reached": res.reached,
                          "failure": res.failure, "menu_at": res.menu_at,
                          "end": time.monotonic() - start, "took": time.monotonic() - t0}
        except Exception as exc:  # one client's crash is that client's failure, not the storm's
            results[i] = {"ok": False, "failure": {"link": "client", "message": repr(exc)},
                          "end": time.monotonic() - start}

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start = time.monotonic()
    go.set()
    for t in threads:
        t.join(timeout + 60)
    served = [r for r in results if r.get("ok")]
    failures: dict[str, int] = {}
    for r in results:
        if not r.get("ok"):
            f = r.get("failure") or {"link": "unfinished", "message": ""}
            key = f"{f.get('link')}: {str(f.get('message'))[:80]}"
            failures[key] = failures.get(key, 0) + 1
    return {
        "clients": clients,
        "served": len(served),
        "last_menu_s": round(max((r["end"] for r in served), default=0.0), 2),
        "median_menu_s": round(sorted(r["end"] for r in served)[len(served) // 2], 2)
        if served else None,
        "wall_s": round(time.monotonic() - start, 2),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pxelab.lab.drills.storm", description=__doc__)
    p.add_argument("--interface", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--profile", default="pxe-2.0-rom")
    p.add_argument("--first-mac", type=int, default=1)
    a = p.parse_args(argv)
    print(json.dumps(run_storm(a.interface, a.clients, a.timeout, a.profile, a.first_mac)))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------------- restart drills


def _wait_event(path: Path, pred: Any, timeout: float = 60.0) -> bool:
    from pxelab.serve.events import read_events

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(ev) for ev in read_events(path)):
            return True
        time.sleep(0.05)
    return False


def _wait_log(path: Path, text: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


_DOWNLOAD = """
import hashlib, sys, time
from pxelab.lab.drills.corpus import tftp_get
for attempt in range(1, 6):
    try:
        data = tftp_get(sys.argv[1], sys.argv[2], sys.argv[3], timeout=1.0, retries=3)
        print(attempt, hashlib.sha256(data).hexdigest())
        break
    except Exception as exc:  # the ROM's "TFTP open" retry: ask for the file again
        print("retry", repr(exc), file=sys.stderr)
        time.sleep(0.5)
"""


def tftp_restart_drill(seg: PxeSegment) -> dict[str, Any]:
    """Kill the server mid-transfer of ldlinux.c32 and start it again: does a client that
    retries get the file byte-for-byte? (The cable gets 25 ms of delay to stretch the transfer.)
    """
    import hashlib

    seg.lab.impair("cl", delay_ms=25.0)
    want = hashlib.sha256((seg.tree / "ldlinux.c32").read_bytes()).hexdigest()
    proc = seg.cl.popen([sys.executable, "-c", _DOWNLOAD, PROXY_IP, CLIENT_IP, "ldlinux.c32"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if seg.proxy_impl == "pxelab":
        _wait_event(seg.work / "proxy.events",
                    lambda e: e.get("service") == "tftp" and e.get("event") == "request")
    else:  # dnsmasq logs the transfer only at its end: give the client time to start it
        time.sleep(1.5)
    time.sleep(0.5)
    seg.restart_proxy(kill=True)
    out, _ = proc.communicate(timeout=120)
    seg.lab.impair("cl")
    parts = out.split()
    ok = len(parts) == 2 and parts[1] == want
    return {"ok": ok, "attempts": int(parts[0]) if ok else None}


def proxy_restart_drill(seg: PxeSegment, mac: str = "52:54:00:fa:00:03") -> dict[str, Any]:
    """Stop the proxy once it has made its offer, hold 4011 (unanswered) until the client's
    first boot-server request, then start the proxy again: does the client's retry get in?"""
    probe = seg.cl.popen([*pxelab_command(), "probe", "--interface", "eth0",
                          "--json", "--mac", mac, "--timeout", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if seg.proxy_impl == "pxelab":
        _wait_event(seg.work / "proxy.events", lambda e: e.get("service") == "proxydhcp"
                    and e.get("event") == "offer" and e.get("client") == mac)
    else:
        _wait_log(seg.proxy_log, f"{mac} proxy")
    seg.stop_proxy(kill=True)
    stand_in = seg.pxe.popen([sys.executable, "-c", (
        "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
        "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        "s.bind(('',4011));print('up',flush=True);s.settimeout(30);s.recvfrom(2048);"
        "print('got',flush=True)")], stdout=subprocess.PIPE, text=True)
    assert stand_in.stdout is not None
    stand_in.stdout.readline()
    got = stand_in.stdout.readline().strip() == "got"
    seg.lab.stop(stand_in)
    t0 = time.monotonic()
    seg.start_proxy()
    restart_s = time.monotonic() - t0
    out, _ = probe.communicate(timeout=120)
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        data = {"ok": False, "failure": {"link": "probe", "message": out[-300:]}}
    sends = [e for e in data.get("timeline", []) if "boot-server discovery" in str(e.get("event"))
             and "to 192.168.10.20:4011" in str(e.get("event"))]
    return {"ok": bool(got and data.get("ok") and data.get("reached") == "menu"),
            "request_held": got, "restart_s": round(restart_s, 2), "requests_4011": len(sends),
            "failure": data.get("failure")}
