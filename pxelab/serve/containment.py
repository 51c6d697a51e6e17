"""Where a requested name may lead: inside the root, and nowhere else (TFTP and HTTP alike).

One rule for both servers (issues 3 and 16): names are relative to the root, a leading '/' is
taken relative to the root, backslashes become slashes; '..' that would leave the root, symlinks
that resolve outside it,
NUL or control characters and over-long names are refused (ERROR 2). A missing file is ERROR 1.
Nothing outside the root is ever opened: the check happens on the resolved path before open(),
and again on the opened descriptor (a symlink swapped in between is caught there).

A refusal carries a TFTP error code (what the TFTP server sends as is); `http_status` maps it
for the HTTP server: not found is 404, every other refusal 403. HTTP names reach `Root` already
percent-decoded once (pxelab.wire.http.decode_target), as latin-1 text of the client's bytes,
exactly as a TFTP filename does.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from pxelab.wire.tftp import ERR_ACCESS, ERR_EXISTS, ERR_NOT_FOUND

DEFAULT_MAX_NAME = 255
LOG_NAME_MAX = 100  # characters of a client-chosen string a log line shows
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


class Refused(Exception):
    """A refused name: `code` is the TFTP error code (HTTP: `http_status`), `reason` is for
    the log."""

    def __init__(self, code: int, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.path = path


@dataclass(frozen=True)
class Opened:
    fd: int
    size: int
    path: str  # full path under the root as configured (what the log lines show)


def printable(text: str, limit: int = LOG_NAME_MAX) -> str:
    """A client-chosen string as a log line may show it: one line, no terminal escapes.

    Control characters and other non-printables become \\n, \\xNN, \\uNNNN (as repr, without
    the quotes), and what is longer than `limit` is cut there with "...": a name can neither
    forge log lines nor flood the log. Ordinary names come back unchanged.
    """
    if len(text) <= limit and text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    n = 0
    for ch in text:
        if ch.isprintable() and ch != "\\":
            esc = ch
        else:
            esc = _ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100
                                       else f"\\u{ord(ch):04x}" if ord(ch) < 0x10000
                                       else f"\\U{ord(ch):08x}")
        n += len(esc)
        if n > limit:
            out.append("...")
            break
        out.append(esc)
    return "".join(out)


def printable_path(path: str, root: str, limit: int = LOG_NAME_MAX) -> str:
    """`printable` for a path under `root`: the root is ours and shown whole, the client's part
    after it is what gets escaped and cut."""
    prefix = root.rstrip("/") + "/"
    if path.startswith(prefix):
        return printable(prefix, 4096) + printable(path[len(prefix):], limit)
    return printable(path, limit)


def normalise(name: str, max_name: int = DEFAULT_MAX_NAME) -> str:
    """The path relative to the root that `name` asks for, or Refused(ERROR 2)."""
    raw = name.encode("latin-1", "replace")
    if len(raw) > max_name:
        raise Refused(ERR_ACCESS, f"name longer than {max_name} bytes")
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise Refused(ERR_ACCESS, "control character in name")
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise Refused(ERR_ACCESS, "'..' leaves the root")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise Refused(ERR_ACCESS, "no file name")
    return "/".join(parts)


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip("/") + "/")


class Root:
    """A directory files are served from (or uploaded to)."""

    def __init__(self, path: str | os.PathLike[str], max_name: int = DEFAULT_MAX_NAME) -> None:
        self.shown = os.path.abspath(os.fspath(path))
        self.real = os.path.realpath(self.shown)
        self.max_name = max_name

    def show(self, rel: str) -> str:
        return os.path.join(self.shown, rel)

    def _resolve(self, name: str) -> tuple[str, str]:
        rel = normalise(name, self.max_name)
        shown = self.show(rel)
        # Filenames travel as latin-1 text; the filesystem gets back the client's exact bytes.
        real = os.path.realpath(os.path.join(self.real.encode(), rel.encode("latin-1")))
        real_s = os.fsdecode(real)
        if not _inside(real_s, self.real):
            raise Refused(ERR_ACCESS, "resolves outside the root", shown)
        return shown, real_s

    def _check_fd(self, fd: int, shown: str) -> None:
        try:
            actual = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if not _inside(actual, self.real):
            os.close(fd)
            raise Refused(ERR_ACCESS, "resolves outside the root", shown)

    def open_read(self, name: str) -> Opened:
        shown, real = self._resolve(name)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            raise _refusal(exc, shown) from None
        self._check_fd(fd, shown)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise Refused(ERR_ACCESS, "not a regular file", shown)
        return Opened(fd, st.st_size, shown)

    def open_write(self, name: str) -> Opened:
        shown, real = self._resolve(name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(real, flags, 0o644)
        except OSError as exc:
            raise _refusal(exc, shown) from None
        self._check_fd(fd, shown)
        return Opened(fd, 0, shown)


def http_status(refused: Refused) -> int:
    """The HTTP status for a refusal: 404 when the file is not there, 403 for the rest."""
    return 404 if refused.code == ERR_NOT_FOUND else 403


def _refusal(exc: OSError, shown: str) -> Refused:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return Refused(ERR_NOT_FOUND, "not found", shown)
    if exc.errno == errno.EEXIST:
        return Refused(ERR_EXISTS, "file exists", shown)
    if exc.errno == errno.ELOOP:
        return Refused(ERR_ACCESS, "symlink", shown)
    return Refused(ERR_ACCESS, exc.strerror or str(exc), shown)
