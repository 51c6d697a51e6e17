"""A QEMU machine on a tap of the lab network, as a context manager.

QEMU starts paused (-S) with a QMP socket and its serial port on a pty that `Console` reads
from the first byte; `start()` (or entering the context) lets it run. TCG unless asked
otherwise: "auto" uses KVM only when a probe shows a guest actually runs on it (on this machine
/dev/kvm exists but iPXE hangs under it).

    with VM("pc-bios", lab=lab, tap=lab.add_tap("vm0"), workdir=tmp) as vm:
        vm.console.wait_for_screen("PXE Boot Menu", timeout=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import QMPClient

from pxelab.lab.machines.console import Console, Deadline, open_pty
from pxelab.lab.machines.profile import Profile, load_profile

T = TypeVar("T")

# unix socket paths are limited to 108 bytes; a deep pytest tmp_path can exceed that.
_MAX_SOCKET_PATH = 100


class VMError(RuntimeError):
    pass


class VMLaunchError(VMError):
    """QEMU did not come up: the message has its exit code, command line and stderr."""

    def __init__(self, why: str, argv: Sequence[str], returncode: int | None, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(
            f"QEMU {why} (exit code {returncode})\n"
            f"command: {shlex.join(self.argv)}\n"
            f"stderr:\n{stderr.strip() or '(empty)'}"
        )


class Monitor:
    """QMP through qemu.qmp 0.0.6's asyncio QMPClient, on an event loop of its own thread.

    The library's synchronous shim (qemu.qmp.legacy) drives the caller's event loop, which
    fails inside a running loop (pytest-asyncio, the lab runner); a private loop does not.
    """

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"qmp-{name}", daemon=True
        )
        self._thread.start()
        self._client: QMPClient = self._run(self._make(name), 5)

    @staticmethod
    async def _make(name: str) -> QMPClient:
        return QMPClient(name)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def connect(self, path: str, timeout: float = 5.0) -> None:
        self._run(self._client.connect(path), timeout)

    def execute(self, command: str, arguments: dict[str, object] | None = None,
                timeout: float = 10.0) -> object:
        return self._run(self._client.execute(command, arguments), timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._client.disconnect(), 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


def resolve_accel(requested: str, qemu: str = "qemu-system-x86_64") -> str:
    """tcg/kvm as asked; "auto" -> kvm only if `kvm_works()`. PXELAB_ACCEL overrides all."""
    requested = os.environ.get("PXELAB_ACCEL", requested)
    if requested == "auto":
        return "kvm" if kvm_works(qemu) else "tcg"
    if requested not in ("tcg", "kvm"):
        raise VMError(f"unknown accelerator {requested!r} (tcg, kvm or auto)")
    return requested


@lru_cache(maxsize=4)
def kvm_works(qemu: str = "qemu-system-x86_64", timeout: float = 8.0) -> bool:
    """KVM works if SeaBIOS + iPXE get to iPXE's banner under it within `timeout` s.

    /dev/kvm existing is not enough: here iPXE hangs at "starting execution" under KVM.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or shutil.which(qemu) is None:
        return False
    return firmware_runs(qemu, "kvm", timeout)


