"""`pxelab serve` as a process: the seed's dnsmasq.conf (verbatim but for its path) in a lab,
the captured iPXE requests answered as dnsmasq answered them, TFTP from the same process,
log-dhcp lines, events, reply delay, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxelab.boot.policy import Local, ProxyPolicy
from pxelab.config.dnsmasq import read_dnsmasq_conf
from pxelab.config.tomlconf import read_toml
from pxelab.serve.events import read_events
from pxelab.wire.dhcp import Request
from tests.conftest import require_tool
from tests.proxy.helpers import request
from tests.proxy.test_policy_capture import PROXY, _packets

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SEED = HERE.parent / "config" / "data" / "seed-dnsmasq.conf"


def _seed_with_root(tmp: Path) -> Path:
    root = tmp / "tftpboot"
    root.mkdir()
    (root / "pxelinux.0").write_bytes(bytes(range(256)) * 77)
    conf = tmp / "dnsmasq.conf"
    conf.write_text(SEED.read_text().replace("/home/tftpboot", str(root)))
    return conf


def test_config_error_exits_2_naming_the_line(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("port=0\npxe-service=Amiga,menu,file\n")
    r = subprocess.run(
        [sys.executable, "-m", "pxelab", "serve", "--user", "root", "--dnsmasq-conf", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert f"{conf}:2: " in r.stderr and "unknown client architecture" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "pxelab", "serve", "--user", "root",
            "--dnsmasq-conf", str(tmp_path / "missing.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "no such file" in r.stderr
    # the seed's file as it is: its TFTP root does not exist here; the error names the line
    text = SEED.read_text()
    r = subprocess.run([sys.executable, "-m", "pxelab", "serve", "--user", "root",
        "--dnsmasq-conf", str(SEED)],
                       capture_output=True, text=True, timeout=30)
    line = text.splitlines().index("tftp-root=/home/tftpboot") + 1
    assert r.returncode == 2 and f"{SEED}:{line}: TFTP root /home/tftpboot" in r.stderr
    # warnings name file and line too
    assert f"{SEED}:{text.splitlines().index('dhcp-option=vendor:PXEClient,6,2b') + 1}: " \
        "dhcp-option: value '2b'" in r.stderr
    toml = tmp_path / "bad.toml"
    toml.write_text("log_dhcp = true\n\n[[service]]\ncsa = 'Amiga'\n")
    r = subprocess.run([sys.executable, "-m", "pxelab", "serve", "--user", "root",
        "--config", str(toml)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and f"{toml}:3: unknown client architecture" in r.stderr


def test_toml_expresses_the_seed(tmp_path: Path) -> None:
    toml = tmp_path / "pxelab.toml"
    toml.write_text("""\
