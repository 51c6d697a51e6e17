"""The lab network: build and teardown, isolation of labs, impairments, capture, cleanup."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pxelab.lab.network.topology import Lab, check_privileges, cleanup
from pxelab.lab.network.userns import single_uid
from tests.conftest import require_tool

pytestmark = pytest.mark.lab


def netns_names() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def ping(host, target: str, count: int = 1, wait: int = 2) -> subprocess.CompletedProcess:
    return host.run([require_tool("busybox"), "ping", "-c", str(count), "-W", str(wait),
                     "-i", "0.2", target], timeout=30)


def test_privileges_are_enough_as_root():
    assert check_privileges() is None


def test_build_addresses_and_teardown():
    with Lab(mtu=1400) as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        pc = lab.add_host("pc", ipv4="192.168.10.50", mac="02:00:00:00:00:50")
        tap = lab.add_tap("vm0")
        names = set(lab.namespaces)
        assert names == {f"pxelab-{lab.lab_id}-{n}" for n in ("sw", "rtr", "pc")}
        assert names <= netns_names()
        assert pc.mac == "02:00:00:00:00:50" and pc.netns == f"pxelab-{lab.lab_id}-pc"
        addrs = rtr.run(["ip", "-o", "addr", "show", "dev", "eth0"]).stdout
        assert "inet 192.168.10.1/24" in addrs and "inet6 fd00:10::1/64" in addrs
        assert f"inet6 {rtr.link_local}/64" in addrs
        assert "mtu 1400" in pc.run(["ip", "link", "show", "eth0"]).stdout
        assert "master br0" in lab.run_in_bridge(["ip", "link", "show", tap]).stdout
        assert ping(pc, rtr.ipv4).returncode == 0
        assert ping(pc, f"{rtr.link_local}%eth0").returncode == 0
        sleeper = pc.popen(["sleep", "300"])
        child_pid = sleeper.pid
    assert not names & netns_names()
    assert sleeper.poll() is not None
    assert not Path(f"/proc/{child_pid}").exists() or "Z" in Path(
        f"/proc/{child_pid}/stat").read_text().split()[2]


def test_stop_kills_the_whole_process_group():
    with Lab() as lab:
        h = lab.add_host("a")
        p = h.popen(["sh", "-c", "sleep 300 & sleep 300 & wait"])
        deadline = time.monotonic() + 10
        kids: list[str] = []
        while len(kids) < 3 and time.monotonic() < deadline:  # sh and its two sleeps
            time.sleep(0.05)
            kids = subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(kids) >= 3
        h.stop(p, grace=1.0)
        assert p.returncode is not None
        time.sleep(0.1)
        # Zombies are dead; who reaps orphans here (pid 1) is not ours to test.
        left = subprocess.run(["ps", "-o", "stat=", "-g", str(p.pid)], capture_output=True,
                              text=True).stdout.split()
        assert [s for s in left if not s.startswith("Z")] == []


def test_two_labs_do_not_see_each_other(tmp_path):
    from scapy.all import ICMP, rdpcap

    with Lab() as a, Lab() as b:
        a1 = a.add_host("h1", ipv4="192.168.10.1/24")
        a2 = a.add_host("h2", ipv4="192.168.10.2/24")
        b1 = b.add_host("h1", ipv4="192.168.10.1/24")
        b.add_host("h2", ipv4="192.168.10.3/24")
        a.start_capture(tmp_path / "a.pcap")
        b.start_capture(tmp_path / "b.pcap")
        assert ping(a2, a1.ipv4, count=3).returncode == 0
        # 192.168.10.2 exists only in lab a: from lab b it is unreachable.
        assert ping(b1, "192.168.10.2", count=1, wait=1).returncode != 0
    a_icmp = [p for p in rdpcap(str(tmp_path / "a.pcap")) if ICMP in p]
    b_icmp = [p for p in rdpcap(str(tmp_path / "b.pcap")) if ICMP in p]
    assert len(a_icmp) >= 6
    assert b_icmp == []


def test_capture_file_holds_the_traffic(tmp_path):
    from scapy.all import ICMP, IP, rdpcap

    pcap = tmp_path / "sub" / "lab.pcap"
    with Lab() as lab:
        r = lab.add_host("rtr", ipv4="192.168.10.1/24")
        c = lab.add_host("pc", ipv4="192.168.10.9/24")
        lab.start_capture(pcap)
        assert ping(c, r.ipv4, count=2).returncode == 0
    pkts = [p for p in rdpcap(str(pcap)) if ICMP in p]
    assert {(p[IP].src, p[IP].dst) for p in pkts} == {
        ("192.168.10.9", "192.168.10.1"), ("192.168.10.1", "192.168.10.9")}


def test_impairments_are_applied_and_removed():
    with Lab() as lab:
        r = lab.add_host("rtr", ipv4="192.168.10.1/24")
        c = lab.add_host("pc", ipv4="192.168.10.9/24")
        lab.impair("pc", delay_ms=150, jitter_ms=0)
        shown = lab.qdiscs("pc")
        assert re.search(r"netem.*(delay 150ms|delay-ms 150)", shown), shown
        out = ping(c, r.ipv4, count=2)
        assert out.returncode == 0
        rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out.stdout)]
        assert rtts and min(rtts) >= 150  # a delay can only make the round trip longer
        lab.impair("pc", loss=100)
        assert ping(c, r.ipv4, count=2, wait=1).returncode != 0
        lab.impair("pc", duplicate=100)
        dup = ping(c, r.ipv4, count=3)  # a duplicate shows when more replies follow
        assert "DUP!" in dup.stdout
        with pytest.raises(Exception, match="reorder needs"):
            lab.impair("pc", reorder=10)
        lab.impair("pc")
        assert "netem" not in lab.qdiscs("pc")
        out = ping(c, r.ipv4, count=2)
        assert out.returncode == 0 and "DUP!" not in out.stdout


CHILD = textwrap.dedent("""
    import sys, time
    from pxelab.lab.network.topology import Lab
    lab = Lab(lab_id=sys.argv[1]).start()
    h = lab.add_host("a", ipv4="192.168.10.2/24")
    lab.add_host("b", ipv4="192.168.10.3/24")
    lab.add_tap("vm0")
    h.popen(["sleep", "300"])
    lab.popen_in_bridge(["sleep", "300"])
    lab.start_capture(sys.argv[2])
    lab.impair("b", delay_ms=10)
    print("ready", flush=True)
    time.sleep(300)
