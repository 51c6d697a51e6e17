"""`pxelab check`: what `dnsmasq --test` should have been -- the whole boot chain, statically.

dnsmasq's own test only parses options (and says "syntax check OK" when the file does not
exist). This walks what a PXE client would fetch: the TFTP root and whether the unprivileged
server user can read it, each boot file (dhcp-boot, pxe-service basenames with ".0" added as
dnsmasq adds it), PXELINUX's ldlinux beside its NBP, pxelinux.cfg/default, the UI/DEFAULT
module and its libraries, and every label's kernel and initrds. Each problem is one `Finding`
naming file:line and a fix.

File names map onto the root the way dnsmasq's tftp.c maps a request: backslashes become
slashes, an absolute name is used as is when it already starts with the root, else its leading
'/' is dropped. PXELINUX names are resolved against its path prefix (pxelab.boot.pxelinux).
"""

from __future__ import annotations

import grp
import os
import posixpath
import pwd
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from pxelab.boot.grub_search import is_grub_image
from pxelab.boot.pxelinux import (
    Config,
    PxelinuxConfigError,
    classify_config_name,
    config_search,
    core_module,
    parse_config,
    path_prefix,
    resolve,
    with_libraries,
)
from pxelab.config.check_grub import check_grub, grub_chain
from pxelab.config.check_http import check_http
from pxelab.config.check_nbp import check_nbp
from pxelab.config.model import ServerConfig, Source

DEFAULT_USER = "nobody"  # dnsmasq's compiled-in CHUSER, the user the seed's dnsmasq drops to

# Where Debian keeps the files a fix tells the user to copy.
SYSTEM_FILES = {
    "bios": "/usr/lib/syslinux/modules/bios",
    "efi64": "/usr/lib/syslinux/modules/efi64",
    "efi32": "/usr/lib/syslinux/modules/efi32",
}
SYSTEM_NBP = {
    "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
    "lpxelinux.0": "/usr/lib/PXELINUX/lpxelinux.0",
    "syslinux.efi": "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
}


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # "file:line", or a path when no line applies
    message: str
    fix: str
    also: tuple[str, ...] = ()  # other lines that name the same missing file
    key: object = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        also = f" (also named at {', '.join(self.also)})" if self.also else ""
        return f"{self.where}: {self.level}: {self.message}{also}; fix: {self.fix}"


@dataclass
class BootFile:
    """A file the configuration hands to clients, and where it was configured."""

    name: str
    source: Source
    what: str  # "dhcp-boot" or "pxe-service"
    arch: int | None = None  # the pxe-service CSA, None for dhcp-boot
    suffixed: bool = False  # ".0" added to a pxe-service basename


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    tree: Tree | None = None  # the TFTP root as checked, for the client chain

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, where: object, message: str, fix: str, *, key: object = None) -> None:
        """Record an error; a second error with the same `key` (a missing file) only adds
        its line to the first, so one fix is one line of output."""
        if key is not None:
            for i, f in enumerate(self.findings):
                if f.key == key:
                    if str(where) != f.where and str(where) not in f.also:
                        self.findings[i] = replace(f, also=(*f.also, str(where)))
                    return
        self.findings.append(Finding("error", str(where), message, fix, key=key))

    def warning(self, where: object, message: str, fix: str) -> None:
        self.findings.append(Finding("warning", str(where), message, fix))


@dataclass(frozen=True)
class ClientIdentity:
    mac: str | None = None
    arch: int = 0
    ip: str | None = None
    uuid: str | None = None


# -- who can read what -----------------------------------------------------------------------


