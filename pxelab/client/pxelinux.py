"""PXELINUX emulated over TFTP: what pxelinux.0 / syslinux.efi fetch after they start.

The knowledge (search order, config parsing, INCLUDE, menu model, module libraries) is
pxelab.boot.pxelinux; this module does the fetching in PXELINUX's order with PXELINUX's TFTP
options (`tsize 0 blksize 1408` on every RRQ):

1. the core module (ldlinux.c32 / ldlinux.e64) from the path prefix;
2. the config search, each name with found / not found, stopping at the first found;
   INCLUDEs are fetched as the parser meets them;
3. the UI module (menu.c32) and its libraries, after which menu.c32 reads the config again
   (as the captured iPXE + PXELINUX run does);
4. on request, one label's kernel and initrds, each in full and checked against tsize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pxelab.boot import pxelinux as px
from pxelab.client import tftp
from pxelab.client.profile import Profile


class PxelinuxFailure(RuntimeError):
    """A link PXELINUX cannot get past (ldlinux, config, selected kernel)."""


@dataclass
class PxelinuxResult:
    prefix: str = ""
    core: str | None = None
    search: list[dict[str, object]] = field(default_factory=list)
    config_file: str | None = None
    includes: list[dict[str, object]] = field(default_factory=list)
    modules: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    menu: dict[str, object] | None = None
    selected: dict[str, object] | None = None
    config: px.Config | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "prefix": self.prefix, "core": self.core, "search": self.search,
            "config_file": self.config_file, "includes": self.includes,
            "modules": self.modules, "warnings": self.warnings, "selected": self.selected,
        }


def menu_json(cfg: px.Config) -> dict[str, object]:
    menu = cfg.menu()
    return {
        "title": menu.title,
        "entries": [{"label": e.label, "text": e.text, "hidden": e.hidden, "kind": e.kind,
                     "kernel": e.kernel, "initrds": list(e.initrds), "append": e.append}
                    for e in menu.entries],
        "default": menu.default,
        "prompt": cfg.prompt,
        "timeout": cfg.timeout,
        "ui": cfg.ui_module(),
    }


def oack_problem(got: tftp.Fetch) -> str:
    """Why PXELINUX 6 would refuse this transfer's OACK ("" when it would accept it)."""
    if not got.found:
        return ""
    if got.unrequested:
        return (f"OACK has options PXELINUX did not ask for ({', '.join(got.unrequested)}): "
                "PXELINUX rejects it")
    size = got.options_acked.get("blksize")
    if size is not None and size.isdigit() and not 64 <= int(size) <= 2048:
        return f"OACK blksize {size} is outside 64-2048: PXELINUX rejects it"
    return ""


