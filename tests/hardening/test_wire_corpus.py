"""Malformed packets on the wire, against `pxelab serve` in a lab: after every batch of the
corpus (lab.drills.corpus) a valid client is still served correctly, and the proxy and the TFTP
server log the bad packets rate-limited (one warning per 10 s, with a count), not once per
packet."""

from __future__ import annotations

import json
import re
import sys

import pytest

from pxelab.lab.drills.storm import CLIENT_IP, PROXY_IP, PxeSegment

pytestmark = pytest.mark.lab


def test_corpus_on_the_wire_every_batch_survived() -> None:
    with PxeSegment(proxy="pxelab") as seg:
        proc = seg.cl.run([sys.executable, "-m", "pxelab.lab.drills.corpus", "--server", PROXY_IP,
                           "--local", CLIENT_IP, "--file", "pxelinux.0",
                           "--expect", str(seg.tree / "pxelinux.0")], timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout)
        assert seg.proxy_alive(), "pxelab serve died"
        lines = seg.proxy_lines()
    failed = [b for b in out["batches"] if not (b["dhcp_ok"] and b["pxe_ok"] and b["tftp_ok"])]
    assert not failed, failed
    assert len(out["batches"]) >= 16 and out["sent"] > 500
    assert not [ln for ln in lines if "Traceback" in ln]
    # Malformed DHCP and TFTP packets: each warning carries the running count, so the log shows
    # the rate limit at work without a clock: the first bad packet is logged at once, the
    # counts only grow, and far fewer lines were written than packets sent that cannot parse
    # (each truncated packet is one), so not one line per packet.
    sent = {b["name"]: b["sent"] for b in out["batches"]}
    for what, bad in (("malformed DHCP packet", sent["dhcp truncated"]),
                      ("bad TFTP packet", sent["tftp truncated"])):
        warned = [ln for ln in lines if what in ln]
        counts = [int(m.group(1)) for ln in warned if (m := re.search(r"\((\d+) so far\)", ln))]
        assert len(counts) == len(warned) >= 1, warned
        assert counts[0] == 1, warned
        assert counts == sorted(set(counts)), warned
        assert bad >= 20 and len(warned) < bad, f"{what}: {len(warned)} lines for {bad}: {warned}"
