"""The lab's `[expect] http_sent` against what pxelab's HTTP server really logs (curl as client)."""

from __future__ import annotations

import os
import subprocess

import pytest

from pxelab.lab.scenario.assertions import check_expect, http_sent
from pxelab.lab.scenario.model import Expect
from tests.http.conftest import Running

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="needs curl")

FILES = ("boot.ipxe", "machines/52-54-00-00-16-01.ipxe", "images/vmlinuz", "images/initrd.gz")


def get(run: Running, path: str, *extra: str) -> None:
    subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", *extra,
                    run.url + "/" + path], capture_output=True, timeout=20, check=False)


def test_http_sent_follows_the_access_log(http_server: Running) -> None:
    for name in FILES:
        (http_server.root / name).parent.mkdir(parents=True, exist_ok=True)
        (http_server.root / name).write_bytes(os.urandom(4096))
    get(http_server, "machines/52-54-00-00-99-99.ipxe")  # 404: not sent
    get(http_server, "images/initrd.gz", "-I")  # HEAD: not sent
    get(http_server, "images/vmlinuz", "-r", "0-99")  # a range: not the whole file
    for name in FILES:
        get(http_server, name)
    events = http_server.events()
    roots = [str(http_server.root)]
    assert http_sent(events, roots) == list(FILES)
    assert check_expect(Expect(http_sent=FILES), events, roots) is None
    # in another order, or a file never sent: the check fails and names it
    wrong = check_expect(Expect(http_sent=(FILES[2], FILES[0])), events, roots)
    assert wrong is not None and wrong.where == "expect.http_sent"
    assert "'boot.ipxe' not sent after images/vmlinuz" in wrong.actual
    missing = check_expect(Expect(http_sent=("machines/52-54-00-00-99-99.ipxe",)), events, roots)
    assert missing is not None and "52-54-00-00-99-99" in missing.actual
