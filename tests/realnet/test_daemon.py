"""`pxelab serve` as a LAN daemon (issue 10), in a lab: root binds, nobody serves; SIGHUP
reloads (new prompt in the next offer, a transfer in flight finishes byte for byte, a broken
file is refused with `pxelab check`'s findings); Prometheus metrics move with traffic; the
systemd unit verifies; the unit's capability set is enough to start.

Lab: rtr 192.168.10.1 (`pxelab router`), pxe 192.168.10.20 (the server, seed tree and seed
dnsmasq.conf), cl (the scripted PXE client `pxelab probe`, tftpy). The server is
`pxelab serve --user nobody --metrics 127.0.0.1:9467`, started as root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
SEED_MAC = "00:80:64:71:ab:0a"
METRICS = "127.0.0.1:9467"
BIG = 16 * 1024 * 1024
NOBODY = 65534


def _serve_argv(conf: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pxelab", "serve", "--dnsmasq-conf", str(conf),
            "--interface", "eth0", "--user", "nobody", *extra]


def _wait_for(path: Path, text: str, proc: subprocess.Popen[Any] | None = None,
              after: int = 0, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace")[after:]
        if text in log:
            return log
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server's log:\n{path.read_text()[-3000:]}")


@dataclass
class Daemon:
    lab: Any
    srv: Any
    cl: Any
    proc: subprocess.Popen[Any]
    work: Path
    tree: Path
    conf: Path
    log: Path
    seed_text: str

    def probe(self) -> dict[str, Any]:
        out = self.cl.run([sys.executable, "-m", "pxelab", "probe", "--interface", "eth0",
                           "--json", "--profile", "ipxe", "--offer-wait", "5"], timeout=90)
        data = json.loads(out.stdout)
        assert out.returncode == 0, data.get("failure")
        return data

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        out = self.srv.run(["curl", "-sf", f"http://{METRICS}/metrics"], timeout=30)
        assert out.returncode == 0, out.stderr
        values = {}
        for family in text_string_to_metric_families(out.stdout):
            for s in family.samples:
                values[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return values

    def reload(self, text: str | None) -> str:
        """Replace the file (as an editor does), SIGHUP, and return the log the reload wrote."""
        if text is not None:
            tmp = self.conf.with_suffix(".new")
            tmp.write_text(text)
            tmp.chmod(0o644)
            os.replace(tmp, self.conf)
        mark = len(self.log.read_text(errors="replace"))
        self.proc.send_signal(signal.SIGHUP)
        log = _wait_for(self.log, "reload ", self.proc, after=mark)
        # the verdict is the last line of a reload
        deadline = time.monotonic() + 30
        while "reload applied" not in log and "stays in force" not in log:
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
            log = self.log.read_text(errors="replace")[mark:]
        return log


def _value(m: dict, name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    from pxelab.lab.network.topology import Lab
    from pxelab.lab.services import tftptree

    work = Path(tempfile.mkdtemp(prefix="pxelab-realnet-", dir="/tmp"))
    try:
        work.chmod(0o755)  # the dropped server reads the tree and the file from here
        big = os.urandom(BIG)
        tree = tftptree.seed_tree(work / "tftpboot", images={"images/big.bin": big})
        conf = tftptree.write_dnsmasq_conf(tftptree.SEED_DIR / "dnsmasq.conf",
                                           work / "dnsmasq.conf", tree)
        log = work / "serve.log"
        with Lab() as lab:
            rtr = lab.add_host("rtr", ipv4="192.168.10.1/24")
            srv = lab.add_host("pxe", ipv4="192.168.10.20/24")
            cl = lab.add_host("cl", mac=SEED_MAC, ipv4="192.168.10.50/24")
            rtr.popen([sys.executable, "-m", "pxelab", "router", "--interface", "eth0",
                       "--address", "192.168.10.1/24", "--pool", "192.168.10.100-192.168.10.150",
                       "--static", f"{SEED_MAC}=192.168.10.21", "--no-ra"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(log, "wb") as sink:
                proc = srv.popen(_serve_argv(conf, "--metrics", METRICS), stdout=sink,
                                 stderr=subprocess.STDOUT, cwd=str(REPO))
            _wait_for(log, "running as user nobody", proc)
            deadline = time.monotonic() + 30
            while ":67 " not in rtr.run(["ss", "-uln"]).stdout:
                assert time.monotonic() < deadline, "pxelab router did not start"
                time.sleep(0.05)
            yield Daemon(lab, srv, cl, proc, work, tree, conf, log, conf.read_text())
            code = srv.stop(proc)
            assert code == 0, log.read_text()[-3000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.root(reason="drops to `nobody`, a uid no one-uid user namespace has")
def test_serves_as_nobody_after_binding(daemon: Daemon) -> None:
    from pxelab.serve.privileges import status_ids

    uid, gid, cap = status_ids(daemon.proc.pid)
    assert uid == (NOBODY,) * 4 and gid == (NOBODY,) * 4  # real, effective, saved, fs
    assert int(cap, 16) == 0  # no capability left
    for task in Path(f"/proc/{daemon.proc.pid}/task").iterdir():  # every thread, too
        t_uid, t_cap = _task_ids(daemon.proc.pid, task.name)
        assert t_uid == (NOBODY,) * 4 and int(t_cap, 16) == 0
    before = daemon.metrics()
    data = daemon.probe()
    assert data["reached"] == "menu"
    assert data["proxy"]["prompt"] == "Press F8 for boot menu"
    assert data["boot_server"] == "192.168.10.20" and data["tftp"][0]["found"]
    assert data["menu"]["title"] == "PXE Boot Menu"
    after = daemon.metrics()
    assert _value(after, "pxelab_proxydhcp_offers_total", arch="x86PC") \
        == _value(before, "pxelab_proxydhcp_offers_total", arch="x86PC") + 1
    assert _value(after, "pxelab_proxydhcp_acks_total", arch="x86PC") \
        >= _value(before, "pxelab_proxydhcp_acks_total", arch="x86PC") + 1
    fetched = [t for t in data["tftp"] if t["found"]]
    missing = [t for t in data["tftp"] if not t["found"]]
    done = _value(after, "pxelab_tftp_transfers_completed_total") \
        - _value(before, "pxelab_tftp_transfers_completed_total")
    assert done == len(fetched) > 0
    assert _value(after, "pxelab_tftp_transfers_failed_total", outcome="not_found") \
        - _value(before, "pxelab_tftp_transfers_failed_total", outcome="not_found") \
        == len(missing)
    sent = _value(after, "pxelab_tftp_bytes_sent_total") - _value(before,
                                                                  "pxelab_tftp_bytes_sent_total")
    assert sent >= sum(t["bytes"] for t in fetched) > 0
    assert _value(after, "pxelab_tftp_transfers_in_flight") == 0
    # iPXE asks the router its REQUEST on 67: the proxy ignores it, and says why
    ignored = sum(v for (n, _), v in after.items() if n == "pxelab_proxydhcp_ignored_total")
    assert ignored >= 1
    # a packet that does not decode is counted (and the server goes on)
    daemon.cl.run([sys.executable, "-c", "import socket; s = socket.socket(2, 2); "
                   "s.sendto(b'\\x01' * 100, ('192.168.10.20', 67))"], check=True)
    deadline = time.monotonic() + 10
    while _value(daemon.metrics(), "pxelab_proxydhcp_malformed_total") \
            != _value(after, "pxelab_proxydhcp_malformed_total") + 1:
        assert time.monotonic() < deadline, "the malformed packet was not counted"
        time.sleep(0.1)
    # a burst from one client beyond its budget (burst 30) is dropped undecoded, and counted
    daemon.cl.run([sys.executable, "-c", "import socket; s = socket.socket(2, 2)\n"
                   "for _ in range(80): s.sendto(b'\\x01' * 100, ('192.168.10.20', 67))"],
                  check=True)
    deadline = time.monotonic() + 10
    while _value(daemon.metrics(), "pxelab_proxydhcp_rate_limited_total") < 40:
        assert time.monotonic() < deadline, (
            "rate-limited packets not counted: "
            f"{_value(daemon.metrics(), 'pxelab_proxydhcp_rate_limited_total')}")
        time.sleep(0.1)


def _task_ids(pid: int, tid: str) -> tuple[tuple[int, ...], str]:
    """(Uid, CapEff) of one thread: capabilities are per thread."""
    uid: tuple[int, ...] = ()
    cap = ""
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = tuple(int(x) for x in line.split()[1:])
        elif line.startswith("CapEff:"):
            cap = line.split()[1]
    return uid, cap


@pytest.mark.root(reason="the daemon fixture runs `--user nobody` (a uid no one-uid namespace has)")
def test_sighup_new_prompt_while_a_transfer_is_in_flight(daemon: Daemon) -> None:
    out, mark, go = (daemon.work / "big.out", daemon.work / "held", daemon.work / "go")
    client = daemon.cl.popen(
        [sys.executable, "-m", "tests.realnet.held_client", "192.168.10.20", "images/big.bin",
         str(out), "2000", str(mark), str(go)],
        cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert client.poll() is None, client.stderr.read() if client.stderr else ""
        assert time.monotonic() < deadline, "the download never reached block 2000"
        time.sleep(0.02)
    # the client holds at block 2000 of 32768: reload now
    text = daemon.seed_text.replace("Press F8 for boot menu", "Press F8 for the NEW menu")
    log = daemon.reload(text)
    m = daemon.metrics()
    go.touch()
    assert "reload applied" in log, log
    assert _value(m, "pxelab_tftp_transfers_in_flight") >= 1
    assert _value(m, "pxelab_config_reloads_total", result="applied") >= 1
    assert client.wait(timeout=90) == 0, client.stderr.read() if client.stderr else ""
    want = (daemon.tree / "images/big.bin").read_bytes()
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(want).digest()
    data = daemon.probe()
    assert data["proxy"]["prompt"] == "Press F8 for the NEW menu"
    assert data["reached"] == "menu"
    sent = daemon.metrics()
    assert _value(sent, "pxelab_tftp_bytes_sent_total") >= BIG


def _check_findings(daemon: Daemon, text: str) -> list[str]:
    """The error lines `pxelab check` prints for `text`, as if it were the server's file."""
    tmp = daemon.work / "candidate.conf"
    tmp.write_text(text)
    check = subprocess.run([sys.executable, "-m", "pxelab", "check", "--dnsmasq-conf", str(tmp),
                            "--user", "nobody"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1, check.stdout
    return [line.replace(str(tmp), str(daemon.conf)) for line in check.stdout.splitlines()
            if ": error: " in line]


@pytest.mark.root(reason="the daemon fixture runs `--user nobody` (a uid no one-uid namespace has)")
def test_broken_configuration_is_refused_with_check_findings(daemon: Daemon) -> None:
    good = daemon.conf.read_text()
    # a boot file that is not in the tree, then a line the reader cannot use: what
    # `pxelab check` says about each, the reload says, and the old configuration stays
    missing = good.replace("dhcp-boot=pxelinux.0", "dhcp-boot=pxelinux-missing.0")
    unusable = good + "pxe-service=Amiga,menu,file\n"
    for broken, what in ((missing, "pxelinux-missing.0"),
                         (unusable, f"{daemon.conf}:{len(good.splitlines()) + 1}: error: "
                                    "pxe-service: unknown client architecture 'Amiga'")):
        findings = _check_findings(daemon, broken)
        assert findings and any(what in f for f in findings), findings
        log = daemon.reload(broken)
        assert "stays in force" in log
        for finding in findings:
            assert f"reload rejected: {finding}" in log, (finding, log)
    # unreadable by the user the server dropped to
    daemon.conf.write_text(good)
    daemon.conf.chmod(0o600)
    log = daemon.reload(None)
    daemon.conf.chmod(0o644)
    assert "Permission denied" in log and "stays in force" in log
    # the configuration in force is still the last good one
    data = daemon.probe()
    assert data["proxy"]["prompt"] == "Press F8 for the NEW menu"
    assert data["boot_file"] == "pxelinux.0" and data["reached"] == "menu"
    m = daemon.metrics()
    assert _value(m, "pxelab_config_reloads_total", result="rejected") == 3


@pytest.mark.root(reason="drops to `nobody` keeping the unit's capabilities (another uid)")
def test_unit_capabilities_are_enough() -> None:
    """Started as root with only the unit's bounding set (CAP_NET_BIND_SERVICE, CAP_SETUID,
    CAP_SETGID: not even CAP_NET_RAW, this kernel binds to a device without it), the server
    binds, drops to nobody and serves a file."""
    from pxelab.lab.network.topology import Lab
    from pxelab.lab.services import tftptree

    setpriv = require_tool("setpriv")
    atftp = require_tool("atftp")
    # not under pytest's tmp_path: its parent is 0700, which nobody cannot enter
    tmp_path = Path(tempfile.mkdtemp(prefix="pxelab-realnet-", dir="/tmp"))
    tmp_path.chmod(0o755)
    tree = tftptree.seed_tree(tmp_path / "tftpboot")
    conf = tftptree.write_dnsmasq_conf(tftptree.SEED_DIR / "dnsmasq.conf",
                                       tmp_path / "dnsmasq.conf", tree)
    log = tmp_path / "serve.log"
    events = tmp_path / "events.jsonl"
    conf.chmod(0o600)  # read as root at start; nobody cannot read it again: said at start
    with Lab() as lab:
        srv = lab.add_host("pxe", ipv4="192.168.10.20/24")
        cl = lab.add_host("cl", ipv4="192.168.10.50/24")
        with open(log, "wb") as sink:
            proc = srv.popen([setpriv, "--bounding-set=-all,+net_bind_service,+setuid,+setgid",
                              "--inh-caps=-all", *_serve_argv(conf), "--tftp-max-blksize", "1024",
                              "--events", str(events)],
                             stdout=sink, stderr=subprocess.STDOUT, cwd=str(REPO))
        _wait_for(log, "running as user nobody", proc)
        _wait_for(log, f"{conf} is not readable by this user (uid {NOBODY}): a reload", proc)
        got = tmp_path / "pxelinux.0"
        try:
            r = cl.run([atftp, "--option", "blksize 8192", "-g", "-r", "pxelinux.0", "-l",
                        str(got), "192.168.10.20"], timeout=30)
            assert srv.stop(proc) == 0
            assert r.returncode == 0, r.stderr
            assert got.read_bytes() == (tree / "pxelinux.0").read_bytes()
            from pxelab.serve.events import read_events

            sent = [e for e in read_events(events) if e.get("event") == "transfer"]
            assert [(e["outcome"], e["blksize"]) for e in sent] == [("sent", 1024)]
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    unit = (REPO / "contrib" / "pxelab.service").read_text()
    assert "ExecStart=!/usr/local/bin/pxelab serve" in unit
    # verify insists the ExecStart binary exists: point it at this environment's pxelab
    here = Path(sys.executable).parent / "pxelab"
    assert here.exists(), here
    copy = tmp_path / "pxelab.service"
    copy.write_text(unit.replace("/usr/local/bin/pxelab", str(here)))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stderr
    # and verify does read it: a misspelt key is reported
    typo = tmp_path / "typo.service"
    typo.write_text(copy.read_text().replace("ProtectHome=", "ProtectHomes="))
    r = subprocess.run([analyze, "verify", str(typo)], capture_output=True, text=True,
                       timeout=60)
    assert "Unknown key 'ProtectHomes'" in r.stderr


def test_metric_labels_stay_bounded() -> None:
    from pxelab.serve.metrics import arch_label, parse_address, reason_label

    assert reason_label("no proxy range for a request via 10.1.2.3") == \
        "no proxy range for a request via ADDR"
    assert reason_label("dhcp-ignore (/etc/x.conf:12)") == "dhcp-ignore"
    assert arch_label(0) == "x86PC" and arch_label(7) == "x86-64_EFI"
    assert arch_label(16) == "16" and arch_label(300) == "other"
    assert arch_label(None) == "unknown"
    assert parse_address("127.0.0.1:9467") == ("127.0.0.1", 9467)
    assert parse_address(":9100") == ("0.0.0.0", 9100)
    with pytest.raises(ValueError, match="not a number"):
        parse_address("localhost:http")


@pytest.mark.root(reason="the TFTP server drops to `nobody` (a uid no one-uid namespace has)")
def test_tftp_alone_drops_counts_and_survives_sighup() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from pxelab.lab.network.topology import Lab
    from pxelab.lab.services import tftptree
    from pxelab.serve.privileges import status_ids

    atftp = require_tool("atftp")
    work = Path(tempfile.mkdtemp(prefix="pxelab-realnet-", dir="/tmp"))
    try:
        work.chmod(0o755)
        tree = tftptree.seed_tree(work / "tftpboot")
        log = work / "serve.log"
        with Lab() as lab:
            srv = lab.add_host("pxe", ipv4="192.168.10.20/24")
            cl = lab.add_host("cl", ipv4="192.168.10.50/24")
            with open(log, "wb") as sink:
                proc = srv.popen([sys.executable, "-m", "pxelab", "serve", "--no-proxy",
                                  "--tftp-root", str(tree), "--user", "nobody",
                                  "--metrics", METRICS], stdout=sink, stderr=subprocess.STDOUT)
            _wait_for(log, "listening on", proc)
            uid, gid, cap = status_ids(proc.pid)
            assert uid == (NOBODY,) * 4 and gid == (NOBODY,) * 4 and int(cap, 16) == 0
            proc.send_signal(signal.SIGHUP)
            _wait_for(log, "nothing to reload", proc)
            got = work / "got"
            r = cl.run([atftp, "-g", "-r", "menu.c32", "-l", str(got), "192.168.10.20"],
                       timeout=30)
            assert r.returncode == 0, r.stderr
            # junk to port 69: answered with an error, counted, logged once
            junk = cl.run([sys.executable, "-c", "import socket; s = socket.socket(2, 2); "
                           "s.settimeout(5); [s.sendto(b'\\x00\\x09junk', "
                           "('192.168.10.20', 69)) for _ in range(3)]; "
                           "print(sum(len(s.recv(100)) > 0 for _ in range(3)))"], timeout=30)
            assert junk.stdout.strip() == "3", junk.stderr
            text = srv.run(["curl", "-sf", f"http://{METRICS}/metrics"], timeout=30).stdout
            assert srv.stop(proc) == 0
            assert log.read_text().count("bad TFTP packet") == 1  # rate-limited
            # a tree the user cannot enter is named at start, not at the first request
            hidden = work / "private"
            hidden.mkdir(mode=0o700)
            shutil.copytree(tree, hidden / "tftpboot")
            with open(log, "wb") as sink:
                proc = srv.popen([sys.executable, "-m", "pxelab", "serve", "--no-proxy",
                                  "--tftp-root", str(hidden / "tftpboot"), "--user", "nobody"],
                                 stdout=sink, stderr=subprocess.STDOUT)
            _wait_for(log, f"TFTP root {hidden / 'tftpboot'} is not readable by this user "
                      f"(uid {NOBODY}): every request will fail", proc)
            assert srv.stop(proc) == 0
        assert got.read_bytes() == (tree / "menu.c32").read_bytes()
        values = {s.name: s.value for f in text_string_to_metric_families(text)
                  for s in f.samples if not s.labels}
        assert values["pxelab_tftp_transfers_completed_total"] == 1
        assert values["pxelab_tftp_malformed_total"] == 3
        assert values["pxelab_tftp_bytes_sent_total"] == len(got.read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)


# lab: binds TFTP port 69 on the loopback of a namespace of its own (root there suffices)
@pytest.mark.lab
def test_reload_switches_the_tftp_root_between_two_requests() -> None:
    """In one process, on loopback: a reload that points tftp-root elsewhere serves the next
    request from the new tree (the old tree's transfers keep their open file)."""
    import asyncio
    import pwd

    import tftpy

    from pxelab.lab.services import tftptree
    from pxelab.serve.reload import ConfigSource, Reloader
    from pxelab.serve.server import PxeServer

    work = Path(tempfile.mkdtemp(prefix="pxelab-realnet-", dir="/tmp"))
    try:
        work.chmod(0o755)
        trees = [tftptree.seed_tree(work / name) for name in ("a", "b")]
        (trees[1] / "pxelinux.cfg" / "default").write_text(
            (trees[0] / "pxelinux.cfg" / "default").read_text() + "# tree b\n")
        conf = work / "dnsmasq.conf"
        conf.write_text(tftptree.adjust_dnsmasq_conf(
            (tftptree.SEED_DIR / "dnsmasq.conf").read_text(), trees[0]))
        source = ConfigSource(conf)
        me = pwd.getpwuid(os.getuid()).pw_name

        def fetch(port: int, out: Path) -> bytes:
            tftpy.TftpClient("127.0.0.1", port).download("pxelinux.cfg/default", str(out))
            return out.read_bytes()

        async def main() -> tuple[bytes, bytes, bool]:
            server = PxeServer(source.load(), proxy=False, listen="127.0.0.1", tftp_port=0)
            await server.start()
            try:
                assert server.tftp is not None
                port = server.tftp.port
                before = await asyncio.to_thread(fetch, port, work / "1")
                conf.write_text(conf.read_text().replace(str(trees[0]), str(trees[1])))
                ok = Reloader(server, source, user=me).reload()
                after = await asyncio.to_thread(fetch, port, work / "2")
            finally:
                await server.stop()
            return before, after, ok

        before, after, ok = asyncio.run(main())
        assert ok
        assert before == (trees[0] / "pxelinux.cfg" / "default").read_bytes()
        assert after == (trees[1] / "pxelinux.cfg" / "default").read_bytes() != before
    finally:
        shutil.rmtree(work, ignore_errors=True)
