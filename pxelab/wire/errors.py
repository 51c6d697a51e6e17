"""The one error type a wire decoder may raise.

Every decoder in pxelab.wire turns malformed input into a WireError (or a subclass naming
the kind of problem); the message says what is wrong and at which byte offset, so a server
can log the packet and go on.
"""

from __future__ import annotations


class WireError(ValueError):
    """Malformed input. `offset` is the byte offset where the problem was found."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        self.reason = message
        text = message if offset is None else f"{message} (at byte {offset})"
        super().__init__(text)


class TruncatedError(WireError):
    """The input ends before a field or option it announces."""


class BadLengthError(WireError):
    """A length field disagrees with the data, or is out of range."""


class BadValueError(WireError):
    """A field holds a value its protocol does not allow."""


class EncodeError(WireError):
    """A message cannot be encoded (a value does not fit its field)."""
