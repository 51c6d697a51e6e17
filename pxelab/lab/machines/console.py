"""A VM's serial console: pexpect reads it, a pyte screen renders it, tests wait on the screen.

Firmware draws with cursor moves (SeaBIOS copies the VGA text screen to serial; menu.c32 paints a
box; OVMF places every character with its own escape sequence), so matching raw bytes is not
enough: waits look at the rendered screen, and at the plain text stream (escapes removed) when a
line may already have scrolled away. Raw bytes always go to a log file.

    console = Console(fd, log_path=tmp / "console.log", send_keys=vm.send_keys)
    console.wait_for_screen("PXE Boot Menu", timeout=60)
    console.menu()             # Menu(title='PXE Boot Menu', entries=[...], highlighted=0)
    console.select("Tiny Core on Wyse Sx0 (Specific)")
    console.wait_for_text(re.compile(r"PXELAB-GUEST-CMDLINE: (.*)"), timeout=120)
"""

from __future__ import annotations

import bisect
import codecs
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pexpect
import pexpect.fdpexpect
import pyte

# Text that means the boot already failed: a wait stops at once instead of running out its time.
FATAL_TEXT: tuple[str | re.Pattern[str], ...] = (
    "PXE-E",
    "No configuration methods succeeded",
    "Connection timed out",
    "Could not find kernel image",
    # PXELINUX 6's words for a kernel or initrd it could not fetch (it then redraws the menu).
    re.compile(r"Loading \S+\.\.\. ?failed"),
    "Booting kernel failed",
)

# CSI/OSC/charset escapes, plus SO/SI: what is left is the text a person would read.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[()*+%][ -~]"  # charset selection
    r"|\x1b[ -/]*[0-~]"  # other two-byte escapes (ESC c, ESC e, ESC =)
    r"|[\x0e\x0f\x00]"
)
# An escape cut off at the end of a chunk: held back until the rest arrives.
_PARTIAL_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[()*+%]|[ -/]*)?$")

# OVMF's terminal writes a cursor position's column as two digits, so column 100 goes out as
# ":0" ('0' + 10): `ESC[05;:0H` (seen drawing GRUB's 100-column menu, tests/vm/data/
# ovmf-grub-menu.raw). Read as the number it means, else pyte prints "0H" on the screen.
_OVMF_COLUMN = re.compile(r"\x1b\[(\d+);([:-?])(\d)H")


def _ovmf_column(m: re.Match[str]) -> str:
    return f"\x1b[{m.group(1)};{(ord(m.group(2)) - 48) * 10 + int(m.group(3))}H"


BOX_VERTICAL = "│║|"
BOX_CORNERS_TOP = "┌╔"
BOX_TEE_LEFT = "├╠╟"
BOX_CORNERS_BOTTOM = "└╚"


def _cp437_fallback(exc: UnicodeError) -> tuple[str, int]:
    # SeaBIOS's serial mirror speaks UTF-8, but programs writing the port directly send CP437.
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("cp437"), exc.end


codecs.register_error("pxelab-cp437", _cp437_fallback)


class Deadline:
    """A point in time to work towards, instead of sleeps scattered through the code."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self.end


class ConsoleError(AssertionError):
    """A wait on the console failed; the message carries the screen and the raw log's path."""


class ConsoleTimeout(ConsoleError):
    pass


class BootFailed(ConsoleError):
    """Known error text showed up (PXE-E..., "Connection timed out", ...)."""


class ConsoleClosed(ConsoleError):
    """The other end went away (QEMU exited) before the wait was satisfied."""


@dataclass(frozen=True)
class Menu:
    title: str
    entries: tuple[str, ...]
    highlighted: int | None  # index into entries

    @property
    def highlighted_label(self) -> str | None:
        return None if self.highlighted is None else self.entries[self.highlighted]


Pattern = str | re.Pattern[str]


def _compile(pattern: Pattern) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))


def _describe(pattern: Pattern) -> str:
    return f"/{pattern.pattern}/" if isinstance(pattern, re.Pattern) else repr(pattern)


