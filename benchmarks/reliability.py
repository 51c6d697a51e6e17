"""Reliability figures: pxelab against dnsmasq, one table (issue 9).

    sudo python benchmarks/reliability.py [--clients 200] [--fuzz 20000] [--json FILE]
    python benchmarks/reliability.py --http-only [--http-repeat 3]   # no root needed

- decoder inputs: mutated capture packets (DHCP and TFTP), random option values for every
  code, hostile DHCP layouts; each decoded, refused (a WireError subclass: malformed input) or
  crashed (any other exception, or the plain WireError of a safety net: a decoder bug), counted
  apart so a bug never passes as a survivor (tests.wire.refusals decides);
- malformed packets on the wire (pxelab.lab.drills.corpus): packets sent to 67, 4011, 69 and a live
  transfer port, and how many of the batches were followed by a correct proxy offer, 4011 ACK
  and byte-for-byte TFTP download;
- faults (Lab.impair on the client's cable): 5, 10 and 20 % loss, 100 ms delay with 30 ms
  jitter, 10 % duplication, 25 % reordering (with 10 ms delay): did `pxelab probe` reach the
  PXELINUX menu, after how many walks (a reboot when the ROM gave up) and how many seconds;
  the server killed mid-transfer and the proxy restarted between DISCOVER and 4011;
- a boot storm: N scripted clients at once in one lab (lab.drills.storm), how many reached the
  menu and the time to the last menu;
- HTTP (`pxelab serve --http-port` on 127.0.0.1, no root needed; dnsmasq has no HTTP server):
  the traversal corpus of tests/hardening/test_http_containment.py with the canary watched by
  inotify, the bad requests of tests/hardening/test_http_requests.py (400, 414, 431, 416) each
  followed by a normal GET, curl's 256 MiB alone and beside 1000 slowloris sockets (the ratio),
  and the seconds until the default header timeout has closed the 1000 and freed their fds.

Every lab is its own set of namespaces; the fault labs run side by side (their walks mostly
wait for timeouts), the storms one after the other. Needs root; without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVERS = ("pxelab", "dnsmasq")
FAULTS = {
    "5 % loss": {"loss": 5.0},
    "10 % loss": {"loss": 10.0},
    "20 % loss": {"loss": 20.0},
    "100 ms delay, 30 ms jitter": {"delay_ms": 100.0, "jitter_ms": 30.0},
    "10 % duplication": {"duplicate": 10.0},
    "25 % reordering (10 ms delay)": {"delay_ms": 10.0, "reorder": 25.0},
}


# ----------------------------------------------------------------------------- decoders


def fuzz_decoders(n: int, seed: int = 1) -> dict[str, Any]:
    """`n` hostile inputs through the decoders: how many decoded, were refused (a WireError
    subclass) or crashed (anything else: a decoder bug), with the first crashes' reprs."""
    from pxelab.wire import dhcp, options
    from pxelab.wire import tftp as w
    from tests.hardening.test_fuzz_wire import (
        capture_option_values,
        decode_pxe_value,
        dhcp_payloads,
        hostile,
        mutate,
        tftp_seeds,
    )
    from tests.wire.refusals import outcome

    rng = random.Random(seed)
    pxe_values = [cv for cv in capture_option_values() if cv[0] in (43, 60, 77, 93, 94, 97, 175)]
    counts = {"tried": 0, "decoded": 0, "refused": 0, "crashed": 0}
    bugs: list[str] = []
    for i in range(n):
        kind = i % 5
        decode: Callable[..., object]
        if kind == 0:
            decode, args = dhcp.decode, (mutate(rng, rng.choice(dhcp_payloads())),)
        elif kind == 1:
            decode, args = dhcp.decode, (hostile(rng),)
        elif kind == 2:
            decode, args = w.decode, (mutate(rng, rng.choice(tftp_seeds())),)
        elif kind == 3:
            decode = options.decode_value
            args = (rng.randrange(1, 255), rng.randbytes(rng.randrange(40)))
        else:
            code, raw = rng.choice(pxe_values)
            decode, args = decode_pxe_value, (code, mutate(rng, raw))
        what, exc = outcome(partial(decode, *args))
        counts["tried"] += 1
        counts[what] += 1
        if what == "crashed" and len(bugs) < 20:
            bugs.append(f"{('dhcp', 'dhcp', 'tftp', 'option', 'pxe')[kind]}: {exc!r}"[:200])
    return {**counts, "bugs": bugs}


# ----------------------------------------------------------------------------- labs


