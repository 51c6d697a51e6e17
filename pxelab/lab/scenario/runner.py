"""Run one scenario end to end: tree, network, services, clients, steps, checks, teardown, report.

    result = run_scenario(load("scenarios/seed-tinycore"), report_dir=Path("report/seed-tinycore"))

Each scenario gets a lab of its own (random lab id, so runs in parallel never clash). Teardown
always happens: the `Lab` context manager stops every process and deletes every namespace on
success, failure, timeout and Ctrl-C. The report folder is written last, from what was kept.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pxelab.lab.network.topology import Lab
from pxelab.lab.report import html as report_mod
from pxelab.lab.report.results import ClientResult, Result
from pxelab.lab.report.timeline import Timeline
from pxelab.lab.scenario import clients as client_mod
from pxelab.lab.scenario.assertions import (
    StepFailure,
    check_expect,
    dnsmasq_events,
    tftp_requests,
)
from pxelab.lab.scenario.model import SCENARIO_FILE, Scenario
from pxelab.lab.services import router as router_conf
from pxelab.lab.services import tftptree
from pxelab.lab.services.commands import dnsmasq_command, pxelab_command
from pxelab.serve.events import read_events

ProgressFn = Callable[[str, str], None]  # (scenario name, phase)

SERVICE_READY_TIMEOUT = 15.0
RA_ADDRESS = "fd00:10::1/64"


class ServiceError(RuntimeError):
    pass


def _tree_ignore(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == SCENARIO_FILE or n == "__pycache__" or n.endswith(".pyc")]


def build_tree(scn: Scenario, work: Path) -> Path:
    """The TFTP root a scenario serves: its own tftp_root, or PXELINUX + the scenario folder."""
    if scn.proxy.tftp_root is not None:
        return scn.proxy.tftp_root
    root = work / "tftpboot"
    shutil.copytree(scn.tftp.source or scn.directory, root, ignore=_tree_ignore,
                    dirs_exist_ok=True)
    files: dict[str, Path | bytes] = {
        name: tftptree.placeholder(name) for name in scn.tftp.placeholders
    }
    for relpath, artifact in scn.tftp.guest.items():
        files[relpath] = client_mod.guest_artifact(artifact)
    tftptree.build_tree(root, bios=scn.tftp.bios, efi64=scn.tftp.efi64, files=files,
                        shim=scn.tftp.shim)
    vm_console = scn.tftp.vm_console if scn.tftp.vm_console is not None else scn.needs_qemu
    if vm_console:
        for cfg in root.rglob("pxelinux.cfg/*"):
            if cfg.is_file():
                cfg.write_text(vm_console_config(cfg.read_text(errors="replace")))
    return root


_SERIAL = re.compile(r"^\s*serial\b", re.IGNORECASE)
_APPEND = re.compile(r"^\s*append\b", re.IGNORECASE)


def vm_console_config(text: str) -> str:
    """A PXELINUX config as a QEMU lab serves it. SeaBIOS (graphics=off) and OVMF already copy
    the screen to the serial port, so PXELINUX's own SERIAL output would double every character;
    and the guest kernel needs console=ttyS0 to print its command line where the lab reads."""
    out = []
    for line in text.splitlines():
        if _SERIAL.match(line):
            continue
        if _APPEND.match(line) and "console=" not in line:
            line = f"{line} console=ttyS0"
        out.append(line)
    return "\n".join(out) + "\n"


class _Services:
    """Router and proxy processes in their namespaces, with their event sources."""

    def __init__(self, scn: Scenario, lab: Any, work: Path, tree: Path) -> None:
        self.scn, self.lab, self.work, self.tree = scn, lab, work, tree
        self.event_files: list[Path] = []
        self.dnsmasq_logs: list[tuple[Path, str]] = []
        self.procs: list[tuple[str, subprocess.Popen[Any], Path]] = []

    def _start(
        self, host: Any, name: str, argv: list[str], stamp: bool = False
    ) -> subprocess.Popen[Any]:
        log = self.work / f"{name}.log"
        if not stamp:
            fh = open(log, "wb")  # noqa: SIM115 - the child owns it until teardown
            proc = host.popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            fh.close()
        else:
            # dnsmasq's stderr log has no clock: stamp each line as it arrives, so its events
            # line up with everything else.
            proc = host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)  # fmt: skip
            threading.Thread(target=_stamp_lines, args=(proc.stdout, log), daemon=True).start()
        self.procs.append((name, proc, log))
        return proc

    def start_router(self, host: Any) -> None:
        r = self.scn.router
        if r.implementation == "dnsmasq":
            conf = self.work / "router-dnsmasq.conf"
            conf.write_text(router_conf.dnsmasq_router_conf(r))
            conf.chmod(0o644)
            log = self.work / "router.log"
            self.dnsmasq_logs.append((log, "router"))
            self._start(host, "router", dnsmasq_command(conf, self.work / "router.pid"), True)
            return
        events = self.work / "events-router.jsonl"
        self.event_files.append(events)
        self._start(host, "router", [*pxelab_command(), *router_conf.pxelab_router_args(r, events)])

    def start_proxy(self, host: Any) -> None:
        p = self.scn.proxy
        conf = None
        if p.dnsmasq_conf is not None:
            conf = tftptree.write_dnsmasq_conf(
                p.dnsmasq_conf, self.work / "proxy-dnsmasq.conf", self.tree,
                extra="interface=eth0\nbind-interfaces" if p.implementation == "dnsmasq" else "",
            )  # fmt: skip
        if p.implementation == "dnsmasq":
            assert conf is not None
            self.dnsmasq_logs.append((self.work / "proxy.log", "proxydhcp"))
            self._start(host, "proxy", dnsmasq_command(conf, self.work / "proxy.pid"), True)
            return
        events = self.work / "events-proxy.jsonl"
        self.event_files.append(events)
        argv = [*pxelab_command(), "serve", "--user", "root",
            "--interface", "eth0", "--tftp-root", str(self.tree),
                "--events", str(events)]  # fmt: skip
        if conf is not None:
            argv += ["--dnsmasq-conf", str(conf)]
        if p.config is not None:
            argv += ["--config", str(p.config)]
        if p.log_dhcp:
            argv.append("--log-dhcp")
        self._start(host, "proxy", argv)

    def wait_ready(self, hosts: dict[str, Any], timeout: float = SERVICE_READY_TIMEOUT) -> None:
        """Until each service listens (router: UDP 67; proxy: 67 and 69), or say why not."""
        want = {"router": {67}, "proxy": {67, 69}}
        deadline = time.monotonic() + timeout
        pending = {name for name, _, _ in self.procs}
        while pending:
            for name, proc, log in self.procs:
                if name not in pending:
                    continue
                if proc.poll() is not None:
                    raise ServiceError(
                        f"{name} exited with code {proc.returncode} before listening: "
                        + _tail(log, 1)
                    )
                out = hosts[name].run(["ss", "-Hulnp"], timeout=5).stdout
                ports = {int(c.rsplit(":", 1)[1]) for c in _local_addrs(out)}
                if want[name] <= ports:
                    pending.discard(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                name = sorted(pending)[0]
                log = next(lg for n, _, lg in self.procs if n == name)
                raise ServiceError(f"{name} not listening after {timeout:.0f} s: " + _tail(log, 1))
            time.sleep(0.1)

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for f in self.event_files:
            out.extend(read_events(f))
        for log, service in self.dnsmasq_logs:
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()
                out.extend(dnsmasq_events(lines, service_dhcp=service))
        out.sort(key=lambda e: e.get("ts") or 0.0)
        return out


def _stamp_lines(stream: Any, log: Path) -> None:
    with log.open("w", buffering=1) as out:
        for raw in iter(stream.readline, b""):
            out.write(f"{time.time():.6f}\t{raw.decode(errors='replace')}")


def _local_addrs(ss_output: str) -> list[str]:
    out = []
    for line in ss_output.splitlines():
        cols = line.split()
        if len(cols) >= 4 and ":" in cols[3]:
            out.append(cols[3])
    return out


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"


@contextlib.contextmanager
def _workdir(report_dir: Path | None) -> Iterator[Path]:
    if report_dir is not None:
        # Absolute: services given paths in it chdir (dnsmasq to /) before opening them.
        report_dir = report_dir.resolve()
        report_dir.mkdir(parents=True, exist_ok=True)
        work = report_dir / "work"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        work.chmod(0o755)
        yield work
        return
    with tempfile.TemporaryDirectory(prefix="pxelab-run-") as tmp:
        Path(tmp).chmod(0o755)
        yield Path(tmp)


def run_scenario(
    scn: Scenario,
    *,
    report_dir: Path | None = None,
    progress: ProgressFn | None = None,
    lab_id: str | None = None,
) -> Result:
    """Run one scenario; never raises for a scenario that fails (the Result says why)."""
    timeline = Timeline(lambda phase: progress(scn.name, phase) if progress else None)
    result = Result(scenario=scn.name, file=str(scn.file), passed=False)
    artifacts: dict[str, Any] = {"console": "", "events": [], "capture": None}
    with _workdir(report_dir) as work:
        try:
            _run(scn, work, timeline, result, artifacts, lab_id, report_dir)
        except StepFailure as exc:
            result.passed = False
            result.reason = str(exc)
            result.failure = {"where": exc.where, "expected": exc.expected, "actual": exc.actual,
                              "screen": exc.screen}  # fmt: skip
            if exc.details.get("picture"):
                result.failure["picture"] = exc.details["picture"]
            result.screen = exc.screen
        except Exception as exc:  # a broken lab is a failed scenario, with the reason
            result.passed = False
            result.reason = f"{type(exc).__name__}: {exc}".strip()
            artifacts["traceback"] = traceback.format_exc()
        except KeyboardInterrupt:
            result.reason = "interrupted"
            raise
        finally:
            result.duration_s = round(timeline.now(), 3)
            result.phases = timeline.as_list()
            if report_dir is not None:
                report_mod.write_scenario(report_dir, result, artifacts, work)
                result.report_dir = str(report_dir)
    return result


def _run(
    scn: Scenario,
    work: Path,
    timeline: Timeline,
    result: Result,
    artifacts: dict[str, Any],
    lab_id: str | None,
    report_dir: Path | None,
) -> None:
    with timeline.phase("tree"):
        tree = build_tree(scn, work)
    capture = work / "capture.pcap"
    with Lab(lab_id=lab_id, subnet=str(scn.network.subnet), mtu=scn.network.mtu) as lab:
        result.lab_id = lab.lab_id
        services = _Services(scn, lab, work, tree)
        try:
            with timeline.phase("network"):
                rtr = lab.add_host(
                    "rtr", ipv4=str(scn.router.address),
                    ipv6=RA_ADDRESS if scn.router.ra else None,
                )  # fmt: skip
                pxe = lab.add_host("pxe", ipv4=str(scn.proxy.address))
                lab.start_capture(capture)
                artifacts["capture"] = capture
            with timeline.phase("services"):
                services.start_router(rtr)
                services.start_proxy(pxe)
                services.wait_ready({"router": rtr, "proxy": pxe})
            runners = []
            for client in scn.clients:
                runners.append(client_mod.make(client, lab, work, scn))
            if scn.network.impair:
                for r in runners:
                    lab.impair(r.port, **scn.network.impair)
            deadline = time.monotonic() + scn.timeout
            failure: StepFailure | None = None
            vm_timed = False
            client_starts: list[float] = []
            for r in runners:
                with timeline.phase(f"client {r.client.name}") as ph:
                    client_starts.append(ph.start_s)
                    outcome = r.run(timeline, deadline)
                outcome.result.details.setdefault("mac", r.mac)
                result.clients.append(outcome.result)
                artifacts["console"] += f"===== client {r.client.name} ({r.client.kind})\n"
                artifacts["console"] += outcome.console
                ttm = outcome.result.time_to_menu_s
                # Real firmware's time to the menu is the figure that matters; a scripted
                # client's stands in only when there is no VM.
                if ttm is not None and (result.time_to_menu_s is None or (
                        r.client.kind == "vm" and not vm_timed)):  # fmt: skip
                    result.time_to_menu_s = ttm
                    vm_timed = vm_timed or r.client.kind == "vm"
                result.screen = result.screen or outcome.result.screen
                if outcome.failure and failure is None:
                    failure = outcome.failure
                    result.screen = outcome.result.screen
            with timeline.phase("checks"):
                time.sleep(0.2)  # let the servers flush the last events
                events = services.events()
                artifacts["events"] = events
                for client_res, start in zip(result.clients, client_starts, strict=False):
                    boot_phases(timeline, client_res, start, events)
                if failure is not None:
                    raise failure
                roots = [str(tree)]
                problem = check_expect(scn.expect, events, roots)
                if problem is not None:
                    raise problem
            result.passed = True
            result.reason = ""
            artifacts["tftp_requests"] = tftp_requests(events, roots)
        finally:
            if not artifacts["events"]:
                with contextlib.suppress(Exception):
                    artifacts["events"] = services.events()
            artifacts["service_logs"] = [log for _, _, log in services.procs]
            with timeline.phase("teardown"):
                lab.close()


def boot_phases(
    timeline: Timeline, client: ClientResult, start_s: float, events: list[dict[str, Any]]
) -> None:
    """A client's boot cut into phases from what the servers saw of it (by MAC, then by IP):
    firmware (start to DISCOVER), dhcp (to the router's ACK), proxy (prompt and boot server
    discovery, to the first TFTP request), nbp (the boot file's transfer), pxelinux (config
    search and modules, to the menu)."""
    mac = str(client.details.get("mac") or "").lower()
    if not mac:
        return
    # A VM booted more than once: its last boot is the one the steps judged.
    start_s = float(client.details.get("start_s", start_s))
    mine = [e for e in events if str(e.get("client", "")).lower() == mac and e.get("ts")
            and timeline.at_wall(e["ts"]) >= start_s]  # fmt: skip
    discover = next((e for e in mine if e.get("event") in ("discover", "offer")), None)
    ack = next((e for e in mine if e.get("service") == "router" and e.get("event") == "ack"), None)
    if discover is None:
        return
    marks = [("firmware", start_s), ("dhcp", timeline.at_wall(discover["ts"]))]
    if ack is not None:
        marks.append(("proxy", timeline.at_wall(ack["ts"])))
        ip = ack.get("ip")
        tftp = [e for e in events if e.get("service") == "tftp" and e.get("client") == ip
                and e.get("ts") and timeline.at_wall(e["ts"]) >= start_s]  # fmt: skip
        first = next((e for e in tftp if e.get("event") == "request"), None) or (
            tftp[0] if tftp else None
        )
        if first is not None:
            marks.append(("nbp", timeline.at_wall(first["ts"])))
            done = next((e for e in tftp if e.get("event") in ("transfer", "sent")
                         and e.get("file") == first.get("file")), None)  # fmt: skip
            if done is not None:
                marks.append(("pxelinux", timeline.at_wall(done["ts"])))
    end = client.details.get("menu_s")
    for (name, t), nxt in zip(marks, [*marks[1:], ("end", end)], strict=True):
        stop = nxt[1]
        if stop is None or stop < t:
            continue
        timeline.add(f"{client.name} {name}", t, stop - t)