class Screen:
    """A pyte screen fed with decoded text, plus the plain text stream with its arrival times."""

    def __init__(self, columns: int = 80, rows: int = 25, encoding: str = "utf-8") -> None:
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.Stream(self.screen)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="pxelab-cp437")
        self._pending = ""
        self._plain: list[str] = []
        self._plain_len = 0
        # (offset in the plain text where a chunk starts, time it arrived): sorted by both.
        self._offsets: list[int] = []
        self._times: list[float] = []

    def feed(self, data: bytes, when: float) -> None:
        # An escape cut off at the end of a chunk waits for its rest (pyte could take it in
        # pieces, but OVMF's column fix below needs the whole sequence).
        text = self._pending + self._decoder.decode(data)
        cut = _PARTIAL_ESCAPE.search(text)
        self._pending = text[cut.start() :] if cut else ""
        text = text[: cut.start()] if cut else text
        text = _OVMF_COLUMN.sub(_ovmf_column, text)
        self._stream.feed(text)
        plain = _ESCAPE.sub("", text)
        if plain:
            self._offsets.append(self._plain_len)
            self._times.append(when)
            self._plain.append(plain)
            self._plain_len += len(plain)

    @property
    def text(self) -> str:
        """Everything received so far with the escape sequences taken out."""
        if len(self._plain) > 1:
            self._plain = ["".join(self._plain)]
        return self._plain[0] if self._plain else ""

    def time_at(self, offset: int) -> float | None:
        """When the plain-text character at `offset` arrived."""
        i = bisect.bisect_right(self._offsets, offset) - 1
        return self._times[i] if i >= 0 else None

    def first_seen(self, pattern: Pattern, start: int = 0, end: bool = False) -> float | None:
        """When the first match began to arrive (`end`: when its last character arrived)."""
        m = _compile(pattern).search(self.text, start)
        if m is None:
            return None
        return self.time_at(max(m.start(), m.end() - 1) if end else m.start())

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def render(self) -> str:
        """The screen as a person sees it, framed so trailing blanks stay visible in messages."""
        width = self.screen.columns
        rule = "+" + "-" * width + "+"
        return "\n".join([rule, *(f"|{line}|" for line in self.screen.display), rule])

    def menu(self) -> Menu | None:
        """The menu on screen: menu.c32's box (title rows above a separator, entries below),
        else GRUB's (a box of entries, the heading above it)."""
        return parse_menu(self.screen) or parse_grub_menu(self.screen)


def parse_menu(screen: pyte.Screen) -> Menu | None:
    display = screen.display
    corners = (
        (r, c)
        for r, line in enumerate(display)
        for c, ch in enumerate(line)
        if ch in BOX_CORNERS_TOP
    )
    top = next(corners, None)
    if top is None:
        return None
    row0, left = top
    title_rows: list[str] = []
    entry_rows: list[int] = []
    in_entries = complete = False
    for r in range(row0 + 1, len(display)):
        line = display[r]
        mark = line[left] if left < len(line) else " "
        if mark in BOX_TEE_LEFT:
            in_entries = True
            continue
        if mark in BOX_CORNERS_BOTTOM:
            complete = True
            break
        if mark not in BOX_VERTICAL:
            break
        end = _right_border(line, left)
        content = line[left + 1 : end].strip()
        if not in_entries:
            if content:
                title_rows.append(content)
        elif content:
            entry_rows.append(r)
    if not (in_entries and complete):  # still being drawn (menu.c32 paints top to bottom)
        return None
    entries = tuple(
        display[r][left + 1 : _right_border(display[r], left)].strip() for r in entry_rows
    )
    return Menu(" ".join(title_rows), entries, _highlighted(screen, entry_rows, left))


