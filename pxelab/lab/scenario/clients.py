"""The clients of a scenario: a scripted PXE client (`pxelab probe` in a namespace) or a VM.

Both give the steps the same things to work on: a rendered screen, a menu, a way to select an
entry, and a time to the menu. The scripted client has no real screen, so it gets one drawn from
what the probe saw (DHCP, proxy, TFTP, the PXELINUX search and the menu): a failed step then
shows that picture, just as a VM's failure shows its console.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxelab.lab.report.picture import draw_screen
from pxelab.lab.report.results import ClientResult
from pxelab.lab.report.timeline import Timeline
from pxelab.lab.scenario.assertions import StepFailure, compare_menu, screen_contains
from pxelab.lab.scenario.model import Client, Scenario, Step
from pxelab.lab.services.commands import pxelab_command


@dataclass
class Outcome:
    result: Any  # runner.ClientResult
    console: str = ""
    failure: StepFailure | None = None


def guest_artifact(name: str) -> Path:
    """A file of the test guest (`python -m pxelab.lab.machines.guest` puts them into the cache)."""
    try:
        from pxelab.lab.machines import guest
    except ImportError as exc:
        raise RuntimeError(f"the test guest builder is not available: {exc}") from None
    finder = getattr(guest, "artifact", None)
    if finder is not None:
        return Path(finder(name))
    raise RuntimeError("pxelab.lab.machines.guest has no artifact(name) function")


def make(client: Client, lab: Any, work: Path, scn: Scenario) -> Any:
    if client.kind == "scripted":
        return ScriptedClient(client, lab, work, scn)
    return VmClient(client, lab, work, scn)


def _where(client: Client, step: Step) -> str:
    return f"client {client.name}, {step.key.split('.', 1)[1]} {step.describe()}"


# ---------------------------------------------------------------------------- pictures


def shots_dir(work: Path) -> Path:
    """<report>/shots: the runner's work folder is <report>/work, and is removed afterwards."""
    return (work.parent if work.name == "work" else work) / "shots"


class Camera:
    """A client's pictures, numbered: <report>/shots/<client>-<n>.png.

    A VM with a screen gives QEMU's screendump; a serial-only VM or a scripted client gets its
    text screen drawn, so every client has a picture. Each is recorded as {"step", "path",
    "source"}, the path relative to the report folder (the report stays one movable folder).
    """

    def __init__(self, work: Path, client: str) -> None:
        self.dir = shots_dir(work)
        self.client = client
        self.shots: list[dict[str, str]] = []

    def take(self, step: str, *, vm: Any = None, screen: str = "", columns: int = 80,
             rows: int = 25) -> Path | None:  # fmt: skip
        path = self.dir / f"{self.client}-{len(self.shots) + 1}.png"
        source = "drawn"
        try:
            if vm is not None and vm.running and vm.has_display:
                try:
                    vm.screenshot(path)
                    source = "screendump"
                except Exception:
                    draw_screen(vm.console.render(), path, columns=columns, rows=rows)
            else:
                if vm is not None and vm.console is not None:
                    screen = vm.console.render()
                draw_screen(screen, path, columns=columns, rows=rows)
        except Exception:
            return None  # a picture is a help; it never fails a client
        self.shots.append({"step": step, "path": f"shots/{path.name}", "source": source})
        return path


def _step_label(step: Step) -> str:
    return f"{step.key.split('.', 1)[1]} {step.action}"


def _picture(exc: StepFailure, path: Path | None) -> StepFailure:
    if path is not None:
        exc.details["picture"] = str(path)
    return exc


# ------------------------------------------------------------------------ scripted client


