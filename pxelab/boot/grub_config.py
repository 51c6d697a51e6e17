"""grub.cfg read statically: the menu GRUB would show, the files its entries load. Pure.

The shape of pxelab.boot.pxelinux_config: the caller does the I/O. `configfile` / `source` /
`.` lines are read through `loader(tftp_path) -> str | None` when one is given (None: the file
is not there, as GRUB's "file not found"), else left pending in `GrubConfig.includes`.

What a static reading can know, from GRUB 2.06's grub-core/script (parser.y, execute.c),
commands/menuentry.c, normal/menu.c and loader/:
- `menuentry TITLE [--class C] [--id ID] [--users U] [--hotkey K] [--unrestricted] { ... }`
  and `submenu` alike; options may stand before or after the title (extcmd/getopt).
- `set default=N|TITLE|ID|"Sub>Entry"`, `set timeout=S` (-1 waits for a key).
- In an entry: `linux`/`linuxefi`/`linux16` PATH ARGS..., `initrd`/`initrdefi`/`initrd16`
  PATH... (several initrds on one line are concatenated by GRUB).
- Variables are expanded as `set` lines met so far define them (and the caller's `env`, e.g.
  prefix, root, net_default_*); a name neither defines stays unresolved and a path that needs
  it is not resolved.
- `if`/`while`/`for` bodies are all read (a condition is not evaluated): an entry inside one
  is marked `conditional`. `function` bodies are not run.
- `source F` runs F in place (same variables, same menu); a top-level `configfile F` starts a
  new menu from F, which is then the one shown.
- Paths: `(DEVICE)/path` or a bare path on `$root`. A tftp (or pxe) device, and the netboot
  root itself, map to a TFTP path from the root; memdisk, hd0... are not on the TFTP tree.
- Errors where GRUB's parser fails: an unterminated quote, a `{` never closed, a `}` with no
  `{`, `if` without `fi`, `then`/`fi` out of place (GrubConfigError, file:line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pxelab.boot.grub_lexer import GrubSyntaxError, Token, tokenize

GrubConfigError = GrubSyntaxError

LINUX_COMMANDS = ("linux", "linuxefi", "linux16")
INITRD_COMMANDS = ("initrd", "initrdefi", "initrd16")
_ARG_OPTIONS = {"--class", "--users", "--hotkey", "--id", "--source"}
_MAX_DEPTH = 16

Loader = Callable[[str], "str | None"]


# -- syntax tree -----------------------------------------------------------------------------


@dataclass
class Command:
    words: list[Token]
    line: int


@dataclass
class Block:
    """A `{ ... }` after a command (menuentry/submenu) or a control construct."""

    kind: str  # "entry" (menuentry/submenu/bare block), "if", "loop", "function"
    head: list[Token]
    bodies: list[list[object]]
    line: int


class _Parser:
    def __init__(self, tokens: list[Token], filename: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.filename = filename

    def error(self, line: int, message: str) -> GrubSyntaxError:
        return GrubSyntaxError(self.filename, line, message)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def command_words(self) -> list[Token]:
        words = []
        while (t := self.peek()) is not None and t.kind == "word":
            words.append(t)
            self.pos += 1
        return words

    def skip_newlines(self) -> None:
        while (t := self.peek()) is not None and t.kind == "newline":
            self.pos += 1

    def statements(self, stop: set[str], in_brace: bool, opener: tuple[str, int] | None) -> list:
        out: list[object] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t is None:
                if opener is not None:
                    what, line = opener
                    raise self.error(
                        line,
                        f"{what} is never closed: GRUB reaches the end of the "
                        "file inside it (syntax error; the whole construct is lost)",
                    )
                return out
            if t.kind == "}":
                if in_brace:
                    self.pos += 1
                    return out
                raise self.error(t.line, "'}' without a '{' before it (syntax error)")
            if t.kind == "{":
                self.pos += 1
                body = self.statements(set(), True, ("the '{'", t.line))
                out.append(Block("entry", [], [body], t.line))
                continue
            key = t.literal
            if key in stop:
                return out
            if key in ("then", "else", "elif", "fi", "do", "done"):
                raise self.error(t.line, f"'{key}' out of place (syntax error)")
            if key == "if":
                out.append(self.if_block(t))
            elif key in ("while", "until", "for"):
                out.append(self.loop_block(t))
            elif key == "function":
                out.append(self.function_block(t))
            else:
                words = self.command_words()
                nxt = self.peek()
                if nxt is not None and nxt.kind == "{":
                    self.pos += 1
                    name = words[0].literal or "the command"
                    body = self.statements(
                        set(), True, (f"the '{{' of {name} at line {words[0].line}", words[0].line)
                    )
                    out.append(Block("entry", words, [body], words[0].line))
                else:
                    out.append(Command(words, words[0].line))

    def keyword(self, word: str, opener: Token) -> None:
        t = self.peek()
        if t is None or t.literal != word:
            line = t.line if t is not None else opener.line
            raise self.error(
                line,
                f"'{word}' expected for the '{opener.literal}' at line "
                f"{opener.line} (syntax error)",
            )
        self.pos += 1

    def if_block(self, opener: Token) -> Block:
        self.pos += 1
        bodies = []
        head = self.statements({"then"}, False, (f"'if' at line {opener.line}", opener.line))
        bodies.append(head)
        self.keyword("then", opener)
        while True:
            bodies.append(
                self.statements(
                    {"elif", "else", "fi"},
                    False,
                    (f"'if' at line {opener.line} (no 'fi')", opener.line),
                )
            )
            t = self.peek()
            assert t is not None
            self.pos += 1
            if t.literal == "fi":
                return Block("if", [], bodies, opener.line)
            if t.literal == "elif":
                bodies.append(
                    self.statements({"then"}, False, (f"'elif' at line {t.line}", t.line))
                )
                self.keyword("then", opener)

    def loop_block(self, opener: Token) -> Block:
        self.pos += 1
        cond = self.statements(
            {"do"}, False, (f"'{opener.literal}' at line {opener.line}", opener.line)
        )
        self.keyword("do", opener)
        body = self.statements(
            {"done"}, False, (f"'{opener.literal}' at line {opener.line} (no 'done')", opener.line)
        )
        self.pos += 1
        return Block("loop", [], [cond, body], opener.line)

    def function_block(self, opener: Token) -> Block:
        self.pos += 1
        words = self.command_words()
        t = self.peek()
        if t is None or t.kind != "{":
            raise self.error(opener.line, "'function NAME' needs a '{' body (syntax error)")
        self.pos += 1
        body = self.statements(set(), True, (f"function at line {opener.line}", opener.line))
        return Block("function", words, [body], opener.line)


def parse_script(text: str, filename: str = "<grub.cfg>") -> list[object]:
    """The statements of a GRUB script; GrubSyntaxError where GRUB's parser fails."""
    return _Parser(tokenize(text, filename), filename).statements(set(), False, None)