def parse_grub_menu(screen: pyte.Screen) -> Menu | None:
    """GRUB's text menu (normal/menu_text.c), as OVMF shows it (tests/vm/data/ovmf-grub-*.raw):

                 GNU GRUB  version 2.06-13+deb12u2        <- the heading: the title here
     ┌──────────────────────────────────────┐
     │*Debian test guest                    │             <- '*': the highlighted entry
     │ Second entry                         │                (also drawn in reverse colours)
     └──────────────────────────────────────┘

    No separator inside the box (that is menu.c32's); submenus look like entries (GRUB 2.06
    marks nothing). An arrow GRUB draws at the right border when entries scroll is ignored.
    """
    display = screen.display
    top = next(
        ((r, c) for r, line in enumerate(display) for c, ch in enumerate(line)
         if ch in BOX_CORNERS_TOP),
        None,
    )  # fmt: skip
    if top is None:
        return None
    row0, left = top
    rows: list[int] = []
    for r in range(row0 + 1, len(display)):
        mark = display[r][left] if left < len(display[r]) else " "
        if mark in BOX_CORNERS_BOTTOM:
            break
        if mark not in BOX_VERTICAL:
            return None  # a separator (menu.c32) or a box still being drawn
        if display[r][left + 1 : _right_border(display[r], left)].strip():
            rows.append(r)
    else:
        return None
    if not rows:
        return None
    texts = [display[r][left + 1 : _right_border(display[r], left)] for r in rows]
    stars = [i for i, t in enumerate(texts) if t.startswith("*")]
    entries = tuple(t[1:].strip() for t in texts)
    heading = [line.strip() for line in display[:row0] if line.strip()]
    highlighted = stars[0] if len(stars) == 1 else _highlighted(screen, rows, left)
    return Menu(heading[-1] if heading else "", entries, highlighted)


def _right_border(line: str, left: int) -> int:
    for c in range(len(line) - 1, left, -1):
        if line[c] in BOX_VERTICAL:
            return c
    return len(line)


def _style(screen: pyte.Screen, row: int, left: int) -> tuple[str, str, bool]:
    # The cell just inside the border: menu.c32 paints the whole bar of the current entry.
    char = screen.buffer[row][left + 1]
    return (char.fg, char.bg, char.reverse)


def _highlighted(screen: pyte.Screen, rows: Sequence[int], left: int) -> int | None:
    """The one entry drawn in a style no other entry has (menu.c32's selection bar)."""
    if len(rows) == 1:
        return 0
    styles = [_style(screen, r, left) for r in rows]
    unique = [i for i, s in enumerate(styles) if styles.count(s) == 1]
    return unique[0] if len(unique) == 1 else None


