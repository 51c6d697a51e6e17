"""A user's own config against every client the lab has: `pxelab lab --dnsmasq-conf FILE`.

Each client gets a scenario of its own (its own lab, so `-j` runs them side by side and one
client's failure cannot disturb another's), written as scenario.toml files and run like any
other. The scenarios expect only what every client must reach: a menu or a boot. What each
client saw becomes one row of the matrix, and `--save-scenario` writes it back as a scenario
with those observations as expectations, a regression test for the user's config.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxelab.lab.machines.profile import available_profiles
from pxelab.lab.network.topology import check_privileges
from pxelab.lab.network.userns import enter_if_needed
from pxelab.lab.report import html
from pxelab.lab.report.junit import write_junit
from pxelab.lab.report.progress import Progress
from pxelab.lab.report.results import ClientResult, Result
from pxelab.lab.scenario.assertions import _entry_text
from pxelab.lab.scenario.batch import run_many
from pxelab.lab.scenario.clients import failure_reason
from pxelab.lab.scenario.model import client_profiles, load

VM_TIMEOUT_S = 90


@dataclass(frozen=True)
class Subject:
    """One client of the matrix: `scripted:<profile>` or `vm:<profile>`."""

    kind: str
    profile: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.profile}"


def all_subjects() -> list[Subject]:
    return [Subject("scripted", p) for p in client_profiles() or ()] + [
        Subject("vm", p) for p in available_profiles()
    ]


def subjects(spec: str | None) -> list[Subject]:
    """`--clients`: comma-separated profile names, `scripted:NAME`, `vm:NAME`, `scripted`, `vm`."""
    known = all_subjects()
    if not spec:
        return known
    out: list[Subject] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        kind, _, name = item.rpartition(":") if ":" in item else ("", "", item)
        if not kind and name in ("scripted", "vm"):
            hits = [s for s in known if s.kind == name]
        else:
            hits = [s for s in known if s.profile == name and (not kind or s.kind == kind)]
        if not hits:
            names = ", ".join(s.label for s in known)
            raise ValueError(f"--clients: no client {item!r} (known: {names})")
        out += [h for h in hits if h not in out]
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _read(conf: Path | None, config: Path | None) -> Any:
    """The config as pxelab serve would read it; ValueError names the file and the line."""
    from pxelab.config.model import ConfigError

    try:
        if config is not None:
            from pxelab.config.tomlconf import read_toml

            return read_toml(config)
        from pxelab.config.dnsmasq import read_dnsmasq_conf

        return read_dnsmasq_conf(conf)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ValueError(f"{exc.source}: {exc.reason}") from exc


def _network(conf: Path, config: Path | None) -> tuple[ipaddress.IPv4Interface, str]:
    """The proxy's address and kind of config, from the proxy range the config declares."""
    cfg = _read(conf, config)
    if not cfg.ranges:
        return ipaddress.IPv4Interface("192.168.10.20/24"), "no proxy range"
    rng = cfg.ranges[0]
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{rng.netmask or '255.255.255.0'}").prefixlen
    iface = ipaddress.IPv4Interface(f"{rng.address}/{prefix}")
    if iface.ip in (iface.network.network_address, iface.network.network_address + 1):
        iface = ipaddress.IPv4Interface(f"{iface.network.network_address + 20}/{prefix}")
    return iface, ""