def render_probe(data: dict[str, Any], client: Client) -> str:
    """A screen-like picture of what the scripted client saw, for humans and `wait_for`."""
    lines = [f"pxelab probe (profile {client.profile})"]
    for o in data.get("offers") or []:
        lines.append(
            f"  offer from {o.get('server')} ({o.get('kind')}): yiaddr {o.get('yiaddr')} "
            f"file {o.get('file') or '-'}"
        )
    if data.get("address"):
        lines.append(f"  address {data['address']}")
    if data.get("boot_file"):
        lines.append(f"  boot file {data['boot_file']} from {data.get('boot_server') or '?'}")
    for t in data.get("tftp") or []:
        state = f"ok, {t.get('bytes')} bytes" if t.get("found") else "NOT FOUND"
        lines.append(f"  tftp {t.get('file')}: {state}")
    menu = data.get("menu")
    if menu:
        title = menu.get("title") or ""
        entries = [e.get("text") or e.get("label") or "" for e in menu.get("entries") or []]
        width = max([len(title), *(len(e) for e in entries), 20]) + 4
        lines.append("+" + "-" * width + "+")
        lines.append("|" + title.center(width) + "|")
        lines.append("+" + "-" * width + "+")
        for e in menu.get("entries") or []:
            text = e.get("text") or e.get("label") or ""
            mark = ">" if menu.get("default") in (e.get("label"), e.get("text")) else " "
            lines.append("|" + f" {mark} {text}".ljust(width) + "|")
        lines.append("+" + "-" * width + "+")
    sel = _selected(data)
    if sel:
        cmd = sel.get("cmdline") or sel.get("append")
        lines.append(f"  booted label {sel.get('label')}: command line {cmd!r}")
        for f in sel.get("files") or []:
            state = f"{f.get('bytes')} bytes" if f.get("found") else "NOT FOUND"
            lines.append(f"    {f.get('role')} {f.get('path')}: {state}")
    shim = (data.get("grub") or {}).get("shim")
    if shim:
        lines.append(f"  shim from {shim.get('server')}: loader {shim.get('loader')}")
    if data.get("reached") == "grub-prompt":
        lines.append("  grub>")
    if data.get("reached") == "local-boot":
        lines.append("  local boot: the client leaves network boot")
    if not data.get("ok", False):
        lines.append(f"  FAILED: {failure_reason(data)}")
    return "\n".join(lines)


def failure_reason(data: dict[str, Any]) -> str:
    f = data.get("failure")
    if isinstance(f, dict) and f.get("message"):
        return f"{f.get('link') or 'chain'}: {f['message']}"
    for key in ("error", "reason", "failure", "broken"):
        if data.get(key):
            value = data[key]
            return value if isinstance(value, str) else json.dumps(value)
    return "probe did not reach a menu or a booted file"


def _selected(data: dict[str, Any]) -> dict[str, Any] | None:
    """The entry the probe booted: PXELINUX's label or GRUB's menuentry."""
    for loader in ("pxelinux", "grub"):
        sel = (data.get(loader) or {}).get("selected")
        if isinstance(sel, dict):
            return sel
    return None


def _cmdline(data: dict[str, Any]) -> str | None:
    """The command line the selected entry would boot with, as the probe reports it."""
    candidates = [_selected(data), data.get("boot")]
    for sel in candidates:
        if isinstance(sel, dict):
            for k in ("cmdline", "append", "command_line"):
                if sel.get(k) is not None:
                    return str(sel[k])
    return None


