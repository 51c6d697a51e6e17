"""The per-client token bucket the proxy applies before it decodes a packet."""

from pxelab.serve.ratelimit import ClientRateLimit


def test_burst_then_rate() -> None:
    lim = ClientRateLimit(rate=10.0, burst=5.0)
    assert [lim.allow(b"a", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert lim.dropped == 2
    assert not lim.allow(b"a", 0.05)  # half a token back: still none
    assert lim.allow(b"a", 0.15)  # a whole one after 0.1 s
    assert not lim.allow(b"a", 0.15)


def test_one_flooding_client_does_not_touch_another() -> None:
    lim = ClientRateLimit(rate=10.0, burst=5.0)
    for i in range(10_000):
        lim.allow(b"flood", i * 1e-5)
    assert lim.allow(b"quiet", 0.1)
    assert lim.dropped >= 9_990


def test_a_rom_retrying_on_its_schedule_is_never_limited() -> None:
    lim = ClientRateLimit()
    # iPXE: DISCOVER at 0, 1, 3, 7, 15 s, each with a REQUEST; a boot of many packets in a second
    times = [0, 0.01, 1, 1.01, 3, 3.01, 7, 7.01, 15, 15.01]
    assert all(lim.allow(b"rom", t) for t in times)


def test_memory_is_bounded() -> None:
    lim = ClientRateLimit(rate=10.0, burst=5.0, max_clients=100)
    for i in range(1000):
        assert lim.allow(i.to_bytes(4, "big"), float(i))
    assert len(lim._buckets) <= 100
