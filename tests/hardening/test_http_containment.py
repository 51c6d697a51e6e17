"""HTTP containment: a traversal corpus is refused, each refusal logged and counted, and nothing
outside the root is ever opened.

The same jail as the TFTP containment test (tests/hardening/test_tftp_containment.py): outside
the root sit a canary file and a FIFO, watched with inotify (tests/inotify.py) after the test
proved the watch live by opening the canary itself. The targets go out on raw sockets, exactly
as written: an HTTP client library would normalise the dots and escapes away before the server
saw them. A few go through curl --path-as-is too, the client the firmware-side tests use.

Every 403 must carry the reason of the first rule that should catch it (the body and the log
say it): a '..' that the name rule missed but the realpath check caught is a broken rule, even
though the canary stays shut.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.conftest import Running, start_http
from tests.inotify import Watch

DOTDOT, OUTSIDE, CONTROL = "'..' leaves the root", "resolves outside the root", "control character"


def corpus(canary: Path) -> list[tuple[str, bytes, int, str]]:
    """(what, raw request target, the status, for a 403 the reason it must give)."""
    return [
        ("dot-dot", b"/../outside/canary", 403, DOTDOT),
        ("encoded dots", b"/%2e%2e/outside/canary", 403, DOTDOT),
        ("upper-case encoded dots", b"/%2E%2E/outside/canary", 403, DOTDOT),
        ("one encoded dot", b"/.%2e/outside/canary", 403, DOTDOT),
        ("encoded slashes", b"/..%2foutside%2fcanary", 403, DOTDOT),
        ("everything encoded", b"/%2e%2e%2f%2e%2e%2foutside%2fcanary", 403, DOTDOT),
        ("encoded backslashes", b"/..%5coutside%5ccanary", 403, DOTDOT),
        ("raw backslashes", b"/..\\outside\\canary", 403, DOTDOT),
        ("backslash as the first slash", b"\\..\\outside\\canary", 400, ""),
        ("dot-dot after a folder", b"/sub/../../outside/canary", 403, DOTDOT),
        ("encoded dot-dot after a folder", b"/sub/%2e%2e/%2e%2e/outside/canary", 403, DOTDOT),
        ("dot-dot x100", b"/" + b"../" * 100 + b"etc/passwd", 403, DOTDOT),
        ("dot-dot with a query", b"/%2e%2e/outside/canary?x=/ok.efi", 403, DOTDOT),
        ("absolute-form URL", b"http://127.0.0.1/../outside/canary", 403, DOTDOT),
        # decoded once: these are names with a literal '%' in them, and not there
        ("double-encoded dots", b"/%252e%252e/outside/canary", 404, ""),
        ("double-encoded slashes", b"/..%252foutside%252fcanary", 404, ""),
        ("double-encoded backslashes", b"/..%255coutside%255ccanary", 404, ""),
        ("overlong UTF-8 slash", b"/..%c0%afoutside%c0%afcanary", 404, ""),
        ("dot-dot with a path parameter", b"/..;/outside/canary", 404, ""),
        # a leading '/' is the root's (as over TFTP): the canary's own path is not under it
        ("absolute path of the canary", os.fsencode(canary), 404, ""),
        ("absolute path, doubled slash", b"/" + os.fsencode(canary), 404, ""),
        ("encoded absolute path", os.fsencode(canary).replace(b"/", b"%2f"), 400, ""),
        ("/etc/passwd", b"/etc/passwd", 404, ""),
        ("encoded NUL", b"/%00", 403, CONTROL),
        ("encoded NUL, then a traversal", b"/ok.efi%00/../../outside/canary", 403, CONTROL),
        ("encoded NUL in the middle", b"/ok%00.efi", 403, CONTROL),
        ("raw NUL", b"/ok\x00.efi", 400, ""),
        ("encoded newline", b"/ok.efi%0a", 403, CONTROL),
        ("symlink out of the root", b"/escape", 403, OUTSIDE),
        ("symlinked folder out of the root", b"/escape_dir/canary", 403, OUTSIDE),
        ("symlinked folder, encoded", b"/escape_dir%2fcanary", 403, OUTSIDE),
        ("symlink to a FIFO outside", b"/fifo_link", 403, OUTSIDE),
        ("symlink to /dev/zero", b"/zero", 403, OUTSIDE),
        ("no leading slash", b"../outside/canary", 400, ""),
        ("broken escape", b"/%2", 400, ""),
        ("escape that is no hex", b"/%zz/../outside/canary", 400, ""),
    ]


@pytest.fixture
def jail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[Running, Path, Watch]]:
    caplog.set_level(logging.INFO, logger="pxelab.http")
    with start_http(tmp_path) as run:
        root, outside = run.root, run.outside
        canary = outside / "canary"
        canary.write_bytes(b"never serve me\n")
        fifo = outside / "fifo"
        os.mkfifo(fifo)
        (root / "sub").mkdir()
        (root / "escape").symlink_to(canary)
        (root / "escape_dir").symlink_to(outside)
        (root / "zero").symlink_to("/dev/zero")
        (root / "fifo_link").symlink_to(fifo)
        (root / "ok.efi").write_bytes(b"fine\n")
        watch = Watch(outside, canary, fifo)
        canary.read_bytes()  # the watch must see a real open, or the test proves nothing
        assert watch.events() > 0, "inotify did not report the test's own open"
        try:
            yield run, canary, watch
        finally:
            watch.close()


def raw_request(run: Running, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """One request with `target` as written, on its own connection: (status, body)."""
    head = method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", run.server.port), timeout=10) as s:
        s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/"), answer[:200]
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_traversal_corpus_refused_canary_never_opened(jail, caplog) -> None:
    run, canary, watch = jail
    cases = corpus(canary)
    wrong = []
    for what, target, status, reason in cases:
        for method in (b"GET", b"HEAD"):
            got, body = raw_request(run, target, method)
            if (
                b"never serve me" in body
                or got != status
                or (method == b"GET" and reason and reason.encode() not in body)
            ):
                wrong.append((what, method, target, got, body[:80]))
    assert not wrong, wrong
    assert watch.events() == 0, "the server opened something outside its root"

    # each refusal: one log line and one count, by status, in the metrics
    refusals = 2 * sum(status == 403 for _, _, status, _ in cases)
    bad = 2 * sum(status == 400 for _, _, status, _ in cases)
    refused_lines = [r for r in caplog.records if "refused access to" in r.getMessage()]
    assert len(refused_lines) == refusals
    assert run.server.stats["refused"] == refusals
    assert run.metrics.http_requests.labels("403")._value.get() == refusals
    assert run.metrics.http_requests.labels("400")._value.get() == bad
    assert run.metrics.http_requests.labels("200")._value.get() == 0

    # and the server goes on serving what is inside
    assert raw_request(run, b"/ok.efi") == (200, b"fine\n")


@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
@pytest.mark.parametrize(
    "path",
    [
        "/../outside/canary",
        "/%2e%2e/outside/canary",
        "/%2e%2e%2foutside%2fcanary",
        "/..%5coutside%5ccanary",
        "/escape",
        "/escape_dir/canary",
        "/%00",
    ],
)
def test_curl_path_as_is_refused(jail, path: str) -> None:
    run, _, watch = jail
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--path-as-is",
            "-o",
            "-",
            "-w",
            "%{http_code}",
            run.url + path,
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert out.stdout.endswith(b"403"), out
    assert b"never serve me" not in out.stdout
    assert watch.events() == 0
