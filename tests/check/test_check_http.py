"""`pxelab check` on URL boot files (pxelab.config.check_http): pxelab's own host and port, the
file under the HTTP root, and, only with --probe-urls, redirects and a missing Content-Length,
asked of real HTTP servers on loopback (Python's http.server, and pxelab's own)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pxelab.cli import main
from pxelab.config.check import check
from pxelab.config.check_http import probe_urls
from pxelab.config.dnsmasq import read_dnsmasq_conf
from pxelab.config.tomlconf import read_toml

TOML = """\
[tftp]
enabled = true
root = "{root}"

[http]
port = 8080

[http_boot]
x64 = "{url}"

[[range]]
address = "192.168.10.20"

[[boot]]
file = "undionly.kpxe"
"""


def _conf(tmp_path: Path, url: str, body: str = TOML) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "efi64").mkdir(parents=True, exist_ok=True)
    (root / "efi64" / "snponly.efi").write_bytes(b"MZ" + bytes(1000))
    (root / "undionly.kpxe").write_bytes(bytes(100))
    conf = tmp_path / "pxelab.toml"
    conf.write_text(body.format(root=root, url=url))
    return conf, root


def _http(conf: Path) -> list[str]:
    report = check(read_toml(conf), user="root")
    return [str(f) for f in report.findings if "URL" in f.message or "http" in f.message]


def test_own_server_and_file_present_is_clean(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://{server}:8080/efi64/snponly.efi")
    assert _http(conf) == []


def test_missing_file_names_the_line_and_the_path(tmp_path: Path) -> None:
    conf, root = _conf(tmp_path, "http://{server}:8080/efi64/ipxe.efi")
    (finding,) = _http(conf)
    assert finding.startswith(f"{conf}:9: error: http_boot URL http://{{server}}:8080/efi64/")
    assert f"fix: put the file at {root}/efi64/ipxe.efi" in finding


def test_percent_encoding_decoded_once(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://{server}:8080/efi64%2Fsnponly.efi")
    assert _http(conf) == []
    conf, _ = _conf(tmp_path, "http://{server}:8080/efi64%252Fsnponly.efi")
    assert len(_http(conf)) == 1


def test_wrong_port_and_https(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://{server}:80/efi64/snponly.efi")
    (finding,) = _http(conf)
    # the same host, another port: maybe another server (nginx on :80), so it cannot tell
    assert (
        ": warning: " in finding and "names port 80, but pxelab serves HTTP on port 8080" in finding
    )
    conf, _ = _conf(tmp_path, "https://192.168.10.20:8080/efi64/snponly.efi")
    (finding,) = _http(conf)
    assert "error" in finding and "plain HTTP" in finding


def test_another_host_cannot_tell(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://10.9.9.9/x.efi")
    (finding,) = _http(conf)
    assert ": warning: " in finding and "cannot tell whether 10.9.9.9:80 serves it" in finding


def test_dnsmasq_conf_port_comes_from_the_command_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "efi64").mkdir(parents=True)
    (root / "efi64" / "snponly.efi").write_bytes(b"MZ")
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(f"""\
port=0
enable-tftp
tftp-root={root}
dhcp-range=192.168.10.20,proxy
dhcp-vendorclass=set:http,HTTPClient
dhcp-boot=tag:http,http://{{server}}:8080/efi64/snponly.efi
dhcp-boot=tag:http,http://{{server}}:8080/efi64/gone.efi
""")
    report = check(read_dnsmasq_conf(conf), user="root")
    found = [str(f) for f in report.findings if "URL" in f.message]
    assert any(f.startswith(f"{conf}:6: warning: ") and "pxelab serve --http-port 8080" in f
               for f in found), found  # fmt: skip
    assert any(f.startswith(f"{conf}:7: error: ") and "gone.efi" in f for f in found), found


def test_http_boot_host_name_warns(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://boot.example/x.efi")
    found = _http(conf)
    assert any("EDK2 resolves a name only when" in f for f in found), found


# -- probing ---------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bool) -> None:
        self.seen.append(f"{self.command} {self.path}")
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/efi64/snponly.efi")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/nolength"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            if body:
                self.wfile.write(b"MZ" * 100)
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"MZ")

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _probe(conf: Path) -> list[str]:
    from pxelab.config.check import Report

    report = Report()
    probe_urls(read_toml(conf), report)
    return [str(f) for f in report.findings]


def test_no_request_without_probe(tmp_path: Path, server: str) -> None:
    conf, _ = _conf(tmp_path, f"http://{server}/redirect.efi")
    _http(conf)
    assert _Handler.seen == []


def test_probe_good_url(tmp_path: Path, server: str) -> None:
    conf, _ = _conf(tmp_path, f"http://{server}/efi64/snponly.efi")
    assert _probe(conf) == []
    assert _Handler.seen == ["HEAD /efi64/snponly.efi", "GET /efi64/snponly.efi"]


def test_probe_redirect_is_an_error_for_http_boot(tmp_path: Path, server: str) -> None:
    conf, _ = _conf(tmp_path, f"http://{server}/redirect.efi")
    (finding,) = _probe(conf)
    assert finding.startswith(f"{conf}:9: error: HEAD http://{server}/redirect.efi answers 302")
    assert "UEFI HTTP Boot fails on a redirect" in finding
    assert _Handler.seen == ["HEAD /redirect.efi", "GET /redirect.efi"]  # not followed


def test_probe_no_length_is_an_error_for_http_boot(tmp_path: Path, server: str) -> None:
    conf, _ = _conf(tmp_path, f"http://{server}/nolength.efi")
    (finding,) = _probe(conf)
    assert ": error: " in finding and "sends no Content-Length" in finding


def test_probe_ipxe_url_only_warns(tmp_path: Path, server: str) -> None:
    body = (
        TOML
        + f"""
