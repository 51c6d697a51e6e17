"""GRUB 2 script text into words, the way grub-core/script/yylex.l splits it. Pure.

- Words break on blanks; `;` and newline end a command; `{` `}` are tokens of their own even
  inside a word (they are not in yylex.l's CHAR class), so `menuentry x{` opens a block.
- `#` at the start of a word comments to the end of the line.
- '...' is literal to the next quote; "..." expands `$var` and takes a backslash only before
  `$`, `"`, `\\` and a newline; outside quotes a backslash escapes the next character and a
  backslash-newline joins lines.
- `$name`, `${name}` and the specials `$?`, `$#`, `$@`, `$*`, `$0`-`$9` are variables.
- An unterminated quote is a syntax error in GRUB (it keeps reading for the closing quote and
  hits the end of the file): `GrubSyntaxError` names the line the quote opened on.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class GrubSyntaxError(ValueError):
    """Where GRUB's own parser fails; `filename:line: message`."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Part:
    text: str
    var: bool = False  # a variable name to expand, else literal text


@dataclass
class Token:
    kind: str  # "word", "newline" (also ';'), "{", "}"
    line: int
    parts: list[Part] = field(default_factory=list)

    @property
    def literal(self) -> str | None:
        """The word's text when it has no variable in it (keywords must be literal)."""
        if self.kind != "word" or any(p.var for p in self.parts):
            return None
        return "".join(p.text for p in self.parts)


_SPECIAL_VARS = set("?#@*0123456789")
_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_BREAK = set(" \t\r\n;{}")


def tokenize(text: str, filename: str = "<grub.cfg>") -> list[Token]:
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    word: Token | None = None
    lit: list[str] = []

    def flush_lit() -> None:
        if lit and word is not None:
            word.parts.append(Part("".join(lit)))
            lit.clear()

    def end_word() -> None:
        nonlocal word
        flush_lit()
        if word is not None:
            tokens.append(word)
            word = None

    def start_word() -> Token:
        nonlocal word
        if word is None:
            word = Token("word", line)
        return word

    def variable(at: int) -> int:
        """Read a variable after '$' at `at`; returns the index after it (or `at` if none)."""
        if at < n and text[at] == "{":
            close = text.find("}", at + 1)
            name = text[at + 1 : close] if close >= 0 else ""
            if close < 0 or not name or not (set(name) <= _NAME or name in _SPECIAL_VARS):
                return at
            flush_lit()
            start_word().parts.append(Part(name, var=True))
            return close + 1
        if at < n and text[at] in _SPECIAL_VARS:
            flush_lit()
            start_word().parts.append(Part(text[at], var=True))
            return at + 1
        end = at
        while end < n and text[end] in _NAME:
            end += 1
        if end == at:
            return at
        flush_lit()
        start_word().parts.append(Part(text[at:end], var=True))
        return end

    while i < n:
        c = text[i]
        if c in " \t\r":
            end_word()
            i += 1
        elif c == "\n":
            end_word()
            tokens.append(Token("newline", line))
            line += 1
            i += 1
        elif c == ";":
            end_word()
            tokens.append(Token("newline", line))
            i += 1
        elif c in "{}":
            end_word()
            tokens.append(Token(c, line))
            i += 1
        elif c == "#" and word is None:
            while i < n and text[i] != "\n":
                i += 1
        elif c == "\\":
            if i + 1 < n and text[i + 1] == "\n":
                line += 1
                i += 2
                continue
            start_word()
            if i + 1 < n:
                lit.append(text[i + 1])
            i += 2
        elif c == "'":
            start_word()
            close = text.find("'", i + 1)
            if close < 0:
                raise GrubSyntaxError(
                    filename,
                    line,
                    "unterminated ' quote: GRUB reads to the "
                    "end of the file for its end and fails (syntax error)",
                )
            body = text[i + 1 : close]
            lit.append(body)
            line += body.count("\n")
            i = close + 1
        elif c == '"':
            start_word()
            opened = line
            i += 1
            while True:
                if i >= n:
                    raise GrubSyntaxError(
                        filename,
                        opened,
                        'unterminated " quote: GRUB reads '
                        "to the end of the file for its end and fails "
                        "(syntax error)",
                    )
                d = text[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n and text[i + 1] in '$"\\\n':
                    if text[i + 1] == "\n":
                        line += 1
                    else:
                        lit.append(text[i + 1])
                    i += 2
                elif d == "$":
                    after = variable(i + 1)
                    if after == i + 1:
                        lit.append("$")
                        i += 1
                    else:
                        i = after
                else:
                    if d == "\n":
                        line += 1
                    lit.append(d)
                    i += 1
        elif c == "$":
            after = variable(i + 1)
            if after == i + 1:
                start_word()
                lit.append("$")
                i += 1
            else:
                i = after
        else:
            start_word()
            j = i
            while j < n and text[j] not in _BREAK and text[j] not in "\\'\"$":
                j += 1
            lit.append(text[i:j])
            i = j
    end_word()
    return tokens
