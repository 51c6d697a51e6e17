"""PXELINUX 6 config files: parsed the way ldlinux/menu.c32 read them, into a menu model.

Pure: the caller does the I/O. INCLUDE lines are either left pending (`Config.includes`) or,
when the caller passes `loader(name) -> str | None`, read through it and parsed in place, as
syslinux does (an included file continues the same parser state, as if concatenated).

Semantics follow syslinux 6.04's com32/elflink/ldlinux/readconfig.c:
- a keyword matches case-insensitively and only when followed by whitespace or end of line;
  a line is cut at its first CR;
- `LABEL x` starts an entry whose kernel defaults to `x`; KERNEL/LINUX/LOCALBOOT/COM32/...
  before any LABEL are ignored by syslinux (we warn);
- APPEND outside a label is the global default for labels without their own; `APPEND -`
  means none; INITRD outside a label is ignored;
- the kernel command line is `<append> initrd=<INITRD>` and the kernel loader takes the
  *first* `initrd=` in it (comma list), so an `initrd=` inside APPEND beats an INITRD line;
- the menu's default is the entry named by DEFAULT when it names a visible label, else the
  last `MENU DEFAULT` entry, else the first entry; what runs at boot (prompt 0 / timeout) is
  UI if given, else DEFAULT;
- TIMEOUT and TOTALTIMEOUT are in tenths of a second.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from pxelab.boot.pxelinux_modules import with_libraries


class PxelinuxConfigError(ValueError):
    """A config the parser cannot model (an INCLUDE loop); names file and line."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


@dataclass(frozen=True)
class ConfigWarning:
    filename: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Include:
    """An INCLUDE (or MENU INCLUDE) line; `name` as written, relative to the working directory."""

    name: str
    filename: str
    line: int
    menu: bool = False
    found: bool | None = None  # None: not loaded (no loader given)


@dataclass
class Label:
    """One LABEL block as written (see `Config.menu()` for what the menu shows)."""

    name: str
    filename: str
    line: int
    kernel: str  # the KERNEL/LINUX/... value (defaults to the label's name)
    kernel_type: str = "kernel"  # kernel, linux, localboot, com32, pxe, boot, bss, fdimage, ...
    kernel_line: int | None = None
    append: str | None = None
    append_line: int | None = None
    initrd: str | None = None  # the INITRD directive's comma list
    initrd_line: int | None = None
    menu_label: str | None = None
    hidden: bool = False
    menu_default: bool = False
    disabled: bool = False
    ipappend: int | None = None
    help_text: str = ""
    menu_path: tuple[str, ...] = ()  # MENU BEGIN titles this label sits under


@dataclass(frozen=True)
class MenuEntry:
    label: str
    text: str  # the MENU LABEL (or label name) with '^' hotkey markers removed
    hotkey: str | None
    hidden: bool
    kind: str  # linux, com32, pxe, boot, bss, fdimage, comboot, config, localboot
    kernel: str | None  # the file that gets loaded (None for LOCALBOOT)
    append: str  # the command line the kernel gets (without the initrd= ipappend strings)
    initrds: tuple[str, ...]
    localboot: int | None
    help_text: str
    filename: str
    line: int
    kernel_line: int | None
    initrd_line: int | None  # where the initrd list came from (APPEND or INITRD line)


@dataclass(frozen=True)
class Menu:
    title: str
    entries: tuple[MenuEntry, ...]  # every label of this menu, hidden ones flagged
    default: str | None  # label of the default entry
    submenus: tuple[Menu, ...] = ()

    @property
    def visible(self) -> tuple[MenuEntry, ...]:
        return tuple(e for e in self.entries if not e.hidden)

    def entry(self, label: str) -> MenuEntry | None:
        return next((e for e in self.entries if e.label == label), None)