class Reader:
    """Whether a user (by default dnsmasq's `nobody`) can read a path, from its permission bits."""

    def __init__(self, user: str) -> None:
        self.user = user
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            self.uid: int | None = None
            self.gids: set[int] = set()
            return
        self.uid = pw.pw_uid
        self.gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}

    @property
    def known(self) -> bool:
        return self.uid is not None

    def _allows(self, st: os.stat_result, bits: tuple[int, int, int]) -> bool:
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & bits[0])
        if st.st_gid in self.gids:
            return bool(st.st_mode & bits[1])
        return bool(st.st_mode & bits[2])

    def blocked_dir(self, path: Path) -> Path | None:
        """The first directory from / down to `path` (a directory) the user cannot enter."""
        if not self.known:
            return None
        parts = path.resolve().parts
        for i in range(1, len(parts) + 1):
            d = Path(*parts[:i])
            try:
                st = d.stat()
            except OSError:
                return d
            if not self._allows(st, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
                return d
        return None

    def can_list(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return not self.known or self._allows(st, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH))

    def can_read(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        if not self.known:
            return True
        # dnsmasq running as root (no user to drop to) wants world-readable files (tftp.c).
        if self.uid == 0:
            return bool(st.st_mode & stat.S_IROTH)
        return self._allows(st, (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH))


# -- the TFTP tree ---------------------------------------------------------------------------


class Tree:
    """The TFTP root as dnsmasq's TFTP server maps request names onto it."""

    def __init__(self, root: Path, reader: Reader, report: Report) -> None:
        self.root = root
        self.reader = reader
        self.report = report

    def local(self, name: str) -> Path:
        name = name.replace("\\", "/")
        prefix = str(self.root).rstrip("/") + "/"
        if name.startswith("/"):
            if name.startswith(prefix):
                return Path(name)
            name = name[1:]
        return Path(prefix + name)

    def has(self, name: str, where: object) -> bool:
        """Whether `name` is served; an existing file the server user cannot read is reported."""
        path = self.local(name)
        if not path.is_file():
            return False
        if not self.reader.can_read(path):
            mode = stat.S_IMODE(path.stat().st_mode)
            self.report.error(
                where,
                f"{path} is not readable by user {self.reader.user} (mode {mode:04o}); "
                f"the TFTP server drops to that user and answers 'permission denied'",
                f"chmod o+r {path}",
                key=("unreadable", path),
            )
        return True

    def read_text(self, name: str) -> str | None:
        path = self.local(name)
        try:
            return path.read_text(errors="replace")
        except OSError:
            return None


# -- the checks ------------------------------------------------------------------------------


def boot_files(cfg: ServerConfig) -> list[BootFile]:
    """dhcp-boot files, then pxe-service files (".0" added to a basename without a dot,
    as dnsmasq's rfc2131.c does for the layer-0 PXEBS answer and its UEFI shortcut)."""
    out = [BootFile(b.file, b.source, "dhcp-boot") for b in cfg.boot if b.file]
    for s in cfg.services:
        if s.type == 0 or not s.basename:
            continue
        name = s.basename if "." in s.basename else s.basename + ".0"
        out.append(BootFile(name, s.source, "pxe-service", s.csa, "." not in s.basename))
    return out


def _firmware(nbp: str, arch: int | None) -> str:
    core = core_module(nbp, arch)
    if core == "ldlinux.e64":
        return "efi64"
    if core == "ldlinux.e32":
        return "efi32"
    return "bios"


def _option_text(cfg: ServerConfig, number: int) -> str | None:
    for opt in cfg.options:
        plain = opt.vendor is None and not opt.vendor_pxe and opt.encap is None
        if opt.number == number and plain and not opt.tags:
            return opt.value.decode("latin-1").rstrip("\0")
    return None


def _seed_43_6(cfg: ServerConfig, report: Report) -> set[Source]:
    """Explain a configured 43.6 (the seed's `dhcp-option=vendor:PXEClient,6,2b`)."""
    covered: set[Source] = set()
    for opt in cfg.options:
        if opt.number != 6 or not (opt.vendor or opt.vendor_pxe or opt.encap == 43):
            continue
        covered.add(opt.source)
        text = _source_line(opt.source)
        raw = text.split(",")[-1].strip() if text else ""
        got = int.from_bytes(opt.value, "big") if opt.value else 0
        misread = ""
        if raw[:-1].isdigit() and raw[-1:].lower() in ("b", "s", "i"):
            misread = (
                f"dnsmasq reads '{raw}' as the decimal {raw[:-1]} with a size suffix "
                f"('{raw[-1]}' = {_SIZES[raw[-1].lower()]}), not hex "
                f"0x{raw[:-1]}{raw[-1]}; "
            )
        own = _dnsmasq_43_6(cfg)
        report.warning(
            opt.source,
            f"{misread}this 43.6 (PXE discovery control) = {got} is sent after the 43.6 = "
            f"{own} the server computes itself (dnsmasq and pxelab alike: {_DISCOVERY[own]}), "
            "and PXE clients read the first, so the line changes nothing",
            "delete the line"
            + (" (the computed 43.6 already turns multicast discovery off)" if own & 2 else ""),
        )
    return covered


_SIZES = {"b": "one byte", "s": "two bytes", "i": "four bytes"}
_DISCOVERY = {
    3: "no broadcast or multicast discovery: boot servers from 43.8",
    2: "no multicast discovery; broadcast for services without a known server",
    8: "no PXE menu: boot the offered file",
}


def _dnsmasq_43_6(cfg: ServerConfig) -> int:
    """The 43.6 dnsmasq's pxe_opts() puts first: 8 without a menu, else 3, or 2 when a
    service has neither a file here nor a server address (rfc2131.c)."""
    if not cfg.services:
        return 8
    for s in cfg.services:
        if s.type != 0 and not s.basename and not s.server_address and not s.server_name:
            return 2
    return 3


def _is_url(name: str) -> bool:
    return "://" in name


def _source_line(source: Source) -> str | None:
    try:
        lines = Path(source.file).read_text(errors="replace").splitlines()
    except OSError:
        return None
    return lines[source.line - 1] if 0 < source.line <= len(lines) else None


class _Checker:
    def __init__(self, cfg: ServerConfig, report: Report, user: str) -> None:
        self.cfg = cfg
        self.report = report
        self.reader = Reader(user)
        self.tree: Tree | None = None
        self.pxelinux_done: set[tuple[str, str]] = set()
        self.remote: set[str] = set()  # URLs (lpxelinux.0 over HTTP): not checked here

    # root ---------------------------------------------------------------------------------

    def check_root(self) -> bool:
        cfg, report = self.cfg, self.report
        if not cfg.tftp.enabled:
            report.warning(
                cfg.files[0] if cfg.files else "<config>",
                "TFTP is not enabled here: the boot files must come from another TFTP server, "
                "so they are not checked",
                "add enable-tftp and tftp-root=DIR to serve them from this host",
            )
            return False
        where = cfg.source_of("tftp.root")
        root = cfg.tftp.root
        if root is None:
            report.error(
                cfg.source_of("tftp.enabled"),
                "TFTP is enabled without tftp-root: files are served relative to the server's "
                "working directory (/ once it runs as a daemon)",
                "add tftp-root=/srv/tftp (the directory holding pxelinux.0)",
            )
            return False
        if not root.exists():
            report.error(where, f"TFTP root {root} does not exist", f"mkdir -p {root} and put "
                         "the boot files there, or point tftp-root at the tree")
            return False
        if not root.is_dir():
            report.error(where, f"TFTP root {root} is not a directory",
                         "point tftp-root at the directory that holds the boot files")
            return False
        if not os.access(root, os.R_OK | os.X_OK):
            report.error(where, f"TFTP root {root} is not readable by this user",
                         f"chmod a+rx {root}, or run pxelab check as the server's user")
            return False
        if not self.reader.known:
            report.warning(where, f"user {self.reader.user} does not exist here: cannot tell "
                           "whether the server can read the tree after dropping privileges",
                           "pass --user with the user the server runs as")
        else:
            blocked = self.reader.blocked_dir(root)
            if blocked is not None:
                report.error(
                    where,
                    f"TFTP root {root} is not readable by user {self.reader.user}: directory "
                    f"{blocked} does not let that user in (mode "
                    f"{stat.S_IMODE(blocked.stat().st_mode):04o}); the server drops to "
                    f"{self.reader.user} and every request fails",
                    f"chmod o+x {blocked}" + ("" if blocked == root.resolve() else
                                              f" (and o+rx {root})"),
                )
                return False
            if not self.reader.can_list(root):
                report.warning(where, f"TFTP root {root} is not listable by user "
                               f"{self.reader.user} (files can still be read by name)",
                               f"chmod o+r {root}")
        self.tree = Tree(root, self.reader, report)
        return True

    # boot files ----------------------------------------------------------------------------

    def check_boot_files(self) -> None:
        assert self.tree is not None
        files = boot_files(self.cfg)
        if not files:
            src = self.cfg.ranges[0].source if self.cfg.ranges else "<config>"
            self.report.error(src, "no boot file is configured: PXE clients get nothing to boot",
                              "add dhcp-boot=pxelinux.0 (or a pxe-service line)")
        for bf in files:
            if bf.name.startswith(("http://", "https://", "ftp://")):
                continue
            elsewhere = self._remote_server(bf)
            if not self.tree.has(bf.name, bf.source):
                local = self.tree.local(bf.name)
                msg = f"{bf.what} file {bf.name} is missing under the TFTP root ({local})"
                if bf.suffixed:
                    msg += f"; dnsmasq adds '.0' to the basename '{bf.name[:-2]}'"
                fix = self._copy_fix(bf.name, posixpath.basename(bf.name))
                if elsewhere:
                    self.report.warning(
                        bf.source, f"{msg}; the line names server {elsewhere}: if that is "
                        "another host, the file must be there instead", fix)
                else:
                    self.report.error(bf.source, msg, fix, key=local)
                continue
            check_nbp(self, bf)  # the file is the program its clients can start
            if core_module(bf.name, bf.arch) is not None:
                self.check_pxelinux(bf)
            elif is_grub_image(bf.name):
                check_grub(self, bf)

    def _remote_server(self, bf: BootFile) -> str | None:
        for b in self.cfg.boot:
            if b.source == bf.source and (b.server_address or b.server_host):
                return str(b.server_address or b.server_host)
        for s in self.cfg.services:
            if s.source == bf.source and (s.server_address or s.server_name):
                return str(s.server_address or s.server_name)
        return None

    def _copy_fix(self, name: str, base: str, firmware: str = "bios") -> str:
        assert self.tree is not None
        dest = self.tree.local(name)
        src = SYSTEM_NBP.get(base) or (
            f"{SYSTEM_FILES[firmware]}/{base}"
            if base.endswith((".c32", ".e64", ".e32")) else None
        )
        if src:
            return f"cp {src} {dest}"
        return f"put the file at {dest} or correct the name"

    # PXELINUX -------------------------------------------------------------------------------

    def check_pxelinux(self, bf: BootFile) -> None:
        assert self.tree is not None
        tree, report = self.tree, self.report
        firmware = _firmware(bf.name, bf.arch)
        core = core_module(bf.name, bf.arch)
        assert core is not None
        opt210 = _option_text(self.cfg, 210)
        prefix = path_prefix(bf.name, opt210)
        key = (prefix, firmware)
        nbp_dir = posixpath.dirname(bf.name)
        core_name = posixpath.join(nbp_dir, core) if nbp_dir else core
        if not tree.has(core_name, bf.source):
            report.error(
                bf.source,
                f"{core} is missing beside {bf.name} ({tree.local(core_name)}): PXELINUX 6 "
                f"stops with 'Failed to load {core}'",
                self._copy_fix(core_name, core, firmware),
                key=tree.local(core_name),
            )
        if key in self.pxelinux_done:
            return
        self.pxelinux_done.add(key)
        opt209 = _option_text(self.cfg, 209)
        first = resolve(prefix, opt209) if opt209 else None
        default = resolve(prefix, "pxelinux.cfg/default")
        name = first if first and tree.has(first, bf.source) else default
        if not tree.has(name, bf.source):
            report.error(
                bf.source,
                f"pxelinux.cfg/default is missing ({tree.local(default)}): it is the last name "
                f"{bf.name} tries, and without it PXELINUX stops with "
                f"'Unable to locate configuration file'",
                f"create {tree.local(default)} with a menu (default menu.c32, a LABEL per "
                f"kernel)",
                key=tree.local(default),
            )
            return
        config = self.parse(name, prefix)
        if config is None:
            return
        self.check_menu(config, prefix, firmware)
        menu = config.menu()
        n = len(menu.visible)
        modules = config.modules_needed()
        clients = self.check_client_configs(prefix, firmware)
        self.report.summary.append(
            f"{bf.name}: {name} -> menu '{menu.title}' with {n} entr{'y' if n == 1 else 'ies'}"
            + (f", modules {' '.join(modules)}" if modules else "")
            + (f", {clients} client-specific config(s)" if clients else "")
        )

    def check_client_configs(self, prefix: str, firmware: str) -> int:
        """Check the other files of pxelinux.cfg/ that PXELINUX may pick for some client, and
        name those it never asks for (an upper-case MAC, a dotted or lower-case hex IP)."""
        assert self.tree is not None
        directory = self.tree.local(resolve(prefix, "pxelinux.cfg/x")).parent
        try:
            files = sorted(p for p in directory.iterdir() if p.is_file())
        except OSError:
            return 0
        count = 0
        for path in files:
            kind, asked = classify_config_name(path.name)
            if kind in ("uuid", "mac", "ip"):
                config = self.parse(resolve(prefix, "pxelinux.cfg/" + path.name), prefix)
                if config is not None:
                    self.check_menu(config, prefix, firmware)
                    count += 1
            elif kind == "wrong" and asked is None:
                self.report.warning(
                    path, "PXELINUX never asks for this UUID: it skips UUIDs whose version "
                    "byte is 0 or F (all-zero and all-FF ones)",
                    "name the file 01-<mac in lower case, dashes> instead")
            elif kind == "wrong":
                self.report.warning(
                    path, f"PXELINUX never asks for {path.name}: the client asks for "
                    f"{asked} (MAC in lower case with the 01- type, IP in upper-case hex)",
                    f"mv {path} {path.parent / asked}")
        return count

    def parse(self, name: str, prefix: str) -> Config | None:
        assert self.tree is not None
        tree = self.tree
        text = tree.read_text(name)
        if text is None:
            self.report.error(tree.local(name), "cannot read the file", f"chmod a+r "
                              f"{tree.local(name)}")
            return None

        def loader(inc: str) -> str | None:
            target = resolve(prefix, inc)
            if _is_url(target):
                self.remote.add(target)
                return ""  # fetched over HTTP by lpxelinux.0: not checked here
            return tree.read_text(target) if tree.has(target, tree.local(name)) else None

        try:
            config = parse_config(text, filename=str(tree.local(name)), loader=loader)
        except PxelinuxConfigError as exc:
            self.report.error(f"{exc.filename}:{exc.line}", exc.message,
                              "break the INCLUDE loop")
            return None
        for w in config.warnings:
            where = w.filename if w.filename.startswith("/") else str(
                tree.local(resolve(prefix, w.filename)))
            self.report.warning(f"{where}:{w.line}", w.message,
                                "correct or delete the line")
        return config

    def _module_dirs(self, config: Config, prefix: str) -> list[str]:
        dirs = [prefix]
        for p in config.path:
            d = resolve(prefix, p)
            dirs.append(d if d.endswith("/") or not d else d + "/")
        return dirs

    def _find_module(self, name: str, dirs: list[str], where: str) -> bool:
        """ldlinux opens a module by its name from the working directory, then along PATH."""
        assert self.tree is not None
        if _is_url(resolve(dirs[0], name)):
            self.remote.add(resolve(dirs[0], name))
            return True
        if self.tree.has(resolve(dirs[0], name), where):
            return True
        return any(self.tree.has(d + posixpath.basename(name), where) for d in dirs[1:])

    def check_menu(self, config: Config, prefix: str, firmware: str) -> None:
        assert self.tree is not None
        tree, report = self.tree, self.report
        dirs = self._module_dirs(config, prefix)
        looked = " and ".join(str(tree.local(d)) for d in dirs)
        ui = config.ui_module()
        if ui:
            src_line = config.ui_line if config.ui is not None else config.default_line
            src_file = config.ui_filename if config.ui is not None else config.default_filename
            where = f"{src_file}:{src_line}"
            directive = "UI" if config.ui is not None else "DEFAULT"
            self._check_module(ui, dirs, where, f"{directive} {config.boot_command}", looked,
                               firmware)
        rel = (
            f"; relative names start in {prefix}, the boot file's directory "
            "(write ::images/... for a path from the TFTP root)"
            if prefix else ""
        )
        for e in config.menu_entries():
            where_label = f"{e.filename}:{e.kernel_line or e.line}"
            if e.kind == "localboot" or e.kernel is None:
                continue
            if e.kind == "com32":
                if e.kernel != ui:
                    self._check_module(e.kernel, dirs, where_label, f"label {e.label}", looked,
                                       firmware)
                continue
            if e.kind == "config":
                continue
            kpath = resolve(prefix, e.kernel)
            if _is_url(kpath):
                self.remote.add(kpath)
            elif not tree.has(kpath, where_label):
                report.error(
                    where_label,
                    f"label {e.label}: kernel {e.kernel} is missing ({tree.local(kpath)})"
                    + rel,
                    f"put the kernel at {tree.local(kpath)} or correct the KERNEL line",
                    key=tree.local(kpath),
                )
            for initrd in e.initrds:
                ipath = resolve(prefix, initrd)
                where_i = f"{e.filename}:{e.initrd_line or e.line}"
                if _is_url(ipath):
                    self.remote.add(ipath)
                elif not tree.has(ipath, where_i):
                    report.error(
                        where_i,
                        f"label {e.label}: initrd {initrd} is missing ({tree.local(ipath)})"
                        + rel,
                        f"put the initrd at {tree.local(ipath)} or correct initrd=",
                        key=tree.local(ipath),
                    )

    def _check_module(self, module: str, dirs: list[str], where: str, user_of: str,
                      looked: str, firmware: str) -> None:
        chain = with_libraries(module)
        for i, name in enumerate(chain):
            if self._find_module(name, dirs, where):
                continue
            base = posixpath.basename(name)
            if i == 0:
                msg = f"{base} ({user_of}) is missing: looked in {looked}"
            else:
                needers = [m for m in chain[:i] if name in with_libraries(m)[1:]]
                msg = (f"{base} is missing: {posixpath.basename(needers[0])} needs it "
                       f"(PXELINUX prints 'Failed to load {base}'); looked in {looked}")
            assert self.tree is not None
            dest = self.tree.local(dirs[0])
            self.report.error(where, msg, f"cp {SYSTEM_FILES[firmware]}/{base} {dest}/",
                              key=("module", base, dest))


def configured_user(cfg: ServerConfig) -> tuple[str, Source] | None:
    """dnsmasq's `user=NAME` line, if a file of this configuration has one (the model keeps
    no field for it: pxelab reads it only to know whose permissions matter)."""
    import re

    found = None
    for file in cfg.files:
        try:
            lines = Path(file).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, start=1):
            m = re.match(r"\s*user\s*=\s*([^\s#,]+)", line)
            if m:
                found = (m.group(1), Source(str(file), number))
    return found


def check(cfg: ServerConfig, *, user: str | None = None) -> Report:
    """Every static check on a read configuration; findings in the order a client meets them.

    `user`: whose permissions the tree needs; default the configuration's `user=`, else nobody.
    """
    report = Report()
    configured = configured_user(cfg)
    if user is None:
        user = configured[0] if configured else DEFAULT_USER
    covered = _seed_43_6(cfg, report)
    for w in cfg.warnings:
        if w.source in covered:
            continue
        if w.option == "user" and configured and w.source == configured[1]:
            continue  # acted on: check reads the tree as that user
        report.warning(w.source, f"{w.option}: {w.message}", "correct or delete the line")
    checker = _Checker(cfg, report, user)
    if checker.check_root():
        report.tree = checker.tree
        report.summary.insert(0, f"TFTP root {cfg.tftp.root} (readable by {user})")
        checker.check_boot_files()
        if checker.remote:
            report.summary.append(f"{len(checker.remote)} URL(s) not checked (fetched over HTTP)")
    check_http(cfg, report)
    return report


# -- the offer one client gets ---------------------------------------------------------------


@dataclass
class Offer:
    how: str  # where the answer came from
    boot_file: str | None
    server: str
    menu: list[tuple[int, str, str | None]]  # (type, text, file) of each 43.9 item
    prompt: str | None = None
    prompt_timeout: int | None = None
    local_boot: bool = False
    notes: list[str] = field(default_factory=list)
    source: Source | None = None  # the configuration line the boot file came from

    def describe(self) -> str:
        parts = [f"boot file {self.boot_file or '(none)'} from {self.server}"]
        if self.menu:
            items = ", ".join(
                f"'{text}' ({'local disk' if t == 0 else f'type {t} -> {f}'})"
                for t, text, f in self.menu
            )
            parts.append(f"PXE menu: {items}")
        if self.prompt is not None:
            wait = "waits for a key" if self.prompt_timeout == 255 else (
                f"{self.prompt_timeout} s, then the first item")
            parts.append(f"prompt '{self.prompt}' ({wait})")
        return "; ".join(parts + self.notes)


def offer_for(cfg: ServerConfig, who: ClientIdentity) -> Offer:
    """The proxy offer and the boot file the client ends up with: asked of the server's own
    reply policy (pxelab.boot.policy) with the DISCOVER a PXE ROM sends, then the boot-server
    request it sends to port 4011 for the menu item it boots when the prompt times out."""
    from ipaddress import IPv4Address, IPv4Network

    from pxelab.boot import policy
    from pxelab.boot.pxelinux_search import mac_bytes, uuid_bytes
    from pxelab.wire import dhcp

    how = "pxelab.boot.policy, for a PXE ROM's DISCOVER"
    if not cfg.ranges:
        return Offer(how, None, "-", [], notes=["no dhcp-range=ADDRESS,proxy: no answer"])
    rng = cfg.ranges[0]
    mask = str(rng.netmask) if rng.netmask else "255.255.255.0"
    local = policy.Local(rng.address, IPv4Network(f"0.0.0.0/{mask}").prefixlen, "")
    mac = mac_bytes(who.mac) if who.mac else bytes(6)
    opts: dict[int, bytes] = {
        60: f"PXEClient:Arch:{who.arch:05d}:UNDI:002001".encode(),
        93: who.arch.to_bytes(2, "big"),
        94: b"\x01\x02\x01",
    }
    raw_uuid = uuid_bytes(who.uuid)
    if raw_uuid is not None:
        opts[97] = b"\x00" + raw_uuid
    zero = bytes(4)
    ciaddr = IPv4Address(who.ip).packed if who.ip else zero

    def ask(port: int, mtype: int, extra: dict[int, bytes], ci: bytes):
        req = dhcp.Request(port, 1, 1, len(mac), 0, b"\0\0\0\1", b"\0\0", 0, ci, zero,
                             mac.ljust(16, b"\0"), True, {53: bytes([mtype]), **opts, **extra})
        d = policy.ProxyPolicy(cfg).decide(req, local)
        return d, (dhcp.decode(d.reply) if d.reply else None)

    decision, offer_msg = ask(67, 1, {}, zero)
    if offer_msg is None:
        return Offer(how, None, "-", [], notes=[f"no answer: {decision.reason}"])
    pxe_opts = offer_msg.pxe_options()
    server = str(offer_msg.siaddr)
    file = offer_msg.file_name or None
    menu: list[tuple[int, str, str | None]] = []
    servers: list[str] = []
    for item in (pxe_opts.menu if pxe_opts and pxe_opts.menu else []):
        item_file = None
        if item.type:
            _, ack = ask(4011, 3, {43: bytes([71, 4]) + item.type.to_bytes(2, "big") + b"\0\0"
                                   + b"\xff"}, ciaddr)
            item_file = ack.file_name if ack is not None and ack.file_name else None
            servers.append(str(ack.siaddr) if ack is not None else "-")
        else:
            servers.append("-")
        menu.append((item.type, item.text, item_file))
    prompt = pxe_opts.prompt if pxe_opts else None
    out = Offer(how, file, server, menu,
                prompt=prompt.text if prompt else None,
                prompt_timeout=prompt.timeout if prompt else None)
    control = pxe_opts.discovery_control if pxe_opts else None
    out.notes.append(f"43.6 = {control}" if control is not None else "no option 43")
    if menu and not (control or 0) & 8:
        first_type, _, first_file = menu[0]
        if first_type == 0:
            out.local_boot = True
            out.notes.append("the ROM boots the first menu item (local disk) when the prompt "
                             "times out")
        else:
            out.boot_file = first_file
            out.server = servers[0]
            out.notes.append("the ROM boots the first menu item when the prompt times out: "
                             f"boot-server request to port 4011 -> {first_file}")
    elif pxe_opts is None and who.arch >= 6:
        _, ack = ask(4011, 3, {}, ciaddr)  # a UEFI client comes to 4011 without 43.71
        if ack is not None and ack.file_name:
            out.boot_file = ack.file_name
            out.notes.append(f"UEFI: no 43 on port 67; its request to port 4011 gets "
                             f"{ack.file_name}")
    out.source = _source_for(cfg, out.boot_file)
    return out


def _source_for(cfg: ServerConfig, file: str | None) -> Source | None:
    """The line a boot file name comes from (a pxe-service basename, else dhcp-boot)."""
    if not file:
        return None
    for bf in [b for b in boot_files(cfg) if b.what == "pxe-service"] + boot_files(cfg):
        if bf.name == file:
            return bf.source
    return None


# -- one client's walk -----------------------------------------------------------------------


def client_chain(cfg: ServerConfig, who: ClientIdentity, report: Report) -> list[str]:
    """The links a given client walks: offer, boot file, PXELINUX config names, final menu."""
    lines: list[str] = []
    offer = offer_for(cfg, who)
    lines.append(f"offer ({offer.how}): {offer.describe()}")
    tree = report.tree
    if offer.local_boot:
        lines.append("client: boots from local disk (menu item of type 0); chain ends here")
        return lines
    grub = next((b.name for b in boot_files(cfg) if is_grub_image(b.name)), None)
    if not offer.boot_file and not cfg.ranges and tree is not None and grub is not None:
        # Not a proxy: the DHCP server itself hands dhcp-boot over, as GRUB needs (check_grub).
        lines.append(f"boot file: {grub} (dhcp-boot, from the DHCP server itself)")
        lines.extend(grub_chain(cfg, who, tree, grub, False))
        return lines
    if not offer.boot_file:
        lines.append("boot file: none offered; the client has nothing to boot")
        return lines
    if tree is None:
        lines.append(f"boot file: {offer.boot_file} (not checked: no local TFTP root)")
        return lines
    path = tree.local(offer.boot_file)
    if not path.is_file():
        lines.append(f"boot file: {offer.boot_file} -> {path} NOT FOUND: the chain stops here")
        return lines
    lines.append(f"boot file: {offer.boot_file} -> {path} ({path.stat().st_size} bytes)")
    base = posixpath.basename(offer.boot_file).lower()
    efi_client = who.arch in (6, 7, 9, 10, 11)
    if efi_client and (base.endswith(".0") or base in ("undionly.kpxe", "ipxe.pxe")):
        report.error(
            offer.source or offer.boot_file,
            f"a UEFI client (arch {who.arch}) is handed {offer.boot_file}, a BIOS boot "
            "program it cannot run",
            f"give UEFI clients their own file: dhcp-match=set:efi,option:client-arch,{who.arch} "
            "and dhcp-boot=tag:efi,efi64/syslinux.efi (ldlinux.e64 beside it)",
        )
        lines.append(f"PROBLEM: arch {who.arch} is UEFI but {offer.boot_file} is a BIOS NBP; "
                     "the chain stops here")
        return lines
    elif who.arch == 0 and base.endswith(".efi"):
        report.error(offer.source or offer.boot_file,
                     f"a BIOS client is handed {offer.boot_file}, a UEFI program",
                     "give BIOS clients pxelinux.0 (dhcp-boot or pxe-service=x86PC,...)")
        lines.append(f"PROBLEM: arch 0 is BIOS but {offer.boot_file} is a UEFI program; "
                     "the chain stops here")
        return lines
    core = core_module(offer.boot_file, who.arch)
    if core is None and is_grub_image(offer.boot_file):
        lines.extend(grub_chain(cfg, who, tree, offer.boot_file, bool(cfg.ranges)))
        return lines
    if core is None:
        lines.append("boot file is not PXELINUX: the chain continues inside it")
        return lines
    nbp_dir = posixpath.dirname(offer.boot_file)
    core_name = posixpath.join(nbp_dir, core) if nbp_dir else core
    lines.append(f"  {core_name}: {'found' if tree.local(core_name).is_file() else 'NOT FOUND'}")
    if who.mac is None or who.ip is None:
        lines.append("PXELINUX config search: needs --mac and --ip to name the files it tries")
        return lines
    names = config_search(
        who.mac, who.ip, who.uuid,
        option209=_option_text(cfg, 209), option210_prefix=_option_text(cfg, 210),
        boot_file=offer.boot_file,
    )
    found = None
    lines.append("PXELINUX config search, in order:")
    for name in names:
        hit = found is None and tree.local(name).is_file()
        if found is None:
            lines.append(f"  {name}: {'found' if hit else 'not found'}")
        if hit:
            found = name
    if found is None:
        lines.append("  none found: PXELINUX stops with 'Unable to locate configuration file'")
        return lines
    prefix = path_prefix(offer.boot_file, _option_text(cfg, 210))
    text = tree.read_text(found) or ""

    def loader(inc: str) -> str | None:
        return tree.read_text(resolve(prefix, inc))

    try:
        config = parse_config(text, filename=found, loader=loader)
    except PxelinuxConfigError as exc:
        lines.append(f"config {found}: {exc}")
        return lines
    menu = config.menu()
    ui = config.ui_module()
    lines.append(f"runs: {config.boot_command or '(nothing: boot: prompt)'}"
                 + (f" (loads {', '.join(with_libraries(ui))})" if ui else ""))
    lines.append(f"menu: '{menu.title}', default {menu.default}")
    for e in menu.entries:
        mark = "*" if e.label == menu.default else " "
        hidden = " (hidden)" if e.hidden else ""
        lines.append(f"  {mark} {e.label}: {e.text}{hidden}")
    return lines
