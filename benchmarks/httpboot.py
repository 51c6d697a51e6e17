"""HTTP throughput: pxelab's boot file server against nginx (Debian's, sendfile on), curl as client.

Both servers run in the same run on the host's loopback, on ephemeral ports, serving the same
directory. As benchmarks/tftp.py, every server is pinned to CPU 0 and the curl clients to CPU 1
(`taskset`), so the clients' CPU does not count against the server; nginx runs one worker
(pxelab is one process, one event loop; `--nginx-workers` changes it).

Rows: one 256 MiB file by one curl; the same file by 16 curls at once (aggregate MiB/s). Both
servers run at once and the runs are interleaved (pxelab, nginx, pxelab, ...), so a machine
busy with something else slows both alike; each row is the best of `--repeat` runs, and prints
pxelab / nginx.

Then, as root, a real boot (`--boot-repeat`, 0 leaves it out): seconds from QEMU start to the
test guest's command line, the lab's pc-bios VM (SeaBIOS, iPXE on an RTL8139, TCG) booting the
amd64 guest kernel and its initrd padded to 64 MiB, the same script and files (iPXE names
without a scheme resolve against the script's own URL) three ways, alternating in one run:
iPXE over HTTP from pxelab, over TFTP from pxelab, over TFTP from dnsmasq. A dnsmasq home
router (with IPv6 RAs) beside the proxy in a lab of namespaces. Target: HTTP >= 3x faster than
TFTP.

    python benchmarks/httpboot.py [--repeat N] [--size-mib 256] [--parallel 16] [--boot-repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.args}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read(1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


@contextlib.contextmanager
def running(argv: list[str], url: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        wait_http(url, proc)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pxelab(root: Path, port: int, work: Path) -> list[str]:
    env_py = sys.executable
    return [*pin(0), env_py, "-m", "pxelab", "serve", "--no-proxy", "--user", "root",
            "--tftp-root", str(root), "--listen", "127.0.0.1",
            "--tftp-port", str(free_port()), "--http-port", str(port)]


def nginx(root: Path, port: int, work: Path, workers: int) -> list[str]:
    conf = work / "nginx.conf"
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / d).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user}worker_processes {workers};
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75;
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ application/efi efi; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    return [*pin(0), shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf),
            "-p", str(work)]


def fetch(url: str, n: int, size: int) -> float:
    """n curls at once of `url` (on CPU 1); aggregate MiB/s, wall clock."""
    argv = [*pin(1), "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}\n", url]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE) for _ in range(n)]
    got = 0
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"curl failed on {url}")
        got += int(out.strip() or 0)
    dt = time.perf_counter() - t0
    if got != n * size:
        raise SystemExit(f"{url}: got {got} bytes, expected {n * size}")
    return got / MiB / dt


# ------------------------------------------------------------------------------ a real boot

BOOT_TARGET = 3.0  # HTTP at least this many times faster than TFTP
ROUTER_CONF = """\
port=0
interface=eth0
bind-interfaces
dhcp-range=192.168.10.100,192.168.10.150,12h
no-ping
enable-ra
dhcp-range=::,constructor:eth0,ra-stateless
"""
# The proxy: iPXE (user class iPXE) gets the script by URL; the next-server is needed, as
# iPXE takes a proxy's boot file only with one (docs/guide.md, "iPXE over HTTP"). dnsmasq's
# proxy says nothing to a PXE client without a pxe-service or pxe-prompt: a prompt of 0 s.
PROXY_CONF = """\
port=0
log-dhcp
enable-tftp
tftp-root={root}
dhcp-range=192.168.10.20,proxy
dhcp-userclass=set:ipxe,iPXE
dhcp-boot=tag:ipxe,{url},,192.168.10.20
pxe-prompt="PXE",0
"""
BOOT_SCRIPT = """\
#!ipxe
kernel images/vmlinuz console=ttyS0 pxelab.bench={how}
initrd images/initrd.gz
boot
"""
# (label, proxy, boot file URL)
BOOTS = [
    ("HTTP, pxelab", "pxelab", "http://192.168.10.20:8080/boot.ipxe"),
    ("TFTP, pxelab", "pxelab", "tftp://192.168.10.20/boot.ipxe"),
    ("TFTP, dnsmasq", "dnsmasq", "tftp://192.168.10.20/boot.ipxe"),
]


def _wait_log(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    shown = path.read_text(errors="replace") if path.exists() else ""
    raise RuntimeError(f"{path}: no {text!r}:\n{shown[-2000:]}")


def _start(host: object, kind: str, conf: Path, log: Path, http: bool) -> subprocess.Popen[bytes]:
    if kind == "dnsmasq":
        argv = [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "-C", str(conf), "-k",
                "--user=root", "--pid-file=", f"--log-facility={log}",
                f"--dhcp-leasefile={conf.with_suffix('.leases')}"]
        proc = host.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # type: ignore[attr-defined]
        _wait_log(log, "proxy on subnet" if "proxy" in conf.read_text() else "DHCP, IP range",
                  proc)
        return proc
    argv = [sys.executable, "-m", "pxelab", "serve", "--user", "root", "--dnsmasq-conf",
            str(conf), *(["--http-port", "8080"] if http else [])]
    with open(log, "wb") as fh:
        proc = host.popen(argv, stdout=fh, stderr=subprocess.STDOUT)  # type: ignore[attr-defined]
    _wait_log(log, "HTTP root is" if http else "proxy on subnet", proc)
    return proc


# NIC models for --nics: QEMU device and Debian's iPXE ROM for it (BIOS builds)
NICS = {
    "rtl8139": ("rtl8139", "/usr/lib/ipxe/qemu/pxe-rtl8139.rom"),
    "e1000": ("e1000", "/usr/lib/ipxe/qemu/pxe-e1000.rom"),
}


def _profile(nic: str) -> object:
    from dataclasses import replace

    from pxelab.lab.machines.profile import load_profile

    profile = load_profile("pc-bios")
    model, rom = NICS[nic]
    return replace(profile, nic=replace(profile.nic, model=model, romfile=Path(rom)))


def real_boots(repeat: int, work: Path, nics: list[str]) -> dict[str, list[float]]:
    """Seconds from QEMU start to the guest's command line, per NIC and way of booting."""
    from pxelab.lab.machines import guest
    from pxelab.lab.machines.vm import VM
    from pxelab.lab.network.topology import Lab
    from pxelab.lab.scenario.clients import CMDLINE_MARK
    from pxelab.lab.services import tftptree

    root = work / "tftpboot"
    tftptree.build_tree(root, bios=False, files={
        "images/vmlinuz": guest.artifact("kernel-amd64"),
        "images/initrd.gz": guest.artifact("initrd-64m"),
    })  # fmt: skip
    size = (root / "images/initrd.gz").stat().st_size
    results: dict[str, list[float]] = {f"{nic}: {label}": [] for nic in nics
                                       for label, _, _ in BOOTS}
    with Lab() as lab:
        rtr = lab.add_host("rtr", ipv4="192.168.10.1/24", ipv6="fd00:10::1/64")
        pxe = lab.add_host("pxe", ipv4="192.168.10.20/24")
        tap = lab.add_tap("vm0")
        (work / "router.conf").write_text(ROUTER_CONF)
        _start(rtr, "dnsmasq", work / "router.conf", work / "router.log", False)
        for i, nic in ((i, nic) for i in range(repeat) for nic in nics):
            profile = _profile(nic)
            for n, (way, kind, url) in enumerate(BOOTS):
                label = f"{nic}: {way}"
                how = way.replace(", ", "-").lower()
                (root / "boot.ipxe").write_text(BOOT_SCRIPT.format(how=how))
                conf = work / f"proxy-{n}.conf"
                conf.write_text(PROXY_CONF.format(root=root, url=url))
                tftptree.make_readable(root)
                log = work / f"proxy-{nic}-{n}-{i}.log"
                proc = _start(pxe, kind, conf, log, url.startswith("http"))
                try:
                    with VM(profile, lab=lab, tap=tap, workdir=work / f"vm-{nic}-{n}-{i}",
                            accel="tcg") as vm:
                        # a boot that went nowhere fails at once, not at the timeout
                        vm.console.fatal = (*vm.console.fatal, "No bootable device",
                                            "Nothing to boot")
                        m = vm.console.wait_for_text(CMDLINE_MARK, 300)
                        seen = vm.console.first_seen(CMDLINE_MARK, end=True)
                        assert vm.started_at is not None and f"pxelab.bench={how}" in m.group(1)
                        results[label].append((seen or time.monotonic()) - vm.started_at)
                except Exception as exc:  # report, and go on with the others
                    print(f"real boot {label} #{i + 1} failed: {exc}\n{log}:\n"
                          + log.read_text(errors="replace")[-1500:], file=sys.stderr)
                finally:
                    lab.stop(proc)
    print(f"Real boot: pc-bios (SeaBIOS + iPXE ROM of the NIC, TCG) to the guest's command "
          f"line, amd64 kernel + {size >> 20} MiB initrd, median of {repeat} (seconds)")
    return results