@dataclass
class Config:
    filename: str
    default: str | None = None  # DEFAULT's command line
    default_line: int | None = None
    ui: str | None = None  # UI's command line
    ui_line: int | None = None
    ui_filename: str | None = None
    default_filename: str | None = None
    prompt: int = 0
    timeout: int = 0  # tenths of a second; 0 waits forever
    totaltimeout: int = 0
    ontimeout: str | None = None
    serial: str | None = None  # "port [baud [flow]]"
    console: int | None = None
    path: list[str] = field(default_factory=list)
    append: str | None = None  # global APPEND
    ipappend: int = 0
    title: str = ""
    labels: list[Label] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file parsed, in order
    submenu_titles: dict[tuple[str, ...], str] = field(default_factory=dict)

    # -- what runs ---------------------------------------------------------------------------

    @property
    def boot_command(self) -> str | None:
        """What ldlinux runs with no user input: UI beats DEFAULT."""
        return self.ui if self.ui is not None else self.default

    def label(self, name: str) -> Label | None:
        return next((lb for lb in self.labels if lb.name == name), None)

    def ui_module(self) -> str | None:
        """The COM32 module the boot command starts (UI, or DEFAULT naming a .c32), if any."""
        cmd = self.boot_command
        if not cmd or not cmd.split():
            return None
        first = cmd.split()[0]
        if self.ui is not None:
            return first  # UI always names a COM32 module
        if self.label(first) is not None:
            lb = self.label(first)
            assert lb is not None
            kind, kernel = _kind_and_file(lb.kernel_type, lb.kernel)
            return kernel if kind == "com32" else None
        return first if first.lower().endswith(".c32") else None

    def modules_needed(self) -> list[str]:
        """Modules the UI/DEFAULT needs with their libraries, then COM32 labels' modules.

        Names as written (a module may carry a directory); libraries by bare name, since
        ldlinux finds them through the working directory and PATH.
        """
        out: list[str] = []
        ui = self.ui_module()
        candidates = [ui] if ui else []
        for e in self.menu_entries():
            if e.kind == "com32" and e.kernel:
                candidates.append(e.kernel)
        for mod in candidates:
            for name in with_libraries(mod):
                if name not in out:
                    out.append(name)
        return out

    # -- the menu model ----------------------------------------------------------------------

    def menu_entries(self) -> list[MenuEntry]:
        return [self._entry(lb) for lb in self.labels]

    def _entry(self, lb: Label) -> MenuEntry:
        shown = lb.menu_label if lb.menu_label is not None else lb.name
        hot = shown.find("^")
        hotkey = shown[hot + 1].upper() if 0 <= hot < len(shown) - 1 else None
        kind, kernel = _kind_and_file(lb.kernel_type, lb.kernel)
        extra = " ".join(lb.kernel.split()[1:]) if lb.kernel_type != "localboot" else ""
        args = lb.append if lb.append is not None else self.append
        if args is None or args == "-":
            args = ""
        cmdline = " ".join(x for x in (extra, args) if x)
        initrds: tuple[str, ...] = ()
        initrd_line = None
        full = cmdline + (f" initrd={lb.initrd}" if lb.initrd is not None else "")
        pos = full.find("initrd=")
        if kind == "linux" and pos >= 0:
            rest = full[pos + len("initrd=") :].split(" ", 1)[0]
            initrds = tuple(x for x in rest.split(",") if x)
            in_append = pos < len(cmdline)
            initrd_line = lb.append_line if in_append else lb.initrd_line
        localboot = None
        if kind == "localboot":
            localboot = _atoi(lb.kernel)
            kernel = None
        return MenuEntry(
            label=lb.name,
            text=shown.replace("^", ""),
            hotkey=hotkey,
            hidden=lb.hidden,
            kind=kind,
            kernel=kernel,
            append=cmdline,
            initrds=initrds,
            localboot=localboot,
            help_text=lb.help_text,
            filename=lb.filename,
            line=lb.line,
            kernel_line=lb.kernel_line,
            initrd_line=initrd_line,
        )

    def menu(self) -> Menu:
        """The top menu as menu.c32 builds it (submenus from MENU BEGIN/END nested inside)."""
        return self._menu(())

    def _menu(self, path: tuple[str, ...]) -> Menu:
        own = [lb for lb in self.labels if lb.menu_path == path]
        entries = tuple(self._entry(lb) for lb in own)
        default = None
        for lb in own:
            if lb.menu_default and not lb.hidden and not lb.disabled:
                default = lb.name
        named = self.default.split()[0] if self.default and self.default.split() else None
        target = self.label(named) if named else None
        if target is not None and not target.hidden and target.menu_path == path:
            default = target.name
        if default is None:
            first = next((e for e in entries if not e.hidden), None)
            default = first.label if first else None
        children = [
            p for p in self.submenu_titles if len(p) == len(path) + 1 and p[: len(path)] == path
        ]
        return Menu(
            title=self.submenu_titles.get(path, self.title) if path else self.title,
            entries=entries,
            default=default,
            submenus=tuple(self._menu(c) for c in children),
        )