class ScriptedClient:
    def __init__(self, client: Client, lab: Any, work: Path, scn: Scenario) -> None:
        self.client, self.lab, self.work, self.scn = client, lab, work, scn
        self.host = lab.add_host(client.name, mac=client.mac)
        self.port = client.name
        self.mac = client.mac or self.host.mac

    def argv(self, select: str | None) -> list[str]:
        c = self.client
        argv = [*pxelab_command(), "probe", "--interface", "eth0", "--json", "--profile", c.profile,
                "--timeout", str(int(c.timeout))]  # fmt: skip
        if c.mac:
            argv += ["--mac", c.mac]
        if c.uuid:
            argv += ["--uuid", c.uuid]
        if c.arch is not None:
            argv += ["--arch", str(c.arch)]
        if c.pxe_item is not None:
            argv += ["--pxe-item", str(c.pxe_item)]
        if select:
            argv += ["--select", select]
        return argv

    def _probe(self, select: str | None) -> tuple[subprocess.CompletedProcess[str], str]:
        c = self.client
        argv = self.argv(select)
        proc = self.host.run(argv, timeout=c.timeout + 15)
        return proc, f"$ {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}\n"

    def run(self, timeline: Timeline, deadline: float) -> Outcome:
        c = self.client
        t0 = time.monotonic()
        select = c.select or next((s.value for s in c.steps if s.action == "select"), None)
        proc, console = self._probe(select)
        elapsed = time.monotonic() - t0
        ended_s = timeline.now()
        data = _json(proc.stdout)
        label = _label_for_text(data, select) if select else None
        if label and label != select:
            # The step named the entry by its menu text; PXELINUX boots labels.
            proc, more = self._probe(label)
            ended_s = timeline.now()
            console += more
            data = _json(proc.stdout)
        (self.work / f"probe-{c.name}.json").write_text(proc.stdout)
        res = ClientResult(c.name, "scripted", False)
        camera = Camera(self.work, c.name)
        if data is None:
            err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][-300:]
            res.reason = f"probe exited {proc.returncode} without JSON: {err}"
            res.screen = proc.stderr[-2000:]
            shot = camera.take("end", screen=res.screen)
            res.details["screenshots"] = camera.shots
            failed = StepFailure(f"client {c.name}", "probe JSON", res.reason, res.screen)
            return Outcome(res, console, _picture(failed, shot))
        screen = render_probe(data, c)
        res.screen = screen
        # One probe run answers every step: its screen is the picture of each, and of the end.
        shot = camera.take("end", screen=screen)
        res.details = {"probe": data, "screenshots": camera.shots}
        if data.get("menu"):
            res.time_to_menu_s = _menu_time(data, elapsed)
            # The probe's clock starts after Python did: anchor its menu time at its exit.
            times = [e.get("t") for e in data.get("timeline") or [] if isinstance(e, dict)]
            last = max([t for t in times if isinstance(t, int | float)] or [res.time_to_menu_s])
            res.details["menu_s"] = round(ended_s - (last - res.time_to_menu_s), 3)
        try:
            self._steps(data, screen)
            if not any(s.action == "expect_failure" for s in c.steps) and not data.get("ok"):
                raise StepFailure(f"client {c.name}", "the boot chain to work",
                                  failure_reason(data), screen)
        except StepFailure as exc:
            res.reason = str(exc)
            return Outcome(res, console, _picture(exc, shot))
        res.passed = True
        return Outcome(res, console)

    def _steps(self, data: dict[str, Any], screen: str) -> None:
        c = self.client
        for step in c.steps:
            where = _where(c, step)
            if step.action in ("wait_for", "expect_screen"):
                if not screen_contains(screen, step.value):
                    raise StepFailure(where, f"{step.value!r} on the screen", "not there", screen)
            elif step.action == "expect_menu":
                problem = compare_menu(step.value, data.get("menu"))
                if problem:
                    raise StepFailure(where, _menu_text(step.value), problem, screen)
            elif step.action == "select":
                if not _selected(data):
                    raise StepFailure(where, f"entry {step.value!r} booted",
                                      failure_reason(data), screen)
            elif step.action == "expect_cmdline":
                cmd = _cmdline(data)
                if cmd is None or step.value not in cmd:
                    raise StepFailure(where, f"a command line containing {step.value!r}",
                                      repr(cmd), screen)
            elif step.action == "expect_failure":
                reason = failure_reason(data) if not data.get("ok") else ""
                if data.get("ok") or step.value.lower() not in reason.lower():
                    raise StepFailure(where, f"a failure naming {step.value!r}",
                                      reason or "the chain worked", screen)
            elif step.action == "expect_local_boot":
                if data.get("reached") != "local-boot":
                    raise StepFailure(where, "local boot (a PXE menu item of type 0)",
                                      f"reached {data.get('reached')!r}", screen)
            else:
                raise StepFailure(where, "a step a scripted client can do", step.action, screen)


def _json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _label_for_text(data: dict[str, Any] | None, wanted: str) -> str | None:
    """The PXELINUX label of the entry whose label or menu text is `wanted`."""
    for e in ((data or {}).get("menu") or {}).get("entries") or []:
        if wanted in (e.get("label"), (e.get("text") or "").strip()):
            return str(e.get("label"))
    return None


def _menu_text(m: dict[str, Any]) -> str:
    parts = []
    if "title" in m:
        parts.append(f"title {m['title']!r}")
    if "entries" in m:
        parts.append(f"entries {m['entries']!r}")
    if "default" in m:
        parts.append(f"default {m['default']!r}")
    return "menu with " + ", ".join(parts)


def _menu_time(data: dict[str, Any], fallback: float) -> float:
    """Seconds to the menu from the probe's own timeline, when it has one."""
    for ev in data.get("timeline") or []:
        t = ev.get("t") if isinstance(ev, dict) else None
        if ev.get("phase") == "menu" and isinstance(t, int | float):
            return round(float(t), 3)
    return round(fallback, 3)


# ------------------------------------------------------------------------------ VM client

# The test guest's /init prints this with /proc/cmdline, then powers off.
# The whole line: a wait can see it half-received, and the rest arrives in the next chunk.
CMDLINE_MARK = re.compile(r"PXELAB-GUEST-CMDLINE: ?([^\r\n]*)[\r\n]")
# What the firmware prints once it gives up on the network and goes to the next boot device.
LOCAL_BOOT = re.compile(
    r"No bootable device|Booting from Hard Disk|Boot failed: not a bootable disk|"
    r"Booting from (?:Floppy|DVD|CD)|Returning to BIOS|No more network devices"
)
GAVE_UP = ("Nothing to boot", "No bootable device")
# EDK2's BDS when it will not start a downloaded image (Secure Boot: "Access Denied"; a bad
# image: "Unsupported", "Load Error", "Security Violation"). The reason ends the line.
REFUSED = re.compile(r"BdsDxe: failed to load Boot[0-9A-F]{4} [^\r\n]*?: ([A-Za-z ]+)[\r\n]")
# PXELINUX (and syslinux.efi) after an entry was chosen.
BOOTING = re.compile(r"Loading \S+\.\.\.|Booting the kernel|Decompressing Linux")
_KEY_NAMES = {"enter": "ret", "space": "spc", "backspace": "backspace"}
MENU_SETTLE_S = 5.0  # menu.c32 draws entry by entry; let a partial menu finish drawing