def scenario_text(
    subject: Subject, *, conf: Path | None, config: Path | None, tftp_root: Path | None,
    proxy: str, index: int, expectations: dict[str, Any] | None = None,
    relative_to: Path | None = None,
) -> str:
    """scenario.toml for one client; `expectations` (what a run saw) make it a regression test.

    With `relative_to` (the folder the file goes in), the config and tree are named relative to
    it, so a saved scenario moves with the checkout it is committed to."""

    def where(path: Path) -> str:
        if relative_to is None:
            return str(path.resolve())
        return os.path.relpath(path.resolve(), relative_to.resolve())

    iface, _ = _network(conf or config, config)  # type: ignore[arg-type]
    net = iface.network
    lines = [
        f"# {subject.label} against {conf or config}, written by pxelab lab --dnsmasq-conf",
        f"description = {_toml(f'{subject.label} against the user config')}",
        f"timeout = {VM_TIMEOUT_S + 30}",
        "", "[network]", f"subnet = {_toml(str(net))}",
        "", "[router]", 'implementation = "pxelab"',
        f"address = {_toml(str(net.network_address + 1))}",
        f"pool = {_toml(f'{net.network_address + 100}-{net.network_address + 150}')}",
        "", "[proxy]", f"implementation = {_toml(proxy)}", f"address = {_toml(str(iface.ip))}",
    ]  # fmt: skip
    if config is not None:
        lines.append(f"config = {_toml(where(config))}")
    else:
        lines.append(f"dnsmasq_conf = {_toml(where(conf))}")  # type: ignore[arg-type]
    if tftp_root is not None and subject.kind == "vm":
        # A copy, so the runner can take PXELINUX's SERIAL lines out of it: the lab reads the
        # screen from a serial port the firmware already copies it to, and SERIAL would print
        # every character twice there. The user's own tree is never written to.
        lines += ["", "[tftp]", f"source = {_toml(where(tftp_root))}", "bios = false"]
    elif tftp_root is not None:
        lines.append(f"tftp_root = {_toml(where(tftp_root))}")
    mac = f"52:54:00:4d:{index // 256:02x}:{index % 256:02x}"
    lines += [
        "", "[[client]]", f"name = {_toml(f'c{index}')}", f"kind = {_toml(subject.kind)}",
        f"profile = {_toml(subject.profile)}", f"mac = {_toml(mac)}",
    ]  # fmt: skip
    if subject.kind == "vm":
        lines.append(f"timeout = {VM_TIMEOUT_S}")
    menu = (expectations or {}).get("menu")
    if subject.kind == "vm" or menu:
        want: dict[str, Any] = {}
        if menu:
            want = {"title": menu["title"], "entries": menu["entries"]}
        lines += ["", "[[client.steps]]", f"expect_menu = {_toml(want)}"]
    elif (expectations or {}).get("local_boot"):
        lines += ["", "[[client.steps]]", "expect_local_boot = true"]
    files = (expectations or {}).get("files")
    if files:
        lines += ["", "[expect]", f"tftp_requested = {_toml(files)}"]
    return "\n".join(lines) + "\n"


@dataclass
class Row:
    client: str
    reached: str  # "menu", "local boot", "boot", or "FAILED"
    detail: str
    time_to_menu_s: float | None
    menu: dict[str, Any] | None = None
    files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reached != "FAILED"


def _menu_of(res: ClientResult) -> dict[str, Any] | None:
    menu = res.details.get("menu") or (res.details.get("probe") or {}).get("menu")
    if not menu or not menu.get("entries"):
        return None
    return {"title": (menu.get("title") or "").strip(),
            "entries": [_entry_text(e) for e in menu["entries"]]}  # fmt: skip


def row(subject: Subject, result: Result) -> Row:
    res = result.clients[0] if result.clients else ClientResult(subject.label, subject.kind, False)
    probe = res.details.get("probe") or {}
    files = tuple(t.get("file") for t in probe.get("tftp") or [] if t.get("found"))
    menu = _menu_of(res)
    ttm = res.time_to_menu_s
    if result.passed and menu:
        detail = f"{menu['title'] or '(no title)'}: " + " | ".join(menu["entries"])
        return Row(subject.label, "menu", detail, ttm, menu, files)
    if result.passed and probe.get("reached") == "local-boot":
        return Row(subject.label, "local boot", "PXE menu item of type 0", ttm, None, files)
    if result.passed:
        sel = (probe.get("pxelinux") or {}).get("selected") or {}
        return Row(subject.label, "boot", str(sel.get("append") or probe.get("boot_file") or ""),
                   ttm, None, files)  # fmt: skip
    if probe and not probe.get("ok"):
        why = failure_reason(probe)  # the broken link itself, without the step's framing
    else:
        why = (res.reason or result.reason or "no result").splitlines()[0]
    return Row(subject.label, "FAILED", why, ttm, menu, files)