class Console:
    """Reads a console fd in a thread (pexpect), renders it, and lets callers wait on it."""

    def __init__(
        self,
        fd: int,
        *,
        log_path: Path,
        columns: int = 80,
        rows: int = 25,
        encoding: str = "utf-8",
        send_keys: Callable[[Sequence[str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        fatal: Iterable[str | re.Pattern[str]] = FATAL_TEXT,
    ) -> None:
        self.log_path = Path(log_path)
        self.fatal = tuple(fatal)
        self._clock = clock
        self._send_keys = send_keys
        self._screen = Screen(columns, rows, encoding)
        self._cond = threading.Condition()
        self._closed = False
        self._last_data = clock()
        self._watch_from = 0
        self._stop = threading.Event()
        self._log: IO[bytes] = open(self.log_path, "ab", buffering=0)  # noqa: SIM115
        self._spawn = pexpect.fdpexpect.fdspawn(fd, timeout=None)
        self._thread = threading.Thread(target=self._drain, name="console", daemon=True)
        self._thread.start()

    # -- reading ---------------------------------------------------------------------------

    def _drain(self) -> None:
        # Always drained, waited on or not: a full pty would stall the guest's serial port.
        while not self._stop.is_set():
            try:
                data = self._spawn.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, OSError, ValueError):
                break
            if not data:
                break
            now = self._clock()
            self._last_data = now
            self._log.write(data)
            with self._cond:
                self._screen.feed(data, now)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def feed(self, data: bytes) -> None:
        """Render bytes as if they came from the console (for replaying recorded streams)."""
        with self._cond:
            self._last_data = self._clock()
            self._screen.feed(data, self._last_data)
            self._cond.notify_all()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._log.close()

    # -- looking -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def text(self) -> str:
        with self._cond:
            return self._screen.text

    def lines(self) -> list[str]:
        with self._cond:
            return self._screen.lines()

    def render(self) -> str:
        with self._cond:
            return self._screen.render()

    def menu(self) -> Menu | None:
        with self._cond:
            return self._screen.menu()

    def first_seen(self, pattern: Pattern, end: bool = False) -> float | None:
        """The clock time the pattern first showed up in the text stream (None: not yet);
        `end`: the time its last character came (a line ending in "... ok")."""
        with self._cond:
            return self._screen.first_seen(pattern, end=end)

    # -- waiting -----------------------------------------------------------------------------

    def wait_for_screen(self, pattern: Pattern, timeout: float) -> re.Match[str]:
        """Wait until the rendered screen shows `pattern` (text or regex); rows joined by \\n."""
        regex = _compile(pattern)
        return self._wait(
            pattern, timeout, lambda s, _start: regex.search("\n".join(s.lines()))
        )

    def wait_for_text(self, pattern: Pattern, timeout: float) -> re.Match[str]:
        """Wait until the text stream (escapes removed) holds `pattern`, scrolled away or not."""
        regex = _compile(pattern)
        return self._wait(pattern, timeout, lambda s, _start: regex.search(s.text))

    def wait_for_menu(
        self, timeout: float, title: str | None = None, highlighted: int | None = None
    ) -> Menu:
        """The menu on screen, once it is there (with `title` in its title, and the bar on
        entry `highlighted`, when given: how a test sees that a key it sent landed)."""
        found: list[Menu] = []

        def check(s: Screen, _start: int) -> bool:
            m = s.menu()
            if m is None or not m.entries or (title is not None and title not in m.title):
                return False
            if highlighted is not None and m.highlighted != highlighted:
                return False
            found.append(m)
            return True

        what = f"menu {title!r}" if title else "a menu"
        if highlighted is not None:
            what += f" with entry {highlighted} highlighted"
        self._wait(what, timeout, check)
        return found[-1]

    def _wait(
        self, what: Pattern, timeout: float, check: Callable[[Screen, int], object]
    ) -> re.Match[str]:
        deadline = Deadline(timeout, self._clock)
        with self._cond:
            start = len(self._screen.text)
            while True:
                result = check(self._screen, start)
                if result:
                    # What came before a satisfied wait is accepted; later waits look for
                    # error text from here (so an error printed between two waits is not lost).
                    self._watch_from = len(self._screen.text)
                    return result  # type: ignore[return-value]
                failure = self._fatal_text(self._watch_from)
                if failure:
                    why = f"boot failed ({failure!r} on the console)"
                    raise BootFailed(self._explain(why, what))
                if self._closed:
                    raise ConsoleClosed(self._explain("console closed (QEMU exited)", what))
                if deadline.expired:
                    raise ConsoleTimeout(self._explain(f"timed out after {timeout:g} s", what))
                self._cond.wait(min(deadline.remaining(), 0.5))

    def _fatal_text(self, start: int) -> str | None:
        # Text that arrived during this wait, and the screen as it is now.
        recent = self._screen.text[start:]
        screen = "\n".join(self._screen.lines())
        for needle in self.fatal:
            if isinstance(needle, str):
                if needle in recent or needle in screen:
                    return needle
            elif m := needle.search(recent) or needle.search(screen):
                return m.group(0)
        return None

    def _explain(self, why: str, what: Pattern) -> str:
        what_s = what if isinstance(what, str) and what.startswith("menu") else _describe(what)
        return (
            f"waiting for {what_s}: {why}\n"
            f"screen:\n{self._screen.render()}\n"
            f"raw console log: {self.log_path}"
        )

    # -- keys ----------------------------------------------------------------------------------

    def send_key(self, *names: str) -> None:
        """Press keys by QEMU key name ('down', 'ret', 'esc', 'f8', 'a', ...); combos as
        'ctrl-b' press the parts together. Keys go through QMP: the serial line carries no arrows.
        """
        if self._send_keys is None:
            raise ConsoleError("this console has no keyboard (no QMP monitor)")
        for name in names:
            self._send_keys(name.split("-") if len(name) > 1 and "-" in name else [name])

    def type_text(self, text: str) -> None:
        for ch in text:
            self.send_key(*[char_to_key(ch)])

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until nothing has arrived for `quiet` s: the program drew its screen and now
        waits for input (a key pressed while menu.c32 still starts up is lost)."""
        deadline = Deadline(timeout, self._clock)
        with self._cond:
            while not deadline.expired and not self._closed:
                idle = self._clock() - self._last_data
                if idle >= quiet:
                    return
                self._cond.wait(min(quiet - idle, deadline.remaining()))

    def select(self, label: str, timeout: float = 30.0) -> Menu:
        """Move menu.c32's bar to `label` with arrow keys, see it get there, press Enter and
        see the menu go. A key that got lost (sent while the menu was still starting) is sent
        again; a key that arrived is never repeated, because each press is checked on screen."""
        deadline = Deadline(timeout, self._clock)
        menu = self.wait_for_menu(timeout)
        if label not in menu.entries:
            raise ConsoleError(
                f"no menu entry {label!r}; entries: {list(menu.entries)}\n{self.render()}\n"
                f"raw console log: {self.log_path}"
            )
        target = menu.entries.index(label)
        while True:
            self.wait_quiet(timeout=deadline.remaining())
            current = self.menu()
            if current is None:
                raise ConsoleError(self._explain("the menu went away", f"menu bar on {label!r}"))
            if current.highlighted == target:
                break
            if current.highlighted is None:
                raise ConsoleError(
                    self._explain("no highlighted entry on screen", f"menu bar on {label!r}")
                )
            before = current.highlighted
            self.send_key("down" if target > before else "up")
            self._wait_until(
                lambda s, b=before: (m := s.menu()) is None or m.highlighted != b,
                min(3.0, deadline.remaining()),
            )
            if deadline.expired:
                raise ConsoleTimeout(
                    self._explain(f"timed out after {timeout:g} s", f"menu bar on {label!r}")
                )
        for _ in range(3):
            # Taken when anything new shows up: PXELINUX prints "Loading <kernel>..." under a
            # menu that stays on screen while the kernel comes over TFTP.
            self.wait_quiet(timeout=min(5.0, deadline.remaining()))  # the bar's redraw is done
            with self._cond:
                before = len(self._screen.text)
            self.send_key("ret")
            if self._wait_until(
                lambda s, b=before: len(s.text) > b or s.menu() is None,
                min(8.0, deadline.remaining()),
            ):
                return menu
        raise ConsoleTimeout(self._explain("Enter did not leave the menu", f"boot {label!r}"))

    def _wait_until(self, check: Callable[[Screen], object], timeout: float) -> bool:
        deadline = Deadline(timeout, self._clock)
        with self._cond:
            while True:
                if check(self._screen):
                    return True
                if deadline.expired or self._closed:
                    return False
                self._cond.wait(min(deadline.remaining(), 0.5))


_SHIFTED = {
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8", "(": "9",
    ")": "0", "_": "minus", "+": "equal", ":": "semicolon", '"': "apostrophe", "<": "comma",
    ">": "dot", "?": "slash", "{": "bracket_left", "}": "bracket_right", "|": "backslash",
    "~": "grave_accent",
}
_PLAIN = {
    " ": "spc", "-": "minus", "=": "equal", ";": "semicolon", "'": "apostrophe", ",": "comma",
    ".": "dot", "/": "slash", "[": "bracket_left", "]": "bracket_right", "\\": "backslash",
    "`": "grave_accent", "\n": "ret", "\t": "tab",
}


def char_to_key(ch: str) -> str:
    """The QEMU key (with 'shift-' when needed) that types `ch` on a US keyboard."""
    if ch.isascii() and ch.isalnum():
        return f"shift-{ch.lower()}" if ch.isupper() else ch
    if ch in _PLAIN:
        return _PLAIN[ch]
    if ch in _SHIFTED:
        return f"shift-{_SHIFTED[ch]}"
    raise ValueError(f"no key types {ch!r}")


def open_pty() -> tuple[int, int]:
    """A raw pty pair (master, slave): QEMU's serial on the slave, the console on the master."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave
