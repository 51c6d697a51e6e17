"""HTTP request pieces the boot file server decides on, as pure functions (no I/O).

`decode_target` turns a request target into the name the containment rule sees
(pxelab.serve.containment.Root): the query cut off, percent-escapes decoded exactly once, the
bytes kept as latin-1 text (what the filesystem gets back, as for a TFTP filename). "%252e"
therefore stays the three characters "%2e" and is looked up as such, never decoded again.

`parse_range` reads a `Range` header against a file size (RFC 9110 section 14): one
`bytes=` range, answered with 206, or `Unsatisfiable` (416). A header that is not a
single byte range (another unit, several ranges, bad syntax) is ignored: the whole file, 200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = b"0123456789abcdefABCDEF"
_RANGE = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*\Z", re.ASCII)
MAX_DIGITS = 19  # an offset longer than this is past any file: unsatisfiable, not an error


class BadTarget(ValueError):
    """A request target that is no path: 400."""


class Unsatisfiable(ValueError):
    """A byte range that starts past the end of the file, or ends before it starts: 416."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def decode_target(target: str) -> str:
    """The path a request target names, percent-decoded once, as latin-1 text.

    Origin form ("/a/b?x") and absolute form ("http://host/a/b") are taken; anything else
    (asterisk form, no leading slash, a broken %-escape) raises BadTarget."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    if not target.startswith("/"):
        raise BadTarget("request target is not a path")
    path = target.split("?", 1)[0].split("#", 1)[0]
    try:
        raw = path.encode("latin-1")
    except UnicodeEncodeError:
        raise BadTarget("request target is not latin-1") from None
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # '%'
            pair = raw[i + 1:i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise BadTarget("broken percent-escape in request target")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return out.decode("latin-1")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range `header` asks for in a file of `size` bytes; None for the whole
    file (no header, or one that is to be ignored); Unsatisfiable for 416."""
    if header is None:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None  # several ranges, other units, junk: ignored (RFC 9110 14.2)
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = size if len(last) > MAX_DIGITS else int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable(f"suffix range of {n} bytes in {size}")
        return ByteRange(max(0, size - n), size - 1)
    if len(first) > MAX_DIGITS:
        raise Unsatisfiable("range starts past the end")
    start = int(first)
    if last:
        end = size - 1 if len(last) > MAX_DIGITS else int(last)
        if end < start:
            raise Unsatisfiable(f"range {start}-{end} ends before it starts")
    else:
        end = size - 1
    if start >= size:
        raise Unsatisfiable(f"range starts at {start}, file has {size} bytes")
    return ByteRange(start, min(end, size - 1))