def vm_profile(client: Client) -> Any:
    """The client's machine profile with its overrides, MAC and UUID applied."""
    from dataclasses import fields, replace

    from pxelab.lab.machines.profile import load_profile

    profile = load_profile(client.profile)
    if client.overrides:
        names = {f.name for f in fields(profile)}
        unknown = sorted(set(client.overrides) - names)
        if unknown:
            raise ValueError(
                f"{client.key}.overrides: unknown profile field(s) {', '.join(unknown)} "
                f"(fields: {', '.join(sorted(names))})"
            )
        values = dict(client.overrides)
        if "extra" in values:
            values["extra"] = tuple(values["extra"])
        profile = replace(profile, **values)
    if client.mac:
        profile = profile.with_mac(client.mac)
    if client.uuid:
        profile = replace(profile, uuid=client.uuid)
    return profile


def _menu_dict(menu: Any) -> dict[str, Any] | None:
    if menu is None:
        return None
    return {"title": menu.title, "entries": list(menu.entries),
            "default": menu.highlighted_label}  # fmt: skip


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


class VmClient:
    def __init__(self, client: Client, lab: Any, work: Path, scn: Scenario) -> None:
        self.client, self.lab, self.work, self.scn = client, lab, work, scn
        self.tap = lab.add_tap(client.name)
        self.port = self.tap
        self.menu_at: float | None = None
        self.seen_menu: dict[str, Any] | None = None
        self.profile = vm_profile(client)
        self.mac = self.profile.nic.mac
        self.camera = Camera(work, client.name)

    def run(self, timeline: Timeline, deadline: float) -> Outcome:
        c = self.client
        console = ""
        client_deadline = min(deadline, time.monotonic() + c.timeout)
        for attempt in range(1, c.attempts + 1):
            res = ClientResult(c.name, "vm", False)
            res.details["attempt"] = attempt
            failure, text = self._boot(res, timeline, client_deadline, attempt)
            console += text
            if failure is None:
                res.passed = True
                return Outcome(res, console)
            if time.monotonic() >= client_deadline:
                break
            console += f"\n===== {c.name}: attempt {attempt} failed ({failure}); booting again\n"
        failure.screen = failure.screen or res.screen
        if c.attempts > 1:
            failure.actual += f" (after {res.details['attempt']} boot(s))"
        res.reason = str(failure)
        return Outcome(res, console, failure)

    def _boot(
        self, res: Any, timeline: Timeline, deadline: float, attempt: int
    ) -> tuple[StepFailure | None, str]:
        from pxelab.lab.machines.vm import VM

        c = self.client
        self.menu_at = None
        self.seen_menu = None
        workdir = self.work / (f"vm-{c.name}" if attempt == 1 else f"vm-{c.name}-{attempt}")
        vm = VM(self.profile, tap=self.tap, workdir=workdir, lab=self.lab, name=c.name)
        res.details["start_s"] = round(timeline.now(), 3)
        failure: StepFailure | None = None
        try:
            with vm:
                res.details["argv"] = vm.argv
                self._steps(vm, deadline)
                res.screen = vm.console.render()
        except StepFailure as exc:
            failure = exc
        finally:
            if vm.console is not None and not res.screen:
                res.screen = vm.console.render()
            res.details["screenshots"] = list(self.camera.shots)
        if self.seen_menu:
            res.details["menu"] = self.seen_menu
        if vm.started_at is not None and self.menu_at is not None:
            res.time_to_menu_s = round(self.menu_at - vm.started_at, 3)
            # on the scenario's clock, for the report's phase chart
            res.details["menu_s"] = round(timeline.now() - (time.monotonic() - self.menu_at), 3)
        text = ""
        if vm.console_log.exists():
            text = vm.console_log.read_bytes().decode("utf-8", errors="replace")
        return failure, text

    def _steps(self, vm: Any, deadline: float) -> None:
        """The steps, with a picture after each, of a failed one, and of the end."""
        size = {"columns": self.profile.columns, "rows": self.profile.rows}
        for step in self.client.steps:
            try:
                self._step(vm, step, deadline)
            except StepFailure as exc:
                raise _picture(exc, self.camera.take(f"{_step_label(step)} (failed)", vm=vm,
                                                     **size)) from None  # fmt: skip
            self.camera.take(_step_label(step), vm=vm, **size)
        self.camera.take("end", vm=vm, **size)

    def _timeout(self, step: Step, deadline: float) -> float:
        left = max(0.1, deadline - time.monotonic())
        return min(step.timeout, left) if step.timeout else left

    def _step(self, vm: Any, step: Step, deadline: float) -> None:
        from pxelab.lab.machines.console import BootFailed, ConsoleError

        con = vm.console
        where = _where(self.client, step)
        timeout = self._timeout(step, deadline)
        fatal = con.fatal
        if step.action not in ("expect_local_boot", "expect_failure", "expect_refused"):
            # The firmware gave up on the network: no later text can satisfy this step.
            con.fatal = (*fatal, *GAVE_UP)
        try:
            if step.action in ("wait_for", "expect_screen"):
                con.wait_for_screen(step.value, timeout)
                self._menu_seen(vm, step.value)
            elif step.action == "expect_refused":
                m = con.wait_for_text(REFUSED, timeout)
                if step.value.lower() not in m.group(0).lower():
                    raise StepFailure(where, f"the firmware refusing the image: {step.value!r}",
                                      m.group(0).strip(), con.render())  # fmt: skip
            elif step.action == "expect_menu":
                self._expect_menu(vm, step, where, timeout)
            elif step.action == "select":
                self._select(con, step.value, timeout)
            elif step.action == "key":
                con.send_key(_KEY_NAMES.get(step.value, step.value))
            elif step.action == "expect_cmdline":
                m = con.wait_for_text(CMDLINE_MARK, timeout)
                if step.value not in m.group(1):
                    raise StepFailure(where, f"a command line containing {step.value!r}",
                                      repr(m.group(1).strip()), con.render())
            elif step.action == "expect_local_boot":
                con.wait_for_text(LOCAL_BOOT, timeout)
            elif step.action == "expect_failure":
                try:
                    con.wait_for_text(step.value, timeout)
                except BootFailed as exc:
                    if step.value.lower() not in str(exc).lower():
                        raise
        except StepFailure:
            raise
        except ConsoleError as exc:
            raise StepFailure(where, _expected(step), _first_line(str(exc)),
                              con.render()) from None
        finally:
            con.fatal = fatal

    @staticmethod
    def _select(con: Any, label: str, timeout: float) -> None:
        from pxelab.lab.machines.console import ConsoleError

        try:
            con.select(label, timeout)
        except ConsoleError:
            # menu.c32 may leave its box on screen while PXELINUX loads the entry: the boot
            # started if PXELINUX says it is loading (the next step checks what booted).
            if not BOOTING.search(con.text):
                raise

    def _menu_seen(self, vm: Any, text: str) -> None:
        if self.menu_at is None and vm.console.menu() is not None:
            seen = vm.console.first_seen(text)
            self.menu_at = seen if seen is not None else time.monotonic()

    def _expect_menu(self, vm: Any, step: Step, where: str, timeout: float) -> None:
        con = vm.console
        want = step.value
        menu = con.wait_for_menu(timeout, want.get("title"))
        if self.menu_at is None:
            seen = con.first_seen(menu.title) if menu.title else None
            self.menu_at = seen if seen is not None else time.monotonic()
        settle = time.monotonic() + min(MENU_SETTLE_S, timeout)
        problem = compare_menu(want, _menu_dict(menu))
        while problem and time.monotonic() < settle:
            time.sleep(0.2)
            problem = compare_menu(want, _menu_dict(con.menu()))
        self.seen_menu = _menu_dict(con.menu() or menu)
        if problem:
            raise StepFailure(where, _menu_text(want), problem, con.render())


def _expected(step: Step) -> str:
    return {
        "wait_for": f"{step.value!r} on the screen",
        "expect_menu": _menu_text(step.value) if isinstance(step.value, dict) else "a menu",
        "select": f"menu entry {step.value!r} selected",
        "key": f"key {step.value} sent",
        "expect_cmdline": f"the guest's command line containing {step.value!r}",
        "expect_local_boot": "the firmware leaving network boot for the local disk",
        "expect_failure": f"a failure naming {step.value!r}",
        "expect_screen": f"{step.value!r} on the screen",
        "expect_refused": f"the firmware refusing the image: {step.value!r}",
    }[step.action]