def firmware_runs(qemu: str, accel: str, timeout: float) -> bool:
    """Boot SeaBIOS + iPXE with a NIC that has no network: True once iPXE prints its banner."""
    rom = "/usr/lib/ipxe/qemu/pxe-rtl8139.rom"
    argv = [
        qemu, "-accel", accel, "-machine", "pc,graphics=off", "-display", "none",
        "-serial", "stdio", "-monitor", "none", "-boot", "n", "-no-reboot", "-m", "64",
        # A NIC with no backend at all: iPXE starts, and nothing can leave the machine.
        "-nic", "none", "-device", f"rtl8139,romfile={rom}",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen = b""
    deadline = Deadline(timeout)
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        while not deadline.expired and proc.poll() is None:
            chunk = proc.stdout.read(4096) or b""
            seen += chunk
            if b"Press Ctrl-B for the iPXE command line" in seen:
                return True
            if not chunk:
                time.sleep(0.1)
        return False
    finally:
        proc.kill()
        proc.wait()


class VM:
    """One QEMU machine. Enter to launch and run it; leave to stop it (always)."""

    def __init__(
        self,
        profile: Profile | str,
        *,
        tap: str,
        workdir: Path,
        netns: str | None = None,
        lab: Any = None,
        name: str = "vm",
        mac: str | None = None,
        uuid: str | None = None,
        accel: str | None = None,
        extra_args: Sequence[str] = (),
        boot_timeout: float = 10.0,
    ) -> None:
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        if mac is not None:
            self.profile = self.profile.with_mac(mac)
        if uuid is not None:
            self.profile = self.profile.with_uuid(uuid)
        self.name = name
        self.tap = tap
        # A network.topology.Lab: run in its bridge namespace (where its taps are), marked with
        # its id so `pxelab lab --cleanup` finds a QEMU a killed run left behind.
        self.netns = lab.bridge_ns if lab is not None and netns is None else netns
        self.env = dict(os.environ)
        if lab is not None:
            self.env["PXELAB_LAB"] = lab.lab_id
        self.workdir = Path(workdir)
        self.accel = resolve_accel(accel or self.profile.accelerator, self.profile.qemu)
        self.extra_args = list(extra_args)
        self.boot_timeout = boot_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.console: Console | None = None  # type: ignore[assignment]
        self.monitor: Monitor | None = None
        self.started_at: float | None = None  # monotonic time the CPUs were let go
        self.argv: list[str] = []
        self._master: int | None = None
        self._sockdir: str | None = None
        self._display: bool | None = None  # learnt from the first screendump

    # -- paths -------------------------------------------------------------------------------

    @property
    def console_log(self) -> Path:
        return self.workdir / f"{self.name}.console.log"

    @property
    def stderr_log(self) -> Path:
        return self.workdir / f"{self.name}.stderr.log"

    def _socket_path(self) -> str:
        path = self.workdir / f"{self.name}.qmp"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return str(path)
        self._sockdir = tempfile.mkdtemp(prefix="pxelab-qmp-")
        return os.path.join(self._sockdir, "qmp")

    # -- command line ----------------------------------------------------------------------

    def command(self, qmp_path: str, vars_file: Path | None) -> list[str]:
        p = self.profile
        argv = [
            p.qemu_binary(),
            "-name", self.name,
            "-S",
            "-display", "none",
            # QEMU's stdio is our pty; signal=off: a stray ^C byte is the guest's, not a kill.
            "-chardev", "stdio,id=console0,signal=off",
            "-serial", "chardev:console0",
            "-monitor", "none",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            "-no-reboot",
            "-boot", "n",
            "-netdev", f"tap,id=net0,ifname={self.tap},script=no,downscript=no",
            *p.machine_args(accel=self.accel, vars_file=vars_file),
            *p.nic_args("net0"),
            *p.extra,
            *self.extra_args,
        ]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return argv

    # -- life cycle ----------------------------------------------------------------------------

    def launch(self) -> None:
        """Start QEMU paused; connect QMP and the console. Raises VMLaunchError if it dies."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        vars_file = None
        if self.profile.firmware.type == "uefi":
            assert self.profile.firmware.vars is not None
            vars_file = self.workdir / f"{self.name}.OVMF_VARS.fd"
            shutil.copyfile(self.profile.firmware.vars, vars_file)
        qmp_path = self._socket_path()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(qmp_path)
        self.argv = self.command(qmp_path, vars_file)
        master, slave = open_pty()
        self._master = master
        stderr = open(self.stderr_log, "wb")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=stderr,
                start_new_session=True,
                env=self.env,
            )
        except OSError as exc:
            raise VMLaunchError(f"could not be started: {exc}", self.argv, None, "") from exc
        finally:
            os.close(slave)
            stderr.close()
        self.console = Console(
            master,
            log_path=self.console_log,
            columns=self.profile.columns,
            rows=self.profile.rows,
            encoding=self.profile.encoding,
            send_keys=self.send_keys,
        )
        self.monitor = Monitor(self.name)
        deadline = Deadline(self.boot_timeout)
        while True:
            if self.proc.poll() is not None:
                self._launch_failed("exited during start-up")
            if not os.path.exists(qmp_path) and not deadline.expired:
                time.sleep(0.02)
                continue
            try:
                self.monitor.connect(qmp_path, timeout=max(0.5, deadline.remaining()))
                break
            except Exception as exc:  # ConnectError, FileNotFoundError wrapped, timeouts
                if deadline.expired:
                    why = f"gave no QMP socket within {self.boot_timeout:g} s ({exc})"
                    self._launch_failed(why)
                time.sleep(0.05)

    def _launch_failed(self, why: str) -> None:
        assert self.proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1)
        code = self.proc.poll()
        stderr = self.stderr_log.read_text(errors="replace") if self.stderr_log.exists() else ""
        self.stop()
        raise VMLaunchError(why, self.argv, code, stderr)

    def start(self) -> None:
        """Let the CPUs run (QEMU was launched with -S)."""
        self.qmp("cont")
        self.started_at = time.monotonic()

    def __enter__(self) -> VM:
        try:
            self.launch()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Quit QEMU (QMP, then SIGTERM, then SIGKILL) and release everything; idempotent."""
        if self.proc is not None and self.proc.poll() is None and self.monitor is not None:
            with contextlib.suppress(Exception):
                self.monitor.execute("quit", timeout=2)
        if self.proc is not None:
            for sig, wait in ((None, 2.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
                if self.proc.poll() is not None:
                    break
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        self.proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=wait)
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        if self.console is not None:
            self.console.close()
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    # -- talking to it -------------------------------------------------------------------------

    def qmp(self, command: str, **arguments: object) -> object:
        if self.monitor is None:
            raise VMError(f"{self.name}: not running")
        return self.monitor.execute(command, arguments or None)

    def send_keys(self, keys: Sequence[str], hold_ms: int = 50) -> None:
        """Press keys together (one chord): ['down'], ['ctrl', 'b'], ['shift', 'a']."""
        self.qmp(
            "send-key",
            keys=[{"type": "qcode", "data": k} for k in keys],
            **{"hold-time": hold_ms},
        )

    @property
    def has_display(self) -> bool:
        """Whether the machine has a screen to dump: a graphic console (VGA) as QEMU's first.

        Asked of QEMU, since the board decides (pc has a VGA by default, virt none) as much
        as the command line (-vga none, -nographic). Without one, screendump would not fail but
        dump a text console of QEMU's own ("parallel0 console"): not the machine's screen.
        """
        if self._display is None:
            if not self.running:
                return False
            try:
                device = self.qmp("qom-get", path="/backend/console[0]", property="device")
            except Exception:
                device = ""
            self._display = bool(device)
        return self._display

    def screenshot(self, path: Path) -> Path:
        """The machine's screen as a PNG at `path`, through QMP screendump. Raises VMError if
        the machine has no display or is not running."""
        if not self.has_display:
            raise VMError(f"{self.name}: no screen to dump (no graphic console)")
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # QEMU >= 7.1 writes PNG itself; older ones only PPM, which Pillow converts.
            self.qmp("screendump", filename=str(path), format="png")
        except VMError:
            raise
        except Exception as exc:
            if "format" not in str(exc):
                raise VMError(f"{self.name}: screendump failed: {exc}") from exc
            self._ppm_screenshot(path)
        return path

    def _ppm_screenshot(self, path: Path) -> None:
        from PIL import Image

        ppm = path.with_suffix(".ppm")
        try:
            self.qmp("screendump", filename=str(ppm))
        except VMError:
            raise
        except Exception as exc:
            raise VMError(f"{self.name}: screendump failed: {exc}") from exc
        with Image.open(ppm) as im:
            im.save(path, "PNG")
        ppm.unlink(missing_ok=True)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the guest to power off (QEMU exits); returns QEMU's exit code."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise VMError(f"{self.name}: still running after {timeout:g} s") from None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
