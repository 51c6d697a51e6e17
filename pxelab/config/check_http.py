"""`pxelab check` for URL boot files: UEFI HTTP Boot URLs and iPXE's http:// scripts.

Statically (always), for each URL a client is handed (`dhcp-boot=...,http://...`, TOML
`http_boot`, an http:// pxe-service basename):
- it must be a URL pxelab can send: http:// or https://, a host, at most 255 bytes (option 67);
- when it names a host and port pxelab itself serves (`{server}`, which the proxy replaces by
  the address the request came in on, or one of pxelab's own addresses: `[http] listen`,
  `listen-address`, a proxy range's address), pxelab's HTTP server must be on at that port
  (TOML `[http] port`; with a dnsmasq.conf it is `pxelab serve --http-port`, which this check
  cannot see, so it says it cannot tell) and the file must exist under the HTTP root (`[http]
  root`, else the TFTP root), the URL path percent-decoded once as the server decodes it;
- another host: it says it cannot tell whether that server has the file;
- an HTTP Boot URL with a host name instead of an address: EDK2 resolves it only when the
  router's offer carries DNS servers (HttpOfferTypeProxyNameUri), a warning.

With `probe=True` (`pxelab check --probe-urls`), every URL is also asked for, HEAD and then GET
as EDK2's HttpBootDxe does, without following redirects. For an HTTP Boot URL a redirect is an
error (UEFI clients fail on one), and so is an answer without Content-Length (EDK2 needs the
size first: "Could not retrieve NBP file size from HTTP server"); for any other URL (iPXE,
which follows redirects and copes without a length, only slowly) these are warnings. A request
is made only when asked: a check never touches the network by default.

Findings go into the `pxelab.config.check.Report` given (its `error`/`warning`), each naming
the configuration line and a fix.
"""

from __future__ import annotations

import http.client
import posixpath
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from pxelab.config.model import HTTP_ARCH_NAMES, HTTP_VENDOR_CLASS, ServerConfig, Source

SERVER = "{server}"
PROBE_TIMEOUT = 5.0
PROBE_READ = 1 << 20  # bytes of a GET's body read before the connection is closed
# An HTTP Boot client's option 60 and 93, for telling which tagged dhcp-boot lines it matches.
_HTTP_VC = f"{HTTP_VENDOR_CLASS}:Arch:00016:UNDI:003000".encode()
_HTTP_ARCHES = set(HTTP_ARCH_NAMES.values())


class _Report(Protocol):
    def error(self, where: object, message: str, fix: str, *, key: object = None) -> None: ...
    def warning(self, where: object, message: str, fix: str) -> None: ...


@dataclass(frozen=True)
class BootUrl:
    url: str
    source: Source
    what: str  # "dhcp-boot", "http_boot", "pxe-service"
    http_boot: bool  # handed to UEFI HTTP Boot clients (stricter: no redirect, a length)


def boot_urls(cfg: ServerConfig) -> list[BootUrl]:
    """Every URL boot file of the configuration, in file order by kind."""
    out = [BootUrl(e.url, e.source, "http_boot", True) for e in cfg.http_boot]
    http_tags = _http_client_tags(cfg)
    for b in cfg.boot:
        if b.file and "://" in b.file:
            positive = [t for t in b.tags if not t.startswith("!")]
            hb = not positive or all(t in http_tags for t in positive)
            out.append(BootUrl(b.file, b.source, "dhcp-boot", hb))
    for s in cfg.services:
        if s.basename and "://" in s.basename:
            out.append(BootUrl(s.basename, s.source, "pxe-service", False))
    return out


def _http_client_tags(cfg: ServerConfig) -> set[str]:
    """Tags an HTTP Boot client gets from the tag rules: a vendor class rule its option 60
    contains, or an option-93 match on an HTTP Boot architecture."""
    return {r.tag for r in cfg.tag_rules if _matches_http_client(r)}


def _matches_http_client(r: Any) -> bool:
    if not r.value:
        return False
    if r.kind == "vendorclass":
        return r.value in _HTTP_VC
    if r.kind == "match" and r.option == 60:
        return _HTTP_VC.startswith(r.value)
    if r.kind == "match" and r.option == 93:
        return int.from_bytes(r.value, "big") in _HTTP_ARCHES
    return False