def _kind_and_file(kernel_type: str, value: str) -> tuple[str, str]:
    """What ldlinux does with a label's kernel: (kind, file). KERNEL picks by extension."""
    words = value.split()
    file = words[0] if words else ""
    if kernel_type != "kernel":
        return kernel_type, file
    ext = posixpath.splitext(file)[1].lower()
    kind = {
        ".c32": "com32",
        ".0": "pxe",
        ".com": "comboot",
        ".cbt": "comboot",
        ".bs": "boot",
        ".bin": "boot",
        ".bss": "bss",
        ".img": "fdimage",
    }.get(ext, "linux")
    return kind, file


def _atoi(s: str) -> int:
    """C atoi: optional sign and leading digits after blanks; anything else gives 0."""
    s = s.strip()
    sign = -1 if s[:1] == "-" else 1
    if s[:1] in "+-" and s:
        s = s[1:]
    n = 0
    for ch in s:
        if not ch.isascii() or not ch.isdigit():
            break
        n = n * 10 + int(ch)
    return sign * n


def _strtoul(s: str) -> int:
    s = s.strip().split()[0] if s.split() else ""
    try:
        return int(s, 0) & 0xFFFFFFFF
    except ValueError:
        return _atoi(s) & 0xFFFFFFFF


def _looking_at(line: str, keyword: str) -> str | None:
    """syslinux's looking_at: the rest after `keyword` (stripped), or None."""
    n = len(keyword)
    if line[:n].lower() != keyword:
        return None
    if len(line) > n and not line[n].isspace():
        return None
    return line[n:].strip()


# fmt: off
KERNEL_TYPES = (
    "none", "localboot", "kernel", "linux", "boot", "bss", "pxe", "fdimage", "comboot", "com32",
    "config",
)

# Directives syslinux knows that the model keeps no field for: accepted without a warning.
_KNOWN_GLOBAL = (
    "display", "font", "kbdmap", "implicit", "allowoptions", "noescape", "nocomplete", "nohalt",
    "onerror", "say", "pxeretry", "sendcookies",
)
_KNOWN_MENU = (
    "passwd", "shiftkey", "save", "nosave", "onerror", "master", "background", "hidden",
    "color", "colour", "msgcolor", "msgcolour", "disable", "disabled", "indent", "quit", "goto",
    "exit", "start", "autoboot", "tabmsg", "notabmsg", "passprompt", "vshift", "hshift",
    "width", "margin", "passwordmargin", "rows", "tabmsgrow", "cmdlinerow", "endrow",
    "passwordrow", "timeoutrow", "helpmsgrow", "helpmsgendrow", "hiddenrow", "resolution",
    "immediate", "clear",
)
# fmt: on
_FKEYS = tuple(f"f{n}" for n in range(1, 13))  # F1..F12 help screens

MAX_INCLUDE_DEPTH = 16

Loader = Callable[[str], "str | None"]