class Pxelinux:
    def __init__(self, server: str, boot_file: str, profile: Profile,
                 record: Callable[[tftp.Fetch], None], log: Callable[..., None],
                 localip: str = "") -> None:
        self.server = server
        self.boot_file = boot_file
        self.profile = profile
        self.record = record
        self.log = log
        self.localip = localip
        self.result = PxelinuxResult()  # filled as the run goes, so a failure keeps what it did

    def _get(self, path: str) -> tftp.Fetch:
        b = self.profile.pxelinux
        got = tftp.fetch(self.server, path, blksize=b.blksize, tsize=b.tsize,
                         timeout=self.profile.tftp.timeout, retries=self.profile.tftp.retries,
                         localip=self.localip)
        bad = oack_problem(got)
        if bad:
            # PXELINUX answers such an OACK with an ERROR and treats the file as missing.
            got.found, got.error, got.data, got.bytes = False, bad, b"", 0
        self.record(got)
        state = f"{got.bytes} bytes" if got.found else f"not found ({got.error})"
        self.log("pxelinux", f"RRQ {path}: {state}")
        return got

    def run(self, *, mac: bytes, ip: str, uuid: bytes | None, arch: int,
            option209: str | None, option210: str | None,
            select: str | None = None) -> PxelinuxResult:
        res = self.result
        prefix = px.path_prefix(self.boot_file, option210)
        res.prefix = prefix
        core = px.core_module(self.boot_file, arch)
        if core is not None:
            path = px.resolve(prefix, core)
            res.core = path
            got = self._get(path)
            if not got.found:
                raise PxelinuxFailure(f"{path} not found on {self.server}: PXELINUX 6 stops "
                                      f"before reading any config ({got.error})")
        names = px.config_search(mac, ip, b"\0" + uuid if uuid is not None else None,
                                 option209=option209, option210_prefix=option210,
                                 boot_file=self.boot_file)
        text: str | None = None
        for name in names:
            got = self._get(name)
            res.search.append({"path": name, "found": got.found})
            if got.found:
                res.config_file = name
                text = got.data.decode("latin-1")
                break
        if text is None or res.config_file is None:
            raise PxelinuxFailure(f"no PXELINUX config on {self.server}: tried {len(names)} "
                                  f"names, last {names[-1] if names else '-'}")

        def loader(name: str, *, again: bool = False) -> str | None:
            path = px.resolve(prefix, name)
            got = self._get(path)
            if not again:  # menu.c32's second pass fetches them again: listed once
                res.includes.append({"name": name, "path": path, "found": got.found})
            return got.data.decode("latin-1") if got.found else None

        cfg = px.parse_config(text, filename=res.config_file, loader=loader)
        res.config = cfg
        res.warnings = [str(w) for w in cfg.warnings]
        modules = cfg.modules_needed()
        ui = cfg.ui_module()
        for mod in modules:
            path = px.resolve(prefix, mod)
            got = self._get(path)
            res.modules.append({"name": mod, "path": path, "found": got.found,
                                "bytes": got.bytes})
            if not got.found and mod == ui:
                raise PxelinuxFailure(f"UI module {path} not found on {self.server}: "
                                      "no menu is drawn")
        if ui is not None and all(m["found"] for m in res.modules):
            # menu.c32 parses the config itself, so the server sees it requested again.
            again = self._get(res.config_file)
            if again.found:
                cfg = px.parse_config(again.data.decode("latin-1"), filename=res.config_file,
                                      loader=lambda name: loader(name, again=True))
                res.config = cfg
        res.menu = menu_json(cfg)
        self.log("menu", f"menu {cfg.menu().title!r} reached: "
                 + ", ".join(e.label for e in cfg.menu().visible))
        if select is not None:
            res.selected = self._boot(cfg, prefix, select)
        return res

    def _boot(self, cfg: px.Config, prefix: str, label: str) -> dict[str, object]:
        entry = cfg.menu().entry(label)
        if entry is None:
            raise PxelinuxFailure(f"no label {label!r} in {cfg.filename} (labels: "
                                  + ", ".join(e.label for e in cfg.menu().entries) + ")")
        out: dict[str, object] = {"label": label, "kind": entry.kind, "append": entry.append,
                                  "files": []}
        files: list[dict[str, object]] = out["files"]  # type: ignore[assignment]
        wanted = ([entry.kernel] if entry.kernel else []) + list(entry.initrds)
        for i, name in enumerate(wanted):
            path = px.resolve(prefix, name)
            got = self._get(path)
            role = "kernel" if i == 0 and entry.kernel else "initrd"
            files.append({"role": role, "path": path, "found": got.found, "bytes": got.bytes,
                          "tsize": got.tsize, "size_ok": got.size_ok})
            if not got.found:
                raise PxelinuxFailure(f"{role} {path} of label {label} not found on "
                                      f"{self.server}")
            if not got.size_ok:
                raise PxelinuxFailure(f"{role} {path}: got {got.bytes} bytes, tsize said "
                                      f"{got.tsize}")
        self.log("pxelinux", f"label {label}: loaded {len(files)} file(s), command line "
                 f"{entry.append!r}")
        return out