def own_addresses(cfg: ServerConfig) -> set[str]:
    """Addresses that are pxelab's own by the configuration."""
    out = {str(a) for a in cfg.listen_addresses} | {str(r.address) for r in cfg.ranges}
    if cfg.http.listen:
        out.add(cfg.http.listen)
    return out


def http_root(cfg: ServerConfig) -> Path | None:
    return cfg.http.root or (cfg.tftp.root if cfg.tftp.enabled else None)


def check_http(cfg: ServerConfig, report: _Report, *, probe: bool = False) -> int:
    """The static checks on every URL boot file (and the probe when asked); how many URLs."""
    urls = boot_urls(cfg)
    summary = getattr(report, "summary", None)
    if urls and isinstance(summary, list):
        summary.append(f"{len(urls)} URL boot file(s) checked")
    for u in urls:
        parts = _parse(u, report)
        if parts is None:
            continue
        _check_served(cfg, u, parts, report)
        if probe:
            probe_url(cfg, u, report)
    return len(urls)


def _parse(u: BootUrl, report: _Report) -> SplitResult | None:
    try:
        parts = urlsplit(u.url.replace(SERVER, "0.0.0.0"))
        parts.port  # noqa: B018 -- raises ValueError for a port that is no number
    except ValueError as exc:
        report.error(u.source, f"{u.what} URL {u.url} does not parse: {exc}",
                     "write it as http://HOST[:PORT]/PATH")  # fmt: skip
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.error(u.source, f"{u.what} URL {u.url} is not an http:// or https:// URL with a "
                     "host", "write it as http://HOST[:PORT]/PATH")  # fmt: skip
        return None
    if len(u.url.replace(SERVER, "255.255.255.255").encode()) > 255:
        report.error(u.source, f"{u.what} URL is longer than 255 bytes: it fits neither the file "
                     "field nor option 67", "shorten the path")  # fmt: skip
        return None
    if u.http_boot and not _is_address(parts.hostname) and SERVER not in u.url:
        report.warning(u.source, f"HTTP Boot URL {u.url} names host {parts.hostname}: EDK2 "
                       "resolves a name only when the router's DHCP offer carries DNS servers",
                       "use the server's address, or {server}")  # fmt: skip
    return parts