def print_boots(results: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"{'NIC: way':<26}{'seconds':>10}   runs")
    for label, runs in results.items():
        cell = f"{med[label]:10.1f}" if label in med else f"{'failed':>10}"
        print(f"{label:<26}{cell}   {', '.join(f'{t:.1f}' for t in runs) or '-'}")
    for nic in dict.fromkeys(k.split(":")[0] for k in results):
        http = med.get(f"{nic}: HTTP, pxelab")
        for other in ("TFTP, pxelab", "TFTP, dnsmasq"):
            tftp = med.get(f"{nic}: {other}")
            if http and tftp:
                ratio = tftp / http
                verdict = "met" if ratio >= BOOT_TARGET else "missed"
                print(f"{nic}: HTTP {ratio:.2f}x faster than {other} "
                      f"(target >= {BOOT_TARGET:g}x: {verdict})")
    print("load average at the end: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--boot-repeat", type=int, default=1,
                    help="real boots per way (needs root; 0: none)")
    ap.add_argument("--boot-only", action="store_true", help="the real boot rows only")
    ap.add_argument("--nics", default="rtl8139",
                    help=f"NICs of the real boot, comma-separated, of {', '.join(NICS)}")
    args = ap.parse_args()
    nics = [n for n in args.nics.split(",") if n]
    if unknown := [n for n in nics if n not in NICS]:
        ap.error(f"--nics: unknown {', '.join(unknown)} (known: {', '.join(NICS)})")
    if args.boot_only:
        return boot_rows(args.boot_repeat, nics)
    code = throughput(args)
    if code == 0 and args.boot_repeat > 0:
        code = boot_rows(args.boot_repeat, nics)
    return code


