"""Is this error a decoder refusing malformed input, or a decoder bug?

A justified refusal is a WireError subclass (TruncatedError, BadLengthError, BadValueError,
EncodeError): it names the kind of problem, and a server logs it and goes on. Anything else
is an internal error: an IndexError or struct.error escaping a decoder, or the plain WireError
that a remaining safety net (pxelab.wire.options.decode_value) wraps around one. Fuzz tests,
codec tests and benchmarks/reliability.py all decide with this one function, so a decoder bug
cannot pass as "refused" in one place and fail in another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from pxelab.wire.errors import WireError

Outcome = Literal["decoded", "refused", "crashed"]


def justified(exc: BaseException) -> bool:
    """True when `exc` is a decoder's refusal of malformed input, False for a bug."""
    return isinstance(exc, WireError) and type(exc) is not WireError


def check_refusal(exc: BaseException) -> None:
    """Fail the test unless `exc` is a justified refusal."""
    assert justified(exc), f"internal decoder error, not a refusal: {exc!r}"


@contextmanager
def refusals_allowed() -> Iterator[None]:
    """The block may decode or refuse; an internal error fails the test (replaces a blanket
    `contextlib.suppress(WireError)`, which would hide the safety net's wrapped bugs)."""
    try:
        yield
    except WireError as exc:
        check_refusal(exc)


def outcome(fn: Callable[[], object]) -> tuple[Outcome, BaseException | None]:
    """Run `fn` and say what happened: decoded, refused (justified) or crashed (a bug)."""
    try:
        fn()
    except Exception as exc:  # classifying every exception is the point
        return ("refused" if justified(exc) else "crashed"), exc
    return "decoded", None