# -- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """A file an entry loads: as written, as expanded, and its TFTP path (None: not on the
    TFTP tree, or it needs a variable a static reading cannot know)."""

    written: str
    expanded: str
    path: str | None
    filename: str
    line: int


@dataclass
class Entry:
    title: str
    filename: str
    line: int
    kind: str = "menuentry"  # or "submenu"
    entry_id: str | None = None
    classes: tuple[str, ...] = ()
    linux: FileRef | None = None
    linux_command: str | None = None
    args: str = ""
    initrds: list[FileRef] = field(default_factory=list)
    children: list[Entry] = field(default_factory=list)  # a submenu's entries
    menu_path: tuple[str, ...] = ()
    conditional: bool = False
    includes: list[Include] = field(default_factory=list)  # configfile/source in its body


@dataclass
class Include:
    command: str  # "configfile", "source", "."
    written: str
    path: str | None
    filename: str
    line: int
    found: bool | None = None  # None: not loaded (no loader, or path unresolved)
    config: GrubConfig | None = None


@dataclass(frozen=True)
class Setting:
    value: str
    filename: str
    line: int


@dataclass
class GrubConfig:
    filename: str
    entries: list[Entry] = field(default_factory=list)
    default: Setting | None = None
    timeout: Setting | None = None
    includes: list[Include] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    shown_from: GrubConfig | None = None  # a top-level configfile replaced this menu
    files: list[str] = field(default_factory=list)

    def shown(self) -> GrubConfig:
        """The config whose menu GRUB displays (follows top-level configfile lines)."""
        cfg = self
        while cfg.shown_from is not None:
            cfg = cfg.shown_from
        return cfg

    def all_entries(self) -> list[Entry]:
        """Every menuentry met anywhere (submenus, included files), for checks."""
        out: list[Entry] = []
        seen: set[int] = set()

        def add(entries: list[Entry]) -> None:
            for e in entries:
                if id(e) in seen:
                    continue
                seen.add(id(e))
                if e.kind == "submenu":
                    add(e.children)
                else:
                    out.append(e)
                for inc in e.includes:
                    if inc.config is not None:
                        add(inc.config.entries)

        add(self.entries)
        for inc in self.includes:
            if inc.config is not None and inc.config is not self.shown_from:
                add(inc.config.entries)
        if self.shown_from is not None:
            out.extend(e for e in self.shown_from.all_entries() if id(e) not in seen)
        return out

    def menu_titles(self) -> list[str]:
        """The top level of the menu GRUB shows, submenus with a trailing '>' as GRUB does."""
        return [e.title + (" >" if e.kind == "submenu" else "") for e in self.shown().entries]

    def default_entry(self) -> Entry | None:
        """The entry `default` picks (index, title, id or "Sub>Entry"); else the first."""
        cfg = self.shown()
        setting = cfg.default or self.default
        entries = cfg.entries
        if not entries:
            return None
        if setting is None or setting.value == "":
            return entries[0]
        value = setting.value
        if value.isdigit():
            i = int(value)
            return entries[i] if i < len(entries) else entries[0]
        parts = value.split(">")
        level = entries
        found: Entry | None = None
        for part in parts:
            found = next((e for e in level if part in (e.title, e.entry_id)), None)
            if found is None:
                return entries[0]
            level = found.children
        return found

    @property
    def timeout_seconds(self) -> int | None:
        t = self.shown().timeout or self.timeout
        try:
            return int(t.value) if t is not None else None
        except ValueError:
            return None


# -- reading ---------------------------------------------------------------------------------


def tftp_path(name: str, env: dict[str, str]) -> str | None:
    """A GRUB file name as a TFTP path from the root, or None when it is not on the tree.

    `(tftp,SERVER)/p`, `(tftp)/p`, `(pxe)/p` -> p; `/p` or `p` on a tftp `$root` -> p;
    `(memdisk)/...`, `(hd0,gpt1)/...` -> None; anything still holding a `$` -> None.
    """
    if "$" in name:
        return None
    root = env.get("root", "tftp")
    if name.startswith("("):
        close = name.find(")")
        if close < 0:
            return None
        device, rest = name[1:close], name[close + 1 :]
    else:
        device, rest = root, name
    device = device.strip()
    if not (device.startswith(("tftp", "pxe")) or (device == root and _is_net(root))):
        return None
    parts = [p for p in rest.split("/") if p]
    return "/".join(parts) or None


def _is_net(device: str) -> bool:
    return device.startswith(("tftp", "pxe", "http"))


class _Reader:
    def __init__(self, loader: Loader | None, env: dict[str, str]) -> None:
        self.loader = loader
        self.env = dict(env)
        self.stack: list[str] = []

    def expand(self, word: Token, env: dict[str, str]) -> str:
        out = []
        for p in word.parts:
            if not p.var:
                out.append(p.text)
            elif p.text in env:
                out.append(env[p.text])
            else:
                out.append("${" + p.text + "}")  # unknown here: kept, so paths stay unresolved
        return "".join(out)

    def read(self, text: str, filename: str, env: dict[str, str] | None = None) -> GrubConfig:
        if len(self.stack) >= _MAX_DEPTH or filename in self.stack:
            raise GrubSyntaxError(
                filename,
                1,
                "include loop: this file sources itself through "
                + " -> ".join([*self.stack, filename]),
            )
        cfg = GrubConfig(filename, env=self.env if env is None else env)
        cfg.files.append(filename)
        self.stack.append(filename)
        try:
            self.run(parse_script(text, filename), cfg, cfg.entries, (), None, False)
        finally:
            self.stack.pop()
        return cfg

    def run(
        self,
        stmts: list,
        cfg: GrubConfig,
        entries: list[Entry],
        path: tuple[str, ...],
        entry: Entry | None,
        conditional: bool,
    ) -> None:
        for st in stmts:
            if isinstance(st, Command):
                self.command(st, cfg, entries, path, entry, conditional)
            elif isinstance(st, Block) and st.kind == "entry" and st.head:
                name = st.head[0].literal
                if name in ("menuentry", "submenu") and entry is None:
                    self.menuentry(st, cfg, entries, path, conditional)
                elif name in ("menuentry", "submenu"):
                    pass  # an entry defined inside an entry: shown only once that one runs
                else:
                    self.run(st.bodies[0], cfg, entries, path, entry, conditional)
            elif isinstance(st, Block) and st.kind in ("if", "loop", "entry"):
                for body in st.bodies:
                    self.run(body, cfg, entries, path, entry, conditional or st.kind != "entry")

    def menuentry(
        self,
        st: Block,
        cfg: GrubConfig,
        entries: list[Entry],
        path: tuple[str, ...],
        conditional: bool,
    ) -> None:
        words = [self.expand(w, cfg.env) for w in st.head[1:]]
        title, entry_id, classes = None, None, []
        i = 0
        while i < len(words):
            w = words[i]
            if w in _ARG_OPTIONS and i + 1 < len(words):
                if w == "--id":
                    entry_id = words[i + 1]
                elif w == "--class":
                    classes.append(words[i + 1])
                i += 2
                continue
            if w.startswith("--") and w not in ("--",):
                i += 1
                continue
            if title is None:
                title = w
            i += 1
        kind = st.head[0].literal or "menuentry"
        e = Entry(
            title or "",
            cfg.filename,
            st.line,
            kind=kind,
            entry_id=entry_id,
            classes=tuple(classes),
            menu_path=path,
            conditional=conditional,
        )
        entries.append(e)
        saved = cfg.env
        cfg.env = dict(saved)  # an entry's own `set` lines live while it runs
        try:
            if kind == "submenu":
                self.run(st.bodies[0], cfg, e.children, (*path, e.title), None, conditional)
            else:
                self.run(st.bodies[0], cfg, entries, path, e, conditional)
        finally:
            cfg.env = saved

    def command(
        self,
        st: Command,
        cfg: GrubConfig,
        entries: list[Entry],
        path: tuple[str, ...],
        entry: Entry | None,
        conditional: bool,
    ) -> None:
        if not st.words:
            return
        name = self.expand(st.words[0], cfg.env)
        args = [self.expand(w, cfg.env) for w in st.words[1:]]
        if name == "set" and args and "=" in args[0]:
            key, _, value = args[0].partition("=")
            cfg.env[key] = value
            if entry is None and key in ("default", "timeout"):
                setattr(cfg, key, Setting(value, cfg.filename, st.line))
        elif name == "unset":
            for a in args:
                cfg.env.pop(a, None)
        elif entry is not None and name in LINUX_COMMANDS and args:
            entry.linux_command = name
            entry.linux = self.ref(st.words[1], args[0], cfg, st.line)
            entry.args = " ".join(args[1:])
        elif entry is not None and name in INITRD_COMMANDS:
            for w, a in zip(st.words[1:], args, strict=True):
                if a.startswith("--"):
                    continue
                entry.initrds.append(self.ref(w, a, cfg, st.line))
        elif name in ("configfile", "source", ".") and args:
            self.include(name, args[0], cfg, entries, path, entry, conditional, st.line)

    def ref(self, word: Token, expanded: str, cfg: GrubConfig, line: int) -> FileRef:
        written = "".join(("$" + p.text) if p.var else p.text for p in word.parts)
        return FileRef(written, expanded, tftp_path(expanded, cfg.env), cfg.filename, line)

    def include(
        self,
        command: str,
        name: str,
        cfg: GrubConfig,
        entries: list[Entry],
        path: tuple[str, ...],
        entry: Entry | None,
        conditional: bool,
        line: int,
    ) -> None:
        inc = Include(command, name, tftp_path(name, cfg.env), cfg.filename, line)
        (entry.includes if entry is not None else cfg.includes).append(inc)
        if self.loader is None or inc.path is None:
            return
        text = self.loader(inc.path)
        inc.found = text is not None
        if text is None:
            return
        if command == "configfile":
            inc.config = self.read(text, inc.path, dict(cfg.env))
            if entry is None and not conditional:
                cfg.shown_from = inc.config
        else:
            # source: the same variables and the same menu, as if the text stood here.
            self.stack.append(cfg.filename)
            try:
                if inc.path in self.stack:
                    raise GrubSyntaxError(
                        cfg.filename, line, "include loop: " + " -> ".join([*self.stack, inc.path])
                    )
                sub = GrubConfig(inc.path, env=cfg.env)
                self.stack.append(inc.path)
                try:
                    self.run(parse_script(text, inc.path), sub, entries, path, entry, conditional)
                finally:
                    self.stack.pop()
            finally:
                self.stack.pop()
            inc.config = sub
            cfg.env = sub.env
            for key in ("default", "timeout"):
                if getattr(sub, key) is not None and entry is None:
                    setattr(cfg, key, getattr(sub, key))
            cfg.files.extend(f for f in sub.files if f not in cfg.files)


def parse_config(
    text: str,
    filename: str = "grub.cfg",
    *,
    loader: Loader | None = None,
    env: dict[str, str] | None = None,
) -> GrubConfig:
    """Read a grub.cfg. `env`: what GRUB has set before it runs the file (see netboot_env)."""
    return _Reader(loader, env or {}).read(text, filename)


def netboot_env(
    server: str,
    *,
    prefix: str = "/grub",
    mac: str | None = None,
    ip: str | None = None,
    platform: str = "x86_64-efi",
) -> dict[str, str]:
    """The variables a netbooted GRUB has when it runs grub.cfg (kern/main.c, net/bootp.c)."""
    cpu, _, plat = platform.partition("-")
    env = {
        "root": f"tftp,{server}",
        "prefix": f"(tftp,{server}){prefix}",
        "cmdpath": f"(tftp,{server})",
        "net_default_server": server,
        "grub_cpu": cpu,
        "grub_platform": plat,
    }
    if mac:
        env["net_default_mac"] = mac.lower().replace("-", ":")
    if ip:
        env["net_default_ip"] = ip
    return env