def corpus_run(server: str) -> dict[str, Any]:
    from pxelab.lab.drills.storm import CLIENT_IP, PROXY_IP, PxeSegment

    with PxeSegment(proxy=server) as seg:
        proc = seg.cl.run([sys.executable, "-m", "pxelab.lab.drills.corpus", "--server", PROXY_IP,
                           "--local", CLIENT_IP, "--file", "pxelinux.0",
                           "--expect", str(seg.tree / "pxelinux.0")], timeout=600)
        try:
            out = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return {"error": proc.stderr[-500:]}
        out["alive"] = seg.proxy_alive()
    return out


def fault_run(server: str, impairment: dict[str, float], mac: str) -> dict[str, Any]:
    from pxelab.lab.drills.storm import PxeSegment

    with PxeSegment(proxy=server) as seg:
        seg.lab.impair("cl", **impairment)
        for attempt in range(1, 5):
            t0 = time.monotonic()
            data = seg.walk_json("--mac", mac, "--timeout", "60", timeout=300)
            if data.get("ok") and data.get("reached") == "menu":
                return {"ok": True, "attempts": attempt, "menu_s": data.get("menu_at"),
                        "walk_s": round(time.monotonic() - t0, 1)}
        return {"ok": False, "attempts": 4, "failure": data.get("failure")}


def drill_run(server: str, which: str) -> dict[str, Any]:
    from pxelab.lab.drills.storm import PxeSegment, proxy_restart_drill, tftp_restart_drill

    with PxeSegment(proxy=server) as seg:
        return (tftp_restart_drill if which == "tftp" else proxy_restart_drill)(seg)


def storm_run(server: str, clients: int) -> dict[str, Any]:
    from pxelab.lab.drills.storm import PxeSegment

    with PxeSegment(proxy=server) as seg:
        out = seg.storm(clients, timeout=120)
        out["alive"] = seg.proxy_alive()
    return out


# ----------------------------------------------------------------------------- HTTP

HTTP_IDLE = 1000
NO_HTTP = "(no HTTP server)"