[[match]]
tag = "ipxe"
userclass = "iPXE"

[[boot]]
file = "http://{server}/redirect.ipxe"
tags = ["ipxe"]
"""
    )
    conf, _ = _conf(tmp_path, f"http://{server}/efi64/snponly.efi", body)
    found = _probe(conf)
    assert len(found) == 1 and ": warning: " in found[0] and "redirect.ipxe" in found[0]
    assert "iPXE follows it" in found[0]


def test_probe_refused_connection(tmp_path: Path) -> None:
    conf, _ = _conf(tmp_path, "http://127.0.0.1:9/x.efi")
    (finding,) = _probe(conf)
    assert ": error: HEAD http://127.0.0.1:9/x.efi failed" in finding


def test_cli_probe_urls(tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    conf, _ = _conf(tmp_path, f"http://{server}/nolength.efi")
    assert main(["check", "--config", str(conf), "--user", "root"]) == 0
    assert _Handler.seen == []
    capsys.readouterr()
    assert main(["check", "--config", str(conf), "--user", "root", "--probe-urls"]) == 1
    out = capsys.readouterr().out
    assert f"{conf}:9: error: HEAD http://{server}/nolength.efi sends no Content-Length" in out


def test_probe_against_pxelab_http_server(tmp_path: Path) -> None:
    """pxelab's own server: Content-Length on HEAD and GET, never a redirect (a directory
    gets 404, not aiohttp's redirect to a slash)."""
    import asyncio

    from pxelab.serve.http import HttpServer, HttpSettings

    conf, root = _conf(tmp_path, "http://127.0.0.1:{port}/efi64/snponly.efi")

    async def run() -> list[str]:
        srv = HttpServer(HttpSettings(root=root, listen="127.0.0.1", port=0))
        await srv.start()
        try:
            port = srv.port
            conf.write_text(conf.read_text().replace("{port}", str(port)))
            return await asyncio.to_thread(_probe, conf)
        finally:
            await srv.stop()

    assert asyncio.run(run()) == []