class _Parser:
    def __init__(self, config: Config, loader: Loader | None) -> None:
        self.c = config
        self.loader = loader
        self.current: Label | None = None
        self.menu_path: tuple[str, ...] = ()
        self.depth = 0

    def warn(self, filename: str, line: int, message: str) -> None:
        self.c.warnings.append(ConfigWarning(filename, line, message))

    def parse(self, text: str, filename: str) -> None:
        self.c.files.append(filename)
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            lineno = i + 1
            raw = lines[i].split("\r", 1)[0]
            i += 1
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if (rest := _looking_at(line, "text")) is not None:
                help_lines: list[str] = []
                closed = False
                while i < len(lines):
                    body = lines[i].split("\r", 1)[0]
                    i += 1
                    if _looking_at(body.strip(), "endtext") is not None:
                        closed = True
                        break
                    help_lines.append(body)
                if not closed:
                    self.warn(filename, lineno, "TEXT without ENDTEXT: the rest is help text")
                if _looking_at(rest, "help") is not None:
                    if self.current is None:
                        self.warn(filename, lineno, "TEXT HELP outside a LABEL is ignored")
                    else:
                        self.current.help_text += "".join(x + "\n" for x in help_lines)
                else:
                    self.warn(filename, lineno, f"TEXT {rest!r}: only TEXT HELP is known")
                continue
            self.directive(line, filename, lineno)

    def directive(self, line: str, filename: str, lineno: int) -> None:
        c = self.c
        if (rest := _looking_at(line, "menu")) is not None:
            self.menu_directive(rest, filename, lineno)
            return
        for fk in _FKEYS:
            if _looking_at(line, fk) is not None:
                return
        if (rest := _looking_at(line, "include")) is not None:
            self.include(rest, filename, lineno, menu=False)
            return
        if (rest := _looking_at(line, "append")) is not None:
            if self.current is not None:
                self.current.append, self.current.append_line = rest, lineno
            else:
                c.append = rest
            return
        if (rest := _looking_at(line, "initrd")) is not None:
            if self.current is not None:
                self.current.initrd, self.current.initrd_line = rest, lineno
            else:
                self.warn(filename, lineno, "INITRD outside a LABEL: PXELINUX ignores it")
            return
        if (rest := _looking_at(line, "label")) is not None:
            name = rest.split()[0] if rest.split() else ""
            if not name:
                self.warn(filename, lineno, "LABEL without a name")
            self.current = Label(
                name=name,
                filename=filename,
                line=lineno,
                kernel=name,
                ipappend=None,
                menu_path=self.menu_path,
            )
            c.labels.append(self.current)
            return
        for kt in KERNEL_TYPES:
            if (rest := _looking_at(line, kt)) is not None:
                if self.current is None:
                    msg = f"{kt.upper()} outside a LABEL: PXELINUX ignores it"
                    self.warn(filename, lineno, msg)
                else:
                    self.current.kernel, self.current.kernel_type = rest, kt
                    self.current.kernel_line = lineno
                return
        if (rest := _looking_at(line, "timeout")) is not None:
            c.timeout = self.number(rest, filename, lineno, "TIMEOUT")
        elif (rest := _looking_at(line, "totaltimeout")) is not None:
            c.totaltimeout = self.number(rest, filename, lineno, "TOTALTIMEOUT")
        elif (rest := _looking_at(line, "ontimeout")) is not None:
            c.ontimeout = rest
        elif (rest := _looking_at(line, "ipappend")) is not None or (
            rest := _looking_at(line, "sysappend")
        ) is not None:
            if self.current is not None:
                self.current.ipappend = _strtoul(rest)
            else:
                c.ipappend = _strtoul(rest)
        elif (rest := _looking_at(line, "default")) is not None:
            c.default, c.default_line, c.default_filename = rest, lineno, filename
        elif (rest := _looking_at(line, "ui")) is not None:
            c.ui, c.ui_line, c.ui_filename = rest, lineno, filename
        elif (rest := _looking_at(line, "prompt")) is not None:
            c.prompt = self.number(rest, filename, lineno, "PROMPT")
        elif (rest := _looking_at(line, "console")) is not None:
            c.console = self.number(rest, filename, lineno, "CONSOLE")
        elif (rest := _looking_at(line, "serial")) is not None:
            c.serial = rest
            if not rest.split() or not rest.split()[0].lstrip("-").isdigit():
                self.warn(filename, lineno, f"SERIAL {rest!r}: expected a port number")
        elif (rest := _looking_at(line, "path")) is not None:
            c.path.extend(p for p in rest.split(":") if p)
        elif any(_looking_at(line, k) is not None for k in _KNOWN_GLOBAL):
            pass
        else:
            word = line.split()[0]
            self.warn(filename, lineno, f"unknown directive {word!r}: PXELINUX ignores this line")

    def number(self, text: str, filename: str, lineno: int, what: str) -> int:
        word = text.split()[0] if text.split() else ""
        if not word.lstrip("+-").isdigit():
            self.warn(filename, lineno, f"{what} {text!r}: not a number, PXELINUX reads it as 0")
        return _atoi(text)

    def menu_directive(self, rest: str, filename: str, lineno: int) -> None:
        c = self.c
        cur = self.current
        if (v := _looking_at(rest, "label")) is not None:
            if cur is not None:
                cur.menu_label = v
            elif self.menu_path:
                c.submenu_titles.setdefault(self.menu_path, v.replace("^", ""))
            else:
                self.warn(filename, lineno, "MENU LABEL outside a LABEL is ignored")
        elif (v := _looking_at(rest, "title")) is not None:
            if self.menu_path:
                c.submenu_titles[self.menu_path] = v
            else:
                c.title = v
        elif _looking_at(rest, "default") is not None:
            if cur is not None:
                cur.menu_default = True
        elif _looking_at(rest, "hide") is not None:
            if cur is not None:
                cur.hidden = True
            else:
                self.warn(filename, lineno, "MENU HIDE outside a LABEL is ignored")
        elif _looking_at(rest, "separator") is not None:
            self.current = None
        elif (v := _looking_at(rest, "disable")) is not None or (
            v := _looking_at(rest, "disabled")
        ) is not None:
            if cur is not None:
                cur.disabled = True
        elif (v := _looking_at(rest, "begin")) is not None:
            self.current = None
            title = v or f"submenu at {filename}:{lineno}"
            self.menu_path = (*self.menu_path, title)
            c.submenu_titles.setdefault(self.menu_path, title)
        elif _looking_at(rest, "end") is not None:
            self.current = None
            if self.menu_path:
                self.menu_path = self.menu_path[:-1]
            else:
                self.warn(filename, lineno, "MENU END without MENU BEGIN")
        elif (v := _looking_at(rest, "include")) is not None:
            self.include(v, filename, lineno, menu=True)
        elif any(_looking_at(rest, k) is not None for k in _KNOWN_MENU):
            pass
        else:
            word = rest.split()[0] if rest.split() else ""
            self.warn(filename, lineno, f"unknown directive 'MENU {word}': menu.c32 ignores it")

    def include(self, rest: str, filename: str, lineno: int, *, menu: bool) -> None:
        words = rest.split(None, 1)
        if not words:
            self.warn(filename, lineno, "INCLUDE without a file name")
            return
        name = words[0]
        if self.loader is None:
            self.c.includes.append(Include(name, filename, lineno, menu=menu))
            return
        if self.depth >= MAX_INCLUDE_DEPTH:
            raise PxelinuxConfigError(
                filename,
                lineno,
                f"INCLUDE {name}: more than {MAX_INCLUDE_DEPTH} levels deep "
                "(an include loop?); PXELINUX would run out of memory",
            )
        text = self.loader(name)
        self.c.includes.append(Include(name, filename, lineno, menu=menu, found=text is not None))
        if text is None:
            self.warn(filename, lineno, f"INCLUDE {name}: file not found, PXELINUX skips it")
            return
        if menu and len(words) > 1:
            self.current = None
            self.menu_path = (*self.menu_path, words[1])
            self.c.submenu_titles.setdefault(self.menu_path, words[1])
        self.depth += 1
        try:
            self.parse(text, name)
        finally:
            self.depth -= 1
        if menu and len(words) > 1:
            self.current = None
            self.menu_path = self.menu_path[:-1]


def parse_config(text: str, *, filename: str, loader: Loader | None = None) -> Config:
    """Parse a PXELINUX config. Never raises on content, except `PxelinuxConfigError` for an
    INCLUDE chain deeper than MAX_INCLUDE_DEPTH (only possible with a loader)."""
    config = Config(filename=filename)
    _Parser(config, loader).parse(text, filename)
    return config