def boot_rows(repeat: int, nics: list[str]) -> int:
    if os.geteuid() != 0:
        print("real boot: needs root (network namespaces); left out", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="pxelab-httpboot-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        results = real_boots(repeat, work, nics)
    print_boots(results)
    return 0 if all(results.values()) else 1


def throughput(args: argparse.Namespace) -> int:
    if not shutil.which("curl"):
        print("httpboot: curl is needed", file=sys.stderr)
        return 2
    have_nginx = shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="pxelab-httpbench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        root = work / "root"
        root.mkdir()
        with open(root / "big.img", "wb") as f:
            chunk = os.urandom(MiB)
            for _ in range(args.size_mib):
                f.write(chunk)
        rows = [(f"1 x {args.size_mib} MiB", 1), (f"{args.parallel} at once", args.parallel)]
        results: dict[str, dict[str, float]] = {"pxelab": {}, "nginx": {}}
        p_port, n_port = free_port(), free_port()
        servers = [("pxelab", pxelab(root, p_port, work), p_port)]
        if have_nginx:
            servers.append(("nginx", nginx(root, n_port, work, args.nginx_workers), n_port))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        os.environ.update(env)
        with contextlib.ExitStack() as stack:
            urls = {}
            for name, argv, port in servers:
                urls[name] = f"http://127.0.0.1:{port}/big.img"
                stack.enter_context(running(argv, urls[name], work / f"{name}.log"))
            # interleaved (pxelab, nginx, pxelab, ...): a busy machine slows both alike
            for _ in range(args.repeat):
                for label, n in rows:
                    for name, url in urls.items():
                        got = fetch(url, n, size)
                        results[name][label] = max(results[name].get(label, 0.0), got)
        print(f"HTTP throughput, curl on loopback, best of {args.repeat} "
              f"(servers on CPU 0, curl on CPU 1; nginx {args.nginx_workers} worker)")
        print(f"{'row':<16}{'pxelab MiB/s':>14}{'nginx MiB/s':>14}{'ratio':>8}")
        for label, _ in rows:
            p = results["pxelab"][label]
            n = results["nginx"].get(label)
            ratio = f"{p / n:.2f}x" if n else "-"
            print(f"{label:<16}{p:>14.0f}{(n or 0):>14.0f}{ratio:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