log_dhcp = true
no_override = true
[tftp]
enabled = true
root = "/home/tftpboot"
[[boot]]
file = "pxelinux.0"
[[option]]
vendor = "PXEClient"
number = 6
value = 2
[[prompt]]
text = "Press F8 for boot menu"
timeout = 3
[[service]]
csa = "X86PC"
text = "Boot from network"
basename = "pxelinux"
[[service]]
csa = "X86PC"
text = "Boot from local hard disk"
type = 0
[[range]]
address = "192.168.10.20"
""")
    a, b = read_dnsmasq_conf(SEED), read_toml(toml)
    local = Local(PROXY, 24, "eth0")
    pk = _packets()
    for port, data in ((67, pk[0][3]), (4011, next(x[3] for x in pk if x[2] == 4011))):
        ra = ProxyPolicy(a).decide(Request.from_bytes(data, port), local).reply
        rb = ProxyPolicy(b).decide(Request.from_bytes(data, port), local).reply
        assert ra is not None and ra == rb
    assert b.services[0].source.line == toml.read_text().splitlines().index("[[service]]") + 1
    toml.write_text("[[tag_if]]\nset = 'b'\ntags = ['a*', '!c']\n[[match]]\ntag = 'w'\n"
                    "mac = '00:80:64:*:*:*'\n[[ignore]]\ntags = ['!w']\n")
    c = read_toml(toml)
    assert [(t.sets, t.conditions) for t in c.tag_ifs] == [(("b",), ("a*", "!c"))]
    assert c.tag_rules[0].mask == b"\xff\xff\xff\0\0\0" and c.ignores[0].tags == ("!w",)
    toml.write_text("[[boot]]\nfile = 'x'\nbogus = 1\n")
    with pytest.raises(Exception, match=r"pxelab.toml:1: \[boot\]: unknown key 'bogus'"):
        read_toml(toml)


@pytest.mark.lab
def test_seed_conf_serves_capture_and_tftp(tmp_path: Path) -> None:
    from pxelab.lab.network.topology import Lab

    conf = _seed_with_root(tmp_path)
    events = tmp_path / "events.jsonl"
    pk = _packets()
    discover = pk[0][3]
    offer = next(x[3] for x in pk if x[0] == str(PROXY) and x[1] == 67)
    pxebs = next(x[3] for x in pk if x[2] == 4011)
    ack = next(x[3] for x in pk if x[1] == 4011)
    cases = [
        {
            "name": "garbage",
            "hex": (b"\x01" * 100).hex(),
            "dest": "255.255.255.255",
            "port": 67,
            "bind": 68,
            "wait": 0.5,
        },
        {
            "name": "discover",
            "hex": discover.hex(),
            "dest": "255.255.255.255",
            "port": 67,
            "bind": 68,
            "wait": 3.0,
        },
        {
            "name": "pxebs",
            "hex": pxebs.hex(),
            "dest": str(PROXY),
            "port": 4011,
            "bind": 68,
            "wait": 3.0,
        },
        {
            "name": "non-pxe",
            "hex": request(vendor="MSFT 5.0").hex(),
            "dest": "255.255.255.255",
            "port": 67,
            "bind": 68,
            "wait": 0.5,
        },
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    with Lab() as lab:
        srv = lab.add_host("srv", ipv4=f"{PROXY}/24")
        # the client of the capture: 192.168.10.136 (the PXEBS request comes from there)
        cli = lab.add_host("cli", ipv4="192.168.10.136/24")
        proc = srv.popen(
            [
                sys.executable,
                "-m",
                "pxelab",
                "serve", "--user", "root",
                "--dnsmasq-conf",
                str(conf),
                "--interface",
                "eth0",
                "--events",
                str(events),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 15
        while ":4011 " not in srv.run(["ss", "-uln"]).stdout:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        out = cli.run(
            [sys.executable, "-m", "tests.proxy.udpprobe", str(tmp_path / "cases.json")],
            cwd=str(REPO),
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        got = {c["name"]: c["replies"] for c in json.loads(out.stdout)}
        atftp = require_tool("atftp")
        fetched = tmp_path / "fetched.0"
        t = cli.run([atftp, "-g", "-r", "pxelinux.0", "-l", str(fetched), str(PROXY)], timeout=30)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        log = proc.stderr.read()
    assert code == 0
    assert [bytes.fromhex(r["hex"]) for r in got["discover"]] == [offer]
    assert got["discover"][0]["src"] == str(PROXY) and got["discover"][0]["sport"] == 67
    assert [bytes.fromhex(r["hex"]) for r in got["pxebs"]] == [ack]
    assert got["pxebs"][0]["sport"] == 4011
    assert got["non-pxe"] == [] and got["garbage"] == []
    assert t.returncode == 0, t.stderr
    assert fetched.read_bytes() == (tmp_path / "tftpboot" / "pxelinux.0").read_bytes()
    # log-dhcp lines in dnsmasq's format (xid first)
    assert "1927617818 PXE(eth0) 00:80:64:71:ab:0a proxy" in log
    assert "1927617818 vendor class: PXEClient:Arch:00000:UNDI:002001" in log
    assert "PXE(eth0) 192.168.10.136 00:80:64:71:ab:0a pxelinux.0" in log
    assert "1927617818 bootfile name: pxelinux.0" in log
    assert "malformed DHCP packet" in log  # logged, and the server went on
    ev = [e for e in read_events(events) if e["service"] == "proxydhcp"]
    kinds = [(e["event"], e["port"]) for e in ev]
    assert ("offer", 67) in kinds and ("ack", 4011) in kinds and ("ignored", 67) in kinds
    offer_ev = next(e for e in ev if e["event"] == "offer")
    assert offer_ev["client"] == "00:80:64:71:ab:0a" and offer_ev["file"] == "pxelinux.0"
    assert offer_ev["arch"] == 0
    ignored = next(e for e in ev if e["event"] == "ignored")
    assert "not a PXE client" in ignored["reason"]


@pytest.mark.lab
def test_reply_delay(tmp_path: Path) -> None:
    from pxelab.lab.network.topology import Lab

    conf = tmp_path / "delay.conf"
    conf.write_text(
        "dhcp-boot=pxelinux.0\ndhcp-range=192.168.10.20,proxy\n"
        "pxe-service=x86PC,net,pxelinux\ndhcp-reply-delay=1\n"
    )
    (tmp_path / "cases.json").write_text(
        json.dumps(
            [
                {
                    "name": "d",
                    "hex": request().hex(),
                    "dest": "255.255.255.255",
                    "port": 67,
                    "bind": 68,
                    "wait": 4.0,
                }
            ]
        )
    )
    capture = tmp_path / "capture.pcap"
    with Lab() as lab:
        srv = lab.add_host("srv", ipv4="192.168.10.20/24")
        cli = lab.add_host("cli", ipv4="192.168.10.50/24")
        lab.start_capture(capture)
        # this test runs the event-loop receive model (the others the threaded default)
        proc = srv.popen(
            [sys.executable, "-m", "pxelab", "serve", "--user", "root",
                "--dnsmasq-conf", str(conf)],
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PXELAB_PROXY_THREADS": "0"},
        )
        deadline = time.monotonic() + 15  # a hang guard
        while ":67 " not in srv.run(["ss", "-uln"]).stdout:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        out = cli.run(
            [sys.executable, "-m", "tests.proxy.udpprobe", str(tmp_path / "cases.json")],
            cwd=str(REPO),
            timeout=60,
        )
        srv.stop(proc)
    replies = json.loads(out.stdout)[0]["replies"]
    assert len(replies) == 1
    # The delay from the packets themselves, as the bridge saw them: the OFFER leaves at least
    # the configured second after the DISCOVER arrived (no clock of this test in it).
    from scapy.all import BOOTP, UDP, rdpcap

    xid = int.from_bytes(request()[4:8], "big")
    bootp = [pkt for pkt in rdpcap(str(capture)) if BOOTP in pkt and pkt[BOOTP].xid == xid]
    asked = [float(pkt.time) for pkt in bootp if pkt[UDP].dport == 67]
    offered = [float(pkt.time) for pkt in bootp if pkt[UDP].sport == 67]
    assert asked and offered, f"{len(bootp)} BOOTP packets of xid {xid:#x} in the capture"
    assert offered[0] - asked[0] >= 0.95, (asked, offered)  # 1 s, less capture clock slack
