"""A boot storm, short form: 20 scripted clients at once against `pxelab serve` in one lab
(pxelab.lab.storm; 200 and the dnsmasq comparison are in benchmarks/reliability.py)."""

from __future__ import annotations

import pytest

from pxelab.lab.storm import PxeSegment

pytestmark = pytest.mark.root


def test_storm_of_20_every_client_gets_the_menu(record_property) -> None:
    with PxeSegment(proxy="pxelab") as seg:
        out = seg.storm(20, timeout=90)
        assert seg.proxy_alive()
        offers = [ln for ln in seg.proxy_lines() if "PXE(eth0)" in ln and ln.endswith(" proxy")]
    assert out["served"] == 20, out["failures"]
    assert len({ln.split()[-2] for ln in offers}) == 20  # the proxy's line for each client
    record_property("last_menu_s", out["last_menu_s"])
    print(f"\n20 clients: last menu after {out['last_menu_s']} s")
