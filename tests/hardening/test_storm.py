"""A boot storm, short form: 20 scripted clients at once against `pxelab serve` in one lab
(pxelab.lab.drills.storm; 200 and the dnsmasq comparison are in benchmarks/reliability.py)."""

from __future__ import annotations

import pytest

from pxelab.lab.drills.storm import PxeSegment

pytestmark = pytest.mark.lab


def test_storm_of_20_every_client_gets_the_menu(record_property) -> None:
    with PxeSegment(proxy="pxelab") as seg:
        out = seg.storm(20, timeout=90)
        assert seg.proxy_alive()
        offers = [ln for ln in seg.proxy_lines() if "PXE(eth0)" in ln and ln.endswith(" proxy")]
    assert out["served"] == 20, out["failures"]
    assert len({ln.split()[-2] for ln in offers}) == 20  # the proxy's line for each client
    record_property("last_menu_s", out["last_menu_s"])
    print(f"\n20 clients: last menu after {out['last_menu_s']} s")


_FLOOD = """
import socket, sys, time
from pxelab.lab.drills.corpus import discover
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 68))
p = discover("52:54:00:ff:ff:ff", 7)
rate, start = float(sys.argv[4]), time.monotonic()
end = start + float(sys.argv[3])
n = 0
while (now := time.monotonic()) < end:
    if n > (now - start) * rate:  # paced: bursts of 50, as fast as the rate allows
        time.sleep(0.005)
        continue
    for _ in range(50):
        s.sendto(p, (sys.argv[1], 67))
    n += 50
print(n)
"""


def test_a_flood_from_one_mac_does_not_starve_other_clients() -> None:
    # Unicast to the proxy alone, 10,000 DISCOVERs a second (a ROM sends one every few
    # seconds): the router never sees it, so what is tested is the proxy's per-client limit.
    # Without the limit (log-dhcp on, as in the seed) no client was served.
    import sys

    from pxelab.lab.drills.storm import CLIENT_IP, PROXY_IP

    with PxeSegment(proxy="pxelab") as seg:
        flood = seg.cl.popen([sys.executable, "-c", _FLOOD, PROXY_IP, CLIENT_IP, "25", "10000"],
                             stdout=__import__("subprocess").PIPE, text=True)
        try:
            out = seg.storm(5, timeout=20)
        finally:
            sent, _ = flood.communicate(timeout=60)
        assert seg.proxy_alive()
        lines = seg.proxy_lines()
        limited = [ln for ln in lines if "52:54:00:ff:ff:ff over" in ln]
        answered = [ln for ln in lines if "PXE(eth0) 52:54:00:ff:ff:ff proxy" in ln]
    assert int(sent) > 100_000, sent  # it really was a flood
    assert out["served"] == 5, out["failures"]
    assert limited and len(limited) <= 4, limited  # one warning per 10 s, not one per packet
    # the flooder got its burst and then its rate (30 + 10/s), not an answer per packet
    assert len(answered) <= 30 + 10 * 30, len(answered)
