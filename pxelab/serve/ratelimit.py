"""Per-client rate limit: one client flooding the server must not starve the others.

A PXE ROM sends a packet every few seconds (spec retries 4/8/16/32 s, iPXE 1/2/4/8 s), so a
token bucket of a few packets a second with a burst for a whole boot is never felt by a real
client, while a flood from one MAC costs one dictionary lookup a packet instead of a reply.
"""

from __future__ import annotations


class ClientRateLimit:
    """Token bucket per key (a client's chaddr, plus its address for port 4011)."""

    def __init__(self, rate: float = 10.0, burst: float = 30.0, max_clients: int = 65536) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.dropped = 0
        self._buckets: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, key: bytes, now: float) -> bool:
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self.dropped += 1
            return False
        if len(self._buckets) >= self.max_clients and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float) -> None:
        """Forget clients whose bucket has refilled: they are back to a fresh client's state."""
        full = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        if len(self._buckets) >= self.max_clients:  # all busy: memory bound wins over memory
            self._buckets.clear()
