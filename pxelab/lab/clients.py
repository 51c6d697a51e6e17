"""The clients of a scenario: a scripted PXE client (`pxelab probe` in a namespace) or a VM.

Both give the steps the same things to work on: a rendered screen, a menu, a way to select an
entry, and a time to the menu. The scripted client has no real screen, so it gets one drawn from
what the probe saw (DHCP, proxy, TFTP, the PXELINUX search and the menu): a failed step then
shows that picture, just as a VM's failure shows its console.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxelab.lab.assertions import StepFailure, compare_menu, screen_contains
from pxelab.lab.scenario import Client, Scenario, Step
from pxelab.lab.timeline import Timeline


@dataclass
class Outcome:
    result: Any  # runner.ClientResult
    console: str = ""
    failure: StepFailure | None = None


def guest_artifact(name: str) -> Path:
    """A file of the test guest (`python -m pxelab.lab.guest` builds them into the cache)."""
    try:
        from pxelab.lab import guest
    except ImportError as exc:
        raise RuntimeError(f"the test guest builder is not available: {exc}") from None
    finder = getattr(guest, "artifact", None)
    if finder is not None:
        return Path(finder(name))
    raise RuntimeError("pxelab.lab.guest has no artifact(name) function")


def make(client: Client, lab: Any, work: Path, scn: Scenario) -> Any:
    if client.kind == "scripted":
        return ScriptedClient(client, lab, work, scn)
    return VmClient(client, lab, work, scn)


def _where(client: Client, step: Step) -> str:
    return f"client {client.name}, {step.key.split('.', 1)[1]} {step.describe()}"


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
    search = (data.get("pxelinux") or {}).get("search") or []
    for s in search:
        lines.append(f"  pxelinux {s.get('path')}: {'found' if s.get('found') else 'not found'}")
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
    if data.get("boot"):
        lines.append(f"  boot: {json.dumps(data['boot'], sort_keys=True)}")
    if not data.get("ok", False):
        lines.append(f"  FAILED: {failure_reason(data)}")
    return "\n".join(lines)


def failure_reason(data: dict[str, Any]) -> str:
    for key in ("error", "reason", "failure", "broken"):
        if data.get(key):
            value = data[key]
            return value if isinstance(value, str) else json.dumps(value)
    return "probe did not reach a menu or a booted file"


def _cmdline(data: dict[str, Any]) -> str | None:
    """The command line the selected entry would boot with, as the probe reports it."""
    for key in ("boot", "selected", "selection"):
        sel = data.get(key)
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

    def argv(self) -> list[str]:
        from pxelab.lab.runner import _pxelab

        c = self.client
        argv = [*_pxelab(), "probe", "--interface", "eth0", "--json", "--profile", c.profile,
                "--timeout", str(int(c.timeout))]  # fmt: skip
        if c.mac:
            argv += ["--mac", c.mac]
        if c.uuid:
            argv += ["--uuid", c.uuid]
        if c.arch is not None:
            argv += ["--arch", str(c.arch)]
        select = c.select or next((s.value for s in c.steps if s.action == "select"), None)
        if select:
            argv += ["--select", select]
        return argv

    def run(self, timeline: Timeline, deadline: float) -> Outcome:
        from pxelab.lab.runner import ClientResult

        c = self.client
        t0 = time.monotonic()
        argv = self.argv()
        budget = max(5.0, min(c.timeout, deadline - time.monotonic())) + 10
        proc = self.host.run(argv, timeout=budget)
        elapsed = time.monotonic() - t0
        console = f"$ {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}"
        (self.work / f"probe-{c.name}.json").write_text(proc.stdout)
        res = ClientResult(c.name, "scripted", False)
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            err = proc.stderr.strip()[-300:]
            res.reason = f"probe exited {proc.returncode} without JSON: {err}"
            res.screen = proc.stderr[-2000:]
            return Outcome(res, console, StepFailure(f"client {c.name}", "probe JSON",
                                                      res.reason, res.screen))
        screen = render_probe(data, c)
        res.screen = screen
        res.details = {"probe": data}
        if data.get("menu"):
            res.time_to_menu_s = _menu_time(data, elapsed)
        try:
            self._steps(data, screen)
            if not any(s.action == "expect_failure" for s in c.steps) and not data.get("ok"):
                raise StepFailure(f"client {c.name}", "the boot chain to work",
                                  failure_reason(data), screen)
        except StepFailure as exc:
            res.reason = str(exc)
            return Outcome(res, console, exc)
        res.passed = True
        return Outcome(res, console)

    def _steps(self, data: dict[str, Any], screen: str) -> None:
        c = self.client
        for step in c.steps:
            where = _where(c, step)
            if step.action == "wait_for":
                if not screen_contains(screen, step.value):
                    raise StepFailure(where, f"{step.value!r} on the screen", "not there", screen)
            elif step.action == "expect_menu":
                problem = compare_menu(step.value, data.get("menu"))
                if problem:
                    raise StepFailure(where, _menu_text(step.value), problem, screen)
            elif step.action == "select":
                if not data.get("boot") and not data.get("ok"):
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
                boot = data.get("boot") or {}
                if not (isinstance(boot, dict) and boot.get("local")):
                    raise StepFailure(where, "local boot", json.dumps(boot), screen)
            else:
                raise StepFailure(where, "a step a scripted client can do", step.action, screen)


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
        if not isinstance(ev, dict):
            continue
        text = " ".join(str(v) for v in ev.values()).lower()
        t = ev.get("t", ev.get("t_s", ev.get("elapsed_s")))
        if "menu" in text and isinstance(t, int | float):
            return round(float(t), 3)
    return round(fallback, 3)


# ------------------------------------------------------------------------------ VM client

_CMDLINE_MARK = re.compile(r"cmdline[:=]\s*(.*)", re.IGNORECASE)


class VmClient:
    def __init__(self, client: Client, lab: Any, work: Path, scn: Scenario) -> None:
        self.client, self.lab, self.work, self.scn = client, lab, work, scn
        self.tap = lab.add_tap(client.name)
        self.port = self.tap

    def run(self, timeline: Timeline, deadline: float) -> Outcome:
        raise RuntimeError("VM clients are not wired yet")
