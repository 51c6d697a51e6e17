"""Adaptive busy polling for a lockstep TFTP transfer (the idea of KVM's halt polling).

In lockstep the sender sleeps until every ACK. On a fast path (loopback, a VM's bridge, a switch
port next door) the ACK is back within tens of microseconds, and putting the thread to sleep and
waking it again costs about as much as the wait itself. So before it sleeps, the transfer polls
its socket for up to `budget` seconds.

The budget adapts to what the link shows, as KVM's halt_poll_ns does: it grows (doubling from
START up to `limit`) while ACKs arrive within `limit` of the send, and it shrinks (halving, then
to 0) while they arrive later. On a slow link it stays at 0 and costs one clock read per packet.
Polling spends a CPU, so it only happens while `allowed()` says a CPU is spare.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

START = 10e-6  # the first budget after a fast ACK
DEFAULT_LIMIT = 50e-6


class BusyPoll:
    """Receives a lockstep transfer's next packet, polling first while that pays."""

    def __init__(self, sock: socket.socket, limit: float,
                 allowed: Callable[[], bool]) -> None:
        self.recv = sock.recv
        self.fd = sock.fileno()
        self.limit = limit
        self.allowed = allowed
        self.budget = 0.0
        self.caught = 0  # packets that arrived while polling (for the debug log and tests)

    def receive(self) -> bytes:
        """The next datagram. Raises what a blocking read raises (EAGAIN at SO_RCVTIMEO)."""
        monotonic = time.monotonic
        start = monotonic()
        if self.budget and self.allowed():
            end = start + self.budget
            recv, nowait = self.recv, socket.MSG_DONTWAIT
            while True:
                try:
                    pkt = recv(65536, nowait)
                except BlockingIOError:
                    if monotonic() >= end:
                        break
                    continue
                self.caught += 1
                return pkt  # caught while polling: the budget is right as it is
        pkt = os.read(self.fd, 65536)
        waited = monotonic() - start
        if waited <= self.limit:
            self.budget = min(self.limit, max(START, self.budget * 2))
        elif self.budget:
            self.budget = self.budget / 2 if self.budget / 2 >= START else 0.0
        return pkt
