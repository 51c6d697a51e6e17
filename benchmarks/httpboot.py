"""HTTP throughput: pxelab's boot file server against nginx (Debian's, sendfile on), curl as client.

Both servers run in the same run on the host's loopback, on ephemeral ports, serving the same
directory. As benchmarks/tftp.py, every server is pinned to CPU 0 and the curl clients to CPU 1
(`taskset`), so the clients' CPU does not count against the server; nginx runs one worker
(pxelab is one process, one event loop; `--nginx-workers` changes it).

Rows: one 256 MiB file by one curl; the same file by 16 curls at once (aggregate MiB/s). Both
servers run at once and the runs are interleaved (pxelab, nginx, pxelab, ...), so a machine
busy with something else slows both alike; each row is the best of `--repeat` runs, and prints
pxelab / nginx.

    python benchmarks/httpboot.py [--repeat N] [--size-mib 256] [--parallel 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--nginx-workers", type=int, default=1)
    args = ap.parse_args()
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
