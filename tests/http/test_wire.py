"""pxelab.wire.http: the request target decoded once, Range read as RFC 9110 says."""

from __future__ import annotations

import pytest

from pxelab.serve.containment import Refused, Root, http_status
from pxelab.wire.http import BadTarget, ByteRange, Unsatisfiable, decode_target, parse_range


@pytest.mark.parametrize(("target", "name"), [
    ("/ipxe.efi", "/ipxe.efi"),
    ("/a%20b?x=1", "/a b"),
    ("/%2e%2e/etc/passwd", "/../etc/passwd"),
    ("/%252e%252e/x", "/%2e%2e/x"),  # once: a double encoding stays encoded
    ("/caf%C3%A9", "/caf\u00c3\u00a9"),  # the bytes, as latin-1 text
    ("http://10.0.0.1:8080/boot/x.efi", "/boot/x.efi"),
])
def test_decode_target(target: str, name: str) -> None:
    assert decode_target(target) == name


@pytest.mark.parametrize("target", ["*", "x.efi", "/%zz", "/%2", "/\u0100"])
def test_decode_target_bad(target: str) -> None:
    with pytest.raises(BadTarget):
        decode_target(target)


@pytest.mark.parametrize(("header", "want"), [
    (None, None),
    ("bytes=0-99", ByteRange(0, 99)),
    ("bytes=900-", ByteRange(900, 999)),
    ("bytes=-100", ByteRange(900, 999)),
    ("bytes=-5000", ByteRange(0, 999)),
    ("bytes=990-5000", ByteRange(990, 999)),
    ("bytes=0-1,5-6", None),
    ("items=0-1", None),
    ("bytes=abc", None),
])
def test_parse_range(header: str | None, want: ByteRange | None) -> None:
    assert parse_range(header, 1000) == want


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0",
                                    "bytes=99999999999999999999999999-"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 1000)


def test_one_rule_two_codes(tmp_path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "secret").write_text("x")
    (tmp_path / "root" / "out").symlink_to(tmp_path / "secret")
    root = Root(tmp_path / "root")
    for name, status in (("missing", 404), ("../secret", 403), ("out", 403)):
        with pytest.raises(Refused) as exc:
            root.open_read(decode_target("/" + name))
        assert http_status(exc.value) == status