def _is_address(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return host.count(".") == 3


def _check_served(cfg: ServerConfig, u: BootUrl, parts: SplitResult, report: _Report) -> None:
    host = SERVER if SERVER in u.url.partition("://")[2].split("/")[0] else parts.hostname
    ours = host == SERVER or host in own_addresses(cfg)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not ours:
        report.warning(u.source, f"{u.what} URL {u.url}: cannot tell whether {parts.hostname}:"
                       f"{port} serves it (not one of pxelab's addresses: {{server}}, "
                       "listen addresses, proxy ranges)",
                       "use http://{server}:PORT/... for pxelab's own HTTP server, or check "
                       "that server (pxelab check --probe-urls asks it)")  # fmt: skip
        return
    if parts.scheme == "https":
        report.error(u.source, f"{u.what} URL {u.url} is https://: pxelab's HTTP server speaks "
                     "plain HTTP", "use http://")  # fmt: skip
        return
    if cfg.http.port is None:
        report.warning(u.source, f"{u.what} URL {u.url} names pxelab's own HTTP server, and its "
                       "port is not in this configuration: cannot tell whether it serves "
                       f"port {port}", f"run pxelab serve --http-port {port} (or TOML [http] "
                       f"port = {port})")  # fmt: skip
    elif cfg.http.port != port:
        # the same host, another port: another server may well listen there (nginx on :80)
        report.warning(
            u.source,
            f"{u.what} URL {u.url} names port {port}, but pxelab serves HTTP on port "
            f"{cfg.http.port} ({cfg.source_of('http.port')}): not pxelab's file, and cannot tell "
            "whether another server there has it",
            f"write :{cfg.http.port} in the URL for pxelab's own server",
        )
        return
    root = http_root(cfg)
    if root is None:
        report.error(u.source, f"{u.what} URL {u.url}: pxelab has no HTTP root to serve it from",
                     "set [http] root = DIR (or a TFTP root)")  # fmt: skip
        return
    name = unquote(parts.path).lstrip("/")
    local = root / name
    if not name or posixpath.normpath("/" + name) != "/" + name.rstrip("/") or not local.is_file():
        report.error(u.source, f"{u.what} URL {u.url}: {local} is not a file under the HTTP "
                     f"root {root}", f"put the file at {local}", key=("http", local))  # fmt: skip


# -- asking the server (only when asked) ------------------------------------------------------


def probe_urls(cfg: ServerConfig, report: _Report) -> int:
    """Ask for every well-formed URL boot file (`pxelab check --probe-urls`); how many."""
    asked = 0
    for u in boot_urls(cfg):
        parts = _parse(u, _Quiet())
        if parts is not None:
            probe_url(cfg, u, report)
            asked += 1
    return asked


class _Quiet:
    """A report that keeps nothing (the static findings were made already)."""

    def error(self, where: object, message: str, fix: str, *, key: object = None) -> None:
        pass

    def warning(self, where: object, message: str, fix: str) -> None:
        pass


def _probe_host(cfg: ServerConfig) -> str | None:
    """Where `{server}` points when this check asks: pxelab's own address by the config."""
    if cfg.http.listen and cfg.http.listen != "0.0.0.0":
        return cfg.http.listen
    addresses = [str(a) for a in cfg.listen_addresses] + [str(r.address) for r in cfg.ranges]
    return addresses[0] if addresses else None


def probe_url(cfg: ServerConfig, u: BootUrl, report: _Report) -> None:
    url = u.url
    if SERVER in url:
        host = _probe_host(cfg)
        if host is None:
            report.warning(
                u.source,
                f"cannot ask for {url}: no address of pxelab's own in the "
                "configuration to put for {server}",
                "add listen-address=ADDR",
            )
            return
        url = url.replace(SERVER, host)
    parts = urlsplit(url)
    if parts.scheme != "http":
        report.warning(u.source, f"{url}: only http:// URLs are asked for",
                       "check it by hand (curl -I)")  # fmt: skip
        return
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    heads: dict[str, Any] = {}
    for method in ("HEAD", "GET"):
        try:
            heads[method] = _ask(parts.hostname or "", parts.port or 80, method, target)
        except (OSError, http.client.HTTPException) as exc:
            report.error(u.source, f"{method} {url} failed: {exc}",
                         "start the HTTP server, or correct host and port")  # fmt: skip
            return
    strict = u.http_boot
    level = report.error if strict else _as_warning(report)
    why = "UEFI HTTP Boot" if strict else "iPXE"
    for method, (status, headers) in heads.items():
        if 300 <= status < 400:
            level(u.source, f"{method} {url} answers {status} redirect to "
                  f"{headers.get('location', '?')}: {why} "
                  + ("fails on a redirect" if strict else "follows it, one round trip more"),
                  "give the final URL in the configuration")  # fmt: skip
            return
        if status != 200:
            report.error(u.source, f"{method} {url} answers {status}", "put the file there")
            return
        if "content-length" not in headers:
            level(u.source, f"{method} {url} sends no Content-Length: "
                  + ("EDK2 needs the size first (\"Could not retrieve NBP file size\")" if strict
                     else "iPXE is far slower without one"),
                  "serve it with a server that sends Content-Length (pxelab serve "
                  "--http-port; nginx and Apache do for static files)")  # fmt: skip
            return


def _as_warning(report: _Report):
    def warn(where: object, message: str, fix: str) -> None:
        report.warning(where, message, fix)

    return warn


def _ask(host: str, port: int, method: str, target: str) -> tuple[int, dict[str, str]]:
    """One request (no redirect followed); the status and lower-case headers."""
    conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT)
    try:
        conn.request(method, target, headers={"User-Agent": "pxelab-check"})
        resp = conn.getresponse()
        if method == "GET":  # a small file read whole, so the server logs no broken pipe
            resp.read(PROBE_READ)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
