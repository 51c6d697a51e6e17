"""The boot file HTTP server of `pxelab serve` (`--http-port`, TOML `[http]`), on aiohttp.

What UEFI HTTP Boot and iPXE need, and nothing else (issue 16):
  - GET and HEAD of regular files under the root; other methods 405;
  - Content-Length on every answer, Range (one byte range) as 206, or 416 with
    `Content-Range: bytes */SIZE`;
  - HTTP/1.1 keep-alive (aiohttp's), files sent with sendfile(2) from the descriptor the
    containment rule opened (pxelab.serve.containment.Root, the same rule as TFTP's): no
    second lookup by name between the check and the send;
  - never a redirect: a directory, with or without its slash, is 403;
  - `Content-Type: application/efi` for .efi (EDK2 boots by type; .iso/.img are its RAM disk
    types);
  - a request that does not parse gets aiohttp's 400 (431 for headers over 8 KiB) and the
    connection closes; the server goes on.

Every answer is one access log line in the style of the TFTP log (`pxelab-http: sent ... to
ADDR`, `refused access to ... for ADDR: REASON`) and one `http`/`response` event (status,
bytes, method, path); a file body that starts is also an `http`/`request` event, so the metrics
(pxelab.serve.metrics) keep requests by status, bytes sent and transfers in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from pxelab.serve.containment import Refused, Root, http_status, printable, printable_path
from pxelab.serve.events import EventLog
from pxelab.wire.http import BadTarget, Unsatisfiable, decode_target, parse_range

log = logging.getLogger("pxelab.http")
_aiohttp_log = logging.getLogger("pxelab.http.aiohttp")  # its tracebacks for bad requests
_aiohttp_log.setLevel(logging.CRITICAL)
_aiohttp_log.propagate = False

MAX_NAME = 1024  # bytes of a decoded path (TFTP's names stop at 255)
TYPES = {".efi": "application/efi", ".iso": "application/vnd.efi-iso",
         ".img": "application/vnd.efi-img", ".ipxe": "text/plain", ".cfg": "text/plain",
         ".txt": "text/plain"}
# set on the requests our handler answered (the access logger skips them)
_MARK: Any = web.RequestKey("pxelab.http", bool) if hasattr(web, "RequestKey") else "pxelab.http"


@dataclass(frozen=True)
class HttpSettings:
    root: str | os.PathLike[str]
    listen: str = "0.0.0.0"
    port: int = 80
    keepalive_timeout: float = 75.0


def content_type(name: str) -> str:
    return TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


class HttpServer:
    def __init__(self, settings: HttpSettings, events: EventLog | None = None) -> None:
        self.settings = settings
        self.events = events or EventLog()
        self.root = Root(settings.root, MAX_NAME)
        self.stats: dict[str, int] = {"refused": 0, "bad": 0}
        self.port = settings.port
        self._runner: web.ServerRunner | None = None
        self._site: web.SockSite | None = None

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        server = web.Server(self._handle, access_log_class=self._access_logger(),
                            access_log=log, logger=_aiohttp_log,
                            keepalive_timeout=self.settings.keepalive_timeout,
                            max_line_size=8190, max_field_size=8190)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.listen, self.settings.port))
        except OSError:
            sock.close()
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock, backlog=1024)
        await self._site.start()
        log.info("HTTP root is %s, listening on %s:%d", self.root.shown, self.settings.listen,
                 self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def set_root(self, root: str | os.PathLike[str]) -> None:
        """A reload (SIGHUP): requests from now on look under `root`; sends in flight keep
        their open file."""
        self.root = Root(root, MAX_NAME)
        self.settings = HttpSettings(root, self.settings.listen, self.settings.port,
                                     self.settings.keepalive_timeout)

    # ------------------------------------------------------------ answers

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        request[_MARK] = True
        ip = request.remote or "?"
        method = request.method
        target = request.raw_path
        if method not in ("GET", "HEAD"):
            return self._answer(request, 405, "method not allowed", target,
                                headers={"Allow": "GET, HEAD"})
        try:
            name = decode_target(target)
        except BadTarget as exc:
            self.stats["bad"] += 1
            log.warning("bad request from %s: %s: %s", ip, printable(target), exc)
            return self._answer(request, 400, str(exc), target)
        try:
            opened = self.root.open_read(name)
        except Refused as exc:
            status = http_status(exc)
            shown = self._shown(exc.path or name)
            if status == 404:
                log.info("file %s not found for %s", shown, ip)
            else:
                self.stats["refused"] += 1
                log.warning("refused access to %s for %s: %s (%d so far)", shown, ip,
                            exc.reason, self.stats["refused"])
            return self._answer(request, status, exc.reason, name, logged=True)
        fobj = os.fdopen(opened.fd, "rb", closefd=True)
        try:
            return await self._send(request, fobj, opened.size, opened.path, ip)
        finally:
            fobj.close()

    async def _send(self, request: web.BaseRequest, fobj: Any, size: int, path: str,
                    ip: str) -> web.StreamResponse:
        shown = self._shown(path)
        try:
            rng = parse_range(request.headers.get("Range"), size)
        except Unsatisfiable as exc:
            log.info("range not satisfiable for %s from %s: %s", shown, ip, exc)
            return self._answer(request, 416, str(exc), path, logged=True,
                                headers={"Content-Range": f"bytes */{size}"})
        resp = web.StreamResponse(status=206 if rng else 200)
        resp.content_type = content_type(path)
        resp.headers["Accept-Ranges"] = "bytes"
        offset, count = (rng.start, rng.length) if rng else (0, size)
        if rng:
            resp.headers["Content-Range"] = rng.content_range(size)
        resp.content_length = count
        head = request.method == "HEAD"
        if head or count == 0:
            await resp.prepare(request)
            await resp.write_eof()
            self._done(request, resp.status, 0, path, ip, "sent" if not head else "head")
            log.info("%s %s to %s", "length of" if head else "sent", shown, ip)
            return resp
        self.events.emit("http", "request", client=ip, method=request.method, path=path,
                         offset=offset, length=count)
        sent, outcome = 0, "failed"
        try:
            await resp.prepare(request)
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("connection lost")
            loop = asyncio.get_running_loop()
            try:
                sent = await loop.sendfile(transport, fobj, offset, count)
            except NotImplementedError:  # a transport without sendfile (TLS): copy
                fobj.seek(offset)
                while sent < count:
                    chunk = fobj.read(min(1 << 20, count - sent))
                    if not chunk:
                        break
                    await resp.write(chunk)
                    sent += len(chunk)
            await resp.write_eof()
            outcome = "sent" if sent == count else "short"
        except (ConnectionError, OSError) as exc:
            log.warning("failed sending %s to %s: %s", shown, ip,
                        getattr(exc, "strerror", None) or exc)
            outcome = "aborted"
            resp.force_close()
        finally:
            self._done(request, resp.status, sent, path, ip, outcome, transfer=True)
        if outcome == "sent":
            log.info("sent %s%s to %s", shown,
                     f" bytes {rng.start}-{rng.end}" if rng else "", ip)
        return resp

    def _answer(self, request: web.BaseRequest, status: int, reason: str, path: str, *,
                logged: bool = False, headers: dict[str, str] | None = None) -> web.Response:
        """An answer without a file: its status and reason as text, with its length."""
        resp = web.Response(status=status, text=f"{status} {reason}\n", headers=headers)
        if not logged and status != 400:
            log.info("%s %s from %s: %d", request.method, printable(path),
                     request.remote or "?", status)
        self._done(request, status, 0, path, request.remote or "?", reason)
        return resp

    def _done(self, request: web.BaseRequest, status: int, nbytes: int, path: str, ip: str,
              outcome: str, *, transfer: bool = False) -> None:
        self.events.emit("http", "response", client=ip, method=request.method, path=path,
                         status=status, bytes=nbytes, outcome=outcome, transfer=transfer)

    def _shown(self, path: str) -> str:
        if path.startswith(self.root.shown):
            return printable_path(path, self.root.shown)
        return printable(path)

    def _access_logger(self) -> type[AbstractAccessLogger]:
        """aiohttp's own answers (400 for a request that does not parse, 431 for headers too
        large) never reach the handler: this logs and counts them."""
        server = self

        class _Access(AbstractAccessLogger):
            def log(self, request: web.BaseRequest, response: web.StreamResponse,
                    time: float) -> None:
                try:
                    if request.get(_MARK):
                        return
                except Exception:
                    pass
                ip = getattr(request, "remote", None) or "?"
                server.stats["bad"] += 1
                log.warning("bad request from %s: %d %s (%d so far)", ip, response.status,
                            response.reason, server.stats["bad"])
                server.events.emit("http", "response", client=ip, method="", path="",
                                   status=response.status, bytes=0, outcome="bad request",
                                   transfer=False)

            @property
            def enabled(self) -> bool:
                return True

        return _Access


def http_settings_for(cfg: Any, tftp_root: str | Path | None, listen: str) -> HttpSettings | None:
    """The HttpSettings of a ServerConfig (None when HTTP is off): its own root, else the
    TFTP root; its own listen address, else the TFTP one."""
    h = cfg.http
    if h.port is None:
        return None
    root = h.root or tftp_root
    if root is None:
        return None
    return HttpSettings(root=root, listen=h.listen or listen, port=h.port)