def render(rows: Sequence[Row]) -> str:
    table = [("client", "reached", "time to menu", "menu, boot or broken link")]
    for r in rows:
        ttm = f"{r.time_to_menu_s:.1f} s" if r.time_to_menu_s is not None else "-"
        table.append((r.client, r.reached, ttm, r.detail[:140]))
    widths = [max(len(t[i]) for t in table) for i in range(3)]
    out = []
    for j, t in enumerate(table):
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(t[:3])) + "  " + t[3])
        if j == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 25)
    return "\n".join(out)


def _check_first(cfg: Any) -> list[str]:
    from pxelab.config.check import check

    return [str(f) for f in check(cfg).findings]


def save(root: Path, subjects_: Sequence[Subject], rows: Sequence[Row], **kw: Any) -> list[Path]:
    """`--save-scenario DIR`: one scenario folder per client that got somewhere."""
    written = []
    for i, (subject, r) in enumerate(zip(subjects_, rows, strict=True), start=1):
        if not r.ok:
            continue
        expect = {"menu": r.menu, "local_boot": r.reached == "local boot",
                  "files": list(dict.fromkeys(r.files))}  # fmt: skip
        folder = root / subject.label.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scenario.toml").write_text(
            scenario_text(subject, index=i, expectations=expect, relative_to=folder, **kw))
        written.append(folder)
    return written


def matrix_command(
    *, dnsmasq_conf: str | None, config: str | None, tftp_root: str | None,
    clients: str | None, proxy: str, jobs: int, report: str | None, save_scenario: str | None,
    junit: str | None = None,
) -> int:
    """0 when every client reached a menu or a boot, 1 otherwise, 2 for bad input."""
    conf = Path(dnsmasq_conf) if dnsmasq_conf else None
    cfg_path = Path(config) if config else None
    root = Path(tftp_root) if tftp_root else None
    try:
        if (conf or cfg_path) is None or not (conf or cfg_path).is_file():  # type: ignore[union-attr]
            raise ValueError(f"{conf or cfg_path}: no such file")
        if root is not None and not root.is_dir():
            raise ValueError(f"--tftp-root {root}: no such folder")
        chosen = subjects(clients)
        cfg = _read(conf, cfg_path)
        root = root or cfg.tftp.root
        if root is None:
            raise ValueError("no --tftp-root, and the config names no tftp-root")
        findings = _check_first(cfg)
        if (code := enter_if_needed()) is not None:  # not root: namespaces of its own
            return code
        problem = check_privileges()
        if problem:
            raise ValueError(problem)
    except ValueError as exc:
        print(f"pxelab lab: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    out.write("pxelab check:\n" + "".join(f"  {f}\n" for f in findings or ["no findings"]))
    kw = {"conf": conf, "config": cfg_path, "tftp_root": root, "proxy": proxy}
    work = Path(tempfile.mkdtemp(prefix="pxelab-matrix-"))
    try:
        scenarios = []
        for i, subject in enumerate(chosen, start=1):
            folder = work / subject.label.replace(":", "-")
            folder.mkdir()
            (folder / "scenario.toml").write_text(scenario_text(subject, index=i, **kw))
            scenarios.append(load(folder / "scenario.toml"))
        report_root = Path(report).resolve() if report else None
        prog = Progress()
        prog.start()
        t0 = time.monotonic()
        try:
            results = run_many(scenarios, report_root=report_root, jobs=jobs, keep_going=True,
                               progress=prog)  # fmt: skip
        finally:
            prog.stop()
        by_name = {r.scenario: r for r in results}
        rows = [row(s, by_name.get(scn.name) or Result(scn.name, str(scn.file), False, "not run"))
                for s, scn in zip(chosen, scenarios, strict=True)]  # fmt: skip
        out.write("\n" + render(rows) + "\n")
        good = sum(r.ok for r in rows)
        out.write(f"\n{good} of {len(rows)} clients reached a menu or a boot "
                  f"in {time.monotonic() - t0:.1f} s\n")  # fmt: skip
        if report_root is not None:
            out.write(f"report: {html.write_index(report_root, results)}\n")
        if junit:
            out.write(f"junit: {write_junit(Path(junit).resolve(), results)}\n")
        if save_scenario:
            for folder in save(Path(save_scenario), chosen, rows, **kw):
                out.write(f"saved: {folder}/scenario.toml\n")
        out.flush()
        return 0 if good == len(rows) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