""")


def test_sigkilled_run_is_removed_by_cleanup(tmp_path):
    import secrets

    lab_id = secrets.token_hex(3)
    prefix = f"pxelab-{lab_id}-"
    with Lab() as bystander:  # another lab, alive: cleanup of lab_id must not touch it
        by = bystander.add_host("x")
        by_proc = by.popen(["sleep", "300"])
        child = subprocess.Popen([sys.executable, "-c", CHILD, lab_id, str(tmp_path / "k.pcap")],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
        child.wait()
        left = {n for n in netns_names() if n.startswith(prefix)}
        assert left == {prefix + "sw", prefix + "a", prefix + "b"}
        removed = cleanup(prefix)
        assert {f"netns {n}" for n in left} <= set(removed)
        killed = [r for r in removed if r.startswith("pid ")]
        # The capture: tcpdump, or rootless (one uid mapped) pcap.py's AF_PACKET capture.
        capture = "(python" if single_uid() else "(tcpdump)"
        assert any("(sleep)" in r for r in killed) and any(capture in r for r in killed)
        assert not any("NOT removed" in r for r in removed)
        assert not {n for n in netns_names() if n.startswith(prefix)}
        mark = f"PXELAB_LAB={lab_id}".encode()
        live = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and mark in (entry / "environ").read_bytes().split(b"\0"):
                    live.append(entry.name)
            except OSError:
                continue
        assert live == []
        # The bystander lab is untouched.
        assert set(bystander.namespaces) <= netns_names()
        assert by_proc.poll() is None
        assert cleanup(prefix) == []


def test_sigterm_tears_the_lab_down(tmp_path):
    """The signal handler: a SIGTERMed process leaves no namespace and no process behind."""
    import secrets

    lab_id = secrets.token_hex(3)
    prefix = f"pxelab-{lab_id}-"
    child = subprocess.Popen([sys.executable, "-c", CHILD, lab_id, str(tmp_path / "t.pcap")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    assert {n for n in netns_names() if n.startswith(prefix)}
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert not {n for n in netns_names() if n.startswith(prefix)}
    assert cleanup(prefix) == []
    assert (tmp_path / "t.pcap").exists()


def test_cleanup_removes_marked_links_in_the_root_namespace():
    """A link a lab left in the root namespace (alias pxelab-<id>) goes; others' links stay."""
    import secrets

    lab_id = secrets.token_hex(3)
    name, other = f"pxd{lab_id}", f"pxo{lab_id}"
    try:
        for link, alias in ((name, f"pxelab-{lab_id}"), (other, "pxelab-ffffff")):
            # veth: this kernel has no dummy links. Never up, so it carries nothing.
            subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name",
                            f"{link}p"], check=True)
            subprocess.run(["ip", "link", "set", link, "alias", alias], check=True)
        removed = cleanup(f"pxelab-{lab_id}-")
        assert removed == [f"link {name}"]  # its peer goes with it
        for gone in (name, f"{name}p"):
            assert subprocess.run(["ip", "link", "show", gone],
                                  capture_output=True).returncode != 0
        assert subprocess.run(["ip", "link", "show", other], capture_output=True).returncode == 0
    finally:
        for link in (name, other):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
