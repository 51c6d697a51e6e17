"""Bytes <-> typed messages. Pure: no sockets, files, clocks or logging."""

from pxelab.wire.errors import WireError

__all__ = ["WireError"]