def _http_request(port: int, data: bytes) -> tuple[int, bytes]:
    """`data` as is on its own connection: (status, body), read to the server's close."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    line, _, rest = out.partition(b"\r\n")
    status = int(line.split()[1]) if line.startswith(b"HTTP/") else 0
    return status, rest.partition(b"\r\n\r\n")[2]


def _http_get(target: bytes, *headers: bytes) -> bytes:
    return (b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"Connection: close\r\n\r\n")


def _http_jail(root: Path, outside: Path) -> Path:
    """The jail of the containment test: a canary and a FIFO outside, symlinks to them."""
    canary = outside / "canary"
    canary.write_bytes(b"never serve me\n")
    os.mkfifo(outside / "fifo")
    (root / "sub").mkdir()
    (root / "escape").symlink_to(canary)
    (root / "escape_dir").symlink_to(outside)
    (root / "zero").symlink_to("/dev/zero")
    (root / "fifo_link").symlink_to(outside / "fifo")
    (root / "ok.efi").write_bytes(b"fine\n")
    (root / "disk.iso").write_bytes(os.urandom(100000))
    return canary


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def http_section(repeat: int) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """The HTTP rows: containment, bad requests, the slowloris crowd (see the docstring)."""
    import hashlib
    import resource
    import signal
    import subprocess
    import tempfile

    from benchmarks.httpboot import MiB, fetch, free_port, pxelab, wait_http
    from tests.hardening.test_http_containment import corpus
    from tests.hardening.test_http_requests import MALFORMED, RANGES, TOO_LARGE, Crowd
    from tests.inotify import Watch

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2 * HTTP_IDLE + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # ulimit -n up to the hard one
    fig: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pxelab-httprel-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        root, outside = work / "root", work / "outside"
        root.mkdir()
        outside.mkdir()
        canary = _http_jail(root, outside)
        with open(root / "big.img", "wb") as f:
            for _ in range(256):
                f.write(os.urandom(MiB))
        port = free_port()
        argv = pxelab(root, port, work)
        if os.geteuid() != 0:  # no privileges to drop
            i = argv.index("--user")
            del argv[i:i + 2]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        with open(work / "pxelab.log", "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/ok.efi", proc)

            # containment: every case answered as the test says, the canary never opened
            watch = Watch(outside, canary, outside / "fifo")
            cases = corpus(canary)
            right = sum(_http_request(port, _http_get(t))[0] == want for _, t, want, _ in cases)
            fig["traversal"] = {"cases": len(cases), "right": right, "canary": watch.events()}
            watch.close()

            # bad requests, each followed by a normal GET that must come back whole
            bad = [(d, 400) for _, d in MALFORMED] + [(d, 431) for _, d in TOO_LARGE]
            bad.append((_http_get(b"/" + b"a" * 9000), 414))
            bad += [(_http_get(b"/disk.iso", b"Range: " + v.encode()), 416)
                    for _, v in RANGES]
            ok_after = answered = 0
            for data, want in bad:
                answered += _http_request(port, data)[0] == want
                ok_after += _http_request(port, _http_get(b"/ok.efi")) == (200, b"fine\n")
            fig["bad"] = {"sent": len(bad), "right": answered, "served_after": ok_after}

            # 256 MiB alone and beside the crowd, interleaved; best of `repeat` each
            size = 256 * MiB
            url = f"http://127.0.0.1:{port}/big.img"
            alone = beside = 0.0
            held = True
            for _ in range(repeat):
                alone = max(alone, fetch(url, 1, size))
                crowd = Crowd(port, HTTP_IDLE)
                try:
                    time.sleep(0.5)  # accepted
                    beside = max(beside, fetch(url, 1, size))
                    held = held and crowd.count_closed() == 0
                finally:
                    crowd.close()
            fig["throughput"] = {"alone_mib_s": alone, "beside_mib_s": beside,
                                 "crowd_held": held}
            out = subprocess.run(["curl", "-sS", "-o", "-", url], capture_output=True,
                                 timeout=600, check=False).stdout
            fig["byte_correct"] = (hashlib.sha256(out).digest()
                                   == hashlib.sha256((root / "big.img").read_bytes()).digest())

            # the default header timeout frees the crowd's descriptors
            time.sleep(1)
            base = _fds(proc.pid)
            crowd = Crowd(port, HTTP_IDLE)
            t0 = time.monotonic()
            try:
                time.sleep(1)
                held_fds = _fds(proc.pid)
                while crowd.count_closed() < HTTP_IDLE and time.monotonic() - t0 < 300:
                    time.sleep(0.1)
                closed_s = time.monotonic() - t0
                closed = crowd.count_closed()
            finally:
                crowd.close()
            fig["timeout"] = {"closed": closed, "seconds": round(closed_s, 1),
                              "fds_before": base, "fds_with_crowd": held_fds,
                              "fds_after": _fds(proc.pid)}
            fig["alive"] = proc.poll() is None and _http_request(
                port, _http_get(b"/ok.efi"))[0] == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    tr, bd, th, to = fig["traversal"], fig["bad"], fig["throughput"], fig["timeout"]
    rows = [
        ("HTTP traversal: answered right, canary opens",
         f"{tr['right']}/{tr['cases']}, {tr['canary']} opens", NO_HTTP),
        ("HTTP bad requests (400/414/431/416): right, then served",
         f"{bd['right']}/{bd['sent']}, {bd['served_after']}/{bd['sent']}", NO_HTTP),
        ("HTTP 256 MiB alone / beside 1000 idle",
         f"{th['alone_mib_s']:.0f} / {th['beside_mib_s']:.0f} MiB/s"
         + ("" if th["crowd_held"] and fig["byte_correct"] else " (CHECK FAILED)"), NO_HTTP),
        ("HTTP speed beside 1000 idle / alone",
         f"{th['beside_mib_s'] / th['alone_mib_s']:.2f}", NO_HTTP),
        ("HTTP 1000 idle closed by the header timeout",
         f"{to['closed']}/{HTTP_IDLE} in {to['seconds']} s; fds {to['fds_before']} -> "
         f"{to['fds_with_crowd']} -> {to['fds_after']}", NO_HTTP),
        ("HTTP server alive and serving after all", "yes" if fig["alive"] else "NO", NO_HTTP),
    ]
    return rows, fig


# ----------------------------------------------------------------------------- table


def cell_fault(r: dict[str, Any]) -> str:
    if "error" in r:
        return "error: " + r["error"][:40]
    if not r.get("ok"):
        f = r.get("failure") or {}
        return f"FAILED ({f.get('link', '?')})"
    extra = f", {r['attempts']} walks" if r["attempts"] > 1 else ""
    return f"menu in {r['menu_s']:.1f} s{extra}"


def safe(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except Exception as exc:  # one broken lab is a cell of the table, not the end of the run
        return {"error": repr(exc)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=200, help="clients in the storm (200)")
    p.add_argument("--fuzz", type=int, default=20000, help="decoder inputs (20000)")
    p.add_argument("--json", metavar="FILE", help="also write the figures here")
    p.add_argument("--http-repeat", type=int, default=3,
                   help="256 MiB runs alone and beside the idle crowd, best of (3; 0: no HTTP)")
    p.add_argument("--http-only", action="store_true", help="the decoder and HTTP rows only")
    a, _ = p.parse_known_args()
    started = time.monotonic()

    fz = fuzz_decoders(a.fuzz)
    rows: list[tuple[str, str, str]] = [
        ("decoder inputs: tried / decoded / refused", f"{fz['tried']} / {fz['decoded']} / "
         f"{fz['refused']}", "(same decoders: n/a)"),
        ("decoder inputs: crashed (bugs)", str(fz["crashed"]), "")]
    figures: dict[str, Any] = {"fuzz": fz}
    if a.http_repeat > 0:
        http_rows_, figures["http"] = http_section(a.http_repeat)
        rows += http_rows_
    if a.http_only:
        print_table(rows)
        if a.json:
            Path(a.json).write_text(json.dumps(figures, indent=1, default=str))
        return 0

    if os.geteuid() != 0:
        print("reliability: the lab parts need root (network namespaces); decoder figures only")
        print_table(rows)
        return 0

    with ThreadPoolExecutor(max_workers=len(SERVERS) * (len(FAULTS) + 3)) as pool:
        corpus = {s: pool.submit(safe, corpus_run, s) for s in SERVERS}
        faults = {(s, name): pool.submit(safe, fault_run, s, imp, f"52:54:00:fb:{i:02x}:{j:02x}")
                  for i, s in enumerate(SERVERS) for j, (name, imp) in enumerate(FAULTS.items())}
        drills = {(s, d): pool.submit(safe, drill_run, s, d)
                  for s in SERVERS for d in ("tftp", "proxy")}
        corpus_r = {s: f.result() for s, f in corpus.items()}
        fault_r = {k: f.result() for k, f in faults.items()}
        drill_r = {k: f.result() for k, f in drills.items()}
    storm_r = {s: safe(storm_run, s, a.clients) for s in SERVERS}

    def corpus_cell(r: dict[str, Any]) -> str:
        if "batches" not in r:
            return "error: " + str(r.get("error", ""))[:40]
        ok = sum(b["dhcp_ok"] and b["pxe_ok"] and b["tftp_ok"] for b in r["batches"])
        return f"{r['sent']} sent, {ok}/{len(r['batches'])} batches served after"

    rows.append(("malformed packets on the wire", *(corpus_cell(corpus_r[s]) for s in SERVERS)))
    for name in FAULTS:
        rows.append((name, *(cell_fault(fault_r[(s, name)]) for s in SERVERS)))
    for d, label in (("tftp", "server killed mid-transfer, restarted"),
                     ("proxy", "proxy restarted between DISCOVER and 4011")):
        rows.append((label, *("recovered" if drill_r[(s, d)].get("ok") else
                              f"FAILED {drill_r[(s, d)]}"[:60] for s in SERVERS)))
    faults_ok = {s: sum(fault_r[(s, n)].get("ok", False) for n in FAULTS)
                 + sum(drill_r[(s, d)].get("ok", False) for d in ("tftp", "proxy"))
                 for s in SERVERS}
    rows.append(("faults survived", *(f"{faults_ok[s]} / {len(FAULTS) + 2}" for s in SERVERS)))

    def storm_cell(r: dict[str, Any]) -> str:
        if "served" not in r:
            return "error: " + str(r.get("error", ""))[:40]
        return f"{r['served']}/{r['clients']} menus, last at {r['last_menu_s']} s"

    rows.append((f"boot storm of {a.clients}", *(storm_cell(storm_r[s]) for s in SERVERS)))
    sp, sd = storm_r["pxelab"].get("last_menu_s"), storm_r["dnsmasq"].get("last_menu_s")
    if sp and sd:
        rows.append(("storm time, pxelab / dnsmasq", f"{sp / sd:.2f}", ""))
    print_table(rows)
    print(f"(run took {time.monotonic() - started:.0f} s)")
    figures.update(corpus=corpus_r, faults={f"{s}: {n}": r for (s, n), r in fault_r.items()},
                   drills={f"{s}: {d}": r for (s, d), r in drill_r.items()}, storm=storm_r)
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1, default=str))
    return 0


def print_table(rows: list[tuple[str, ...]]) -> None:
    head = ("", "pxelab", "dnsmasq")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(3)]
    line = "+".join("-" * (w + 2) for w in widths)
    print(line)
    for r in [head, *rows]:
        print("|".join(f" {c!s:<{w}} " for c, w in zip(r, widths, strict=False)))
        if r is head:
            print(line)
    print(line)


if __name__ == "__main__":
    sys.exit(main())
