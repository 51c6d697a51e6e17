"""`pxelab router` refuses a bad configuration before it binds anything, saying what is wrong."""

from __future__ import annotations

import pytest

from pxelab.cli import main

BASE = ["router", "--interface", "lo", "--address", "192.168.10.1/24"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--pool", "10.0.0.1-10.0.0.5"], "pool address 10.0.0.1 is not on 192.168.10.0/24"),
        (["--pool", "192.168.10.9"], "expected FIRST-LAST"),
        (["--pool", "192.168.10.9-192.168.10.2"], "start is after end"),
        (["--static", "zz=192.168.10.5"], "'zz' is not a MAC address"),
        (["--static", "00:11:22:33:44:55=banana"], "static lease 00:11:22:33:44:55=banana"),
        (["--static", "00:11:22:33:44:55"], "expected MAC=IP"),
        (["--quirk", "bogus"], "unknown quirk(s) bogus"),
    ],
)
def test_bad_configuration(extra, words, capsys):
    assert main([*BASE, *extra]) == 2
    assert words in capsys.readouterr().err


def test_quirk_list(capsys):
    assert main([*BASE, "--quirk", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("option60-pxeclient", "reply-delay", "broadcast-only", "require-client-id"):
        assert name in out
