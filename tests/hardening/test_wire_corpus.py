"""Malformed packets on the wire, against `pxelab serve` in a lab: after every batch of the
corpus (lab.drills.corpus) a valid client is still served correctly, and the proxy and the TFTP
server log the bad packets rate-limited (one warning per 10 s, with a count), not once per
packet."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from pxelab.lab.drills.storm import CLIENT_IP, PROXY_IP, PxeSegment

pytestmark = pytest.mark.lab


def test_corpus_on_the_wire_every_batch_survived() -> None:
    with PxeSegment(proxy="pxelab") as seg:
        start = time.monotonic()
        proc = seg.cl.run([sys.executable, "-m", "pxelab.lab.drills.corpus", "--server", PROXY_IP,
                           "--local", CLIENT_IP, "--file", "pxelinux.0",
                           "--expect", str(seg.tree / "pxelinux.0")], timeout=300)
        elapsed = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout)
        assert seg.proxy_alive(), "pxelab serve died"
        lines = seg.proxy_lines()
    failed = [b for b in out["batches"] if not (b["dhcp_ok"] and b["pxe_ok"] and b["tftp_ok"])]
    assert not failed, failed
    assert len(out["batches"]) >= 16 and out["sent"] > 500
    assert not [ln for ln in lines if "Traceback" in ln]
    # Malformed DHCP packets: many sent, the warning comes at most once per 10 s.
    malformed = [ln for ln in lines if "malformed DHCP packet" in ln]
    assert 1 <= len(malformed) <= 1 + elapsed / 10, malformed
    counts = [int(m.group(1)) for ln in malformed if (m := re.search(r"\((\d+) so far\)", ln))]
    assert counts == sorted(counts)
    # The same for malformed TFTP requests.
    bad_tftp = [ln for ln in lines if "bad TFTP packet" in ln]
    assert 1 <= len(bad_tftp) <= 1 + elapsed / 10, bad_tftp
