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
  - a request that does not parse gets a 400 (no HTTP version, a broken request line or
    header), 414 for a request line over 8 KiB, 431 for headers over 8 KiB in all or one of them,
    or more than MAX_HEADERS of them; the connection closes and the server goes on;
  - a connection must deliver a whole request head within `header_timeout` seconds of being
    accepted (20 by default), otherwise it is closed (logged, counted as status 408, no answer
    sent); after an answer, aiohttp's `keepalive_timeout` bounds the wait for the next one.
    Idle or slow-dripping sockets (slowloris) therefore cannot pin descriptors for ever (aiohttp
    before 3.10 had no deadline at all before a connection's first request).

Every answer is one access log line in the style of the TFTP log (`pxelab-http: sent ... to
ADDR`, `refused access to ... for ADDR: REASON`) and one `http`/`response` event (status,
bytes, method, path); a file body that starts is also an `http`/`request` event, so the metrics
(pxelab.serve.metrics) keep requests by status, bytes sent and transfers in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from pxelab.serve.containment import Refused, Root, http_status, printable, printable_path
from pxelab.serve.events import EventLog
from pxelab.wire.http import BadTarget, Unsatisfiable, decode_target, parse_range

log = logging.getLogger("pxelab.http")
_aiohttp_log = logging.getLogger("pxelab.http.aiohttp")  # its tracebacks for bad requests
_aiohttp_log.setLevel(logging.CRITICAL)
_aiohttp_log.propagate = False

MAX_NAME = 1024  # bytes of a decoded path (TFTP's names stop at 255)
# Request head limits. The two line limits differ by design: aiohttp reports which one a
# LineTooLong broke, and that tells a long request line (414) from a long header (431).
MAX_LINE = 8190  # request line (nginx's large_client_header_buffers default is 8 KiB)
MAX_FIELD = 8192  # one header name or value
MAX_HEAD = 8192  # all header lines together ("Name: value\r\n" each)
MAX_HEADERS = 128  # explicit: aiohttp before 3.10 allowed 32768 (256 MiB of head per socket)
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
    # seconds from accept to a whole request head: what frees a slowloris socket. 20 s as
    # Apache's mod_reqtimeout; firmware sends its request at once, so this is generous.
    header_timeout: float = 20.0


def content_type(name: str) -> str:
    return TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


class HttpServer:
    def __init__(self, settings: HttpSettings, events: EventLog | None = None) -> None:
        self.settings = settings
        self.events = events or EventLog()
        self.root = Root(settings.root, MAX_NAME)
        self.stats: dict[str, int] = {"refused": 0, "bad": 0, "timeouts": 0}
        self.port = settings.port
        # per connection: the call that closes it if no whole request head comes in time
        self._timers: dict[web.RequestHandler, asyncio.TimerHandle] = {}
        self._runner: web.ServerRunner | None = None
        self._site: web.SockSite | None = None

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        server = _Server(self._handle, self, access_log_class=self._access_logger(),
                         access_log=log, logger=_aiohttp_log,
                         keepalive_timeout=self.settings.keepalive_timeout,
                         max_line_size=MAX_LINE, max_field_size=MAX_FIELD,
                         max_headers=MAX_HEADERS)
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
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @property
    def connections(self) -> int:
        """Connections open now (accepted and not yet closed)."""
        return len(self._runner.server.connections) if self._runner and self._runner.server else 0

    def set_root(self, root: str | os.PathLike[str]) -> None:
        """A reload (SIGHUP): requests from now on look under `root`; sends in flight keep
        their open file."""
        self.root = Root(root, MAX_NAME)
        self.settings = dataclasses.replace(self.settings, root=root)

    # ------------------------------------------------------------ head deadlines

    def _arm(self, conn: web.RequestHandler, transport: Any) -> None:
        """Close `conn` unless a whole request head arrives within `header_timeout`."""
        self._disarm(conn)
        seconds = self.settings.header_timeout
        if seconds <= 0 or transport is None or transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        self._timers[conn] = loop.call_later(seconds, self._expired, conn, transport)

    def _disarm(self, conn: web.RequestHandler) -> None:
        timer = self._timers.pop(conn, None)
        if timer is not None:
            timer.cancel()

    def _expired(self, conn: web.RequestHandler, transport: Any) -> None:
        self._timers.pop(conn, None)
        if transport.is_closing():
            return
        peer = transport.get_extra_info("peername")
        ip = peer[0] if peer else "?"
        transport.close()
        self.stats["timeouts"] += 1
        log.info("closed connection from %s: no whole request head in %g s (%d so far)", ip,
                 self.settings.header_timeout, self.stats["timeouts"])
        # nginx logs this case as 408 too; nothing is sent (the client may be no client)
        self.events.emit("http", "response", client=ip, method="", path="", status=408,
                         bytes=0, outcome="header timeout", transfer=False)

    # ------------------------------------------------------------ answers

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._disarm(request.protocol)  # its head is in: the deadline is met
        return await self._answer_request(request)

    async def _answer_request(self, request: web.BaseRequest) -> web.StreamResponse:
        request[_MARK] = True
        ip = request.remote or "?"
        method = request.method
        target = request.raw_path
        bad = _bad_head(request)
        if bad is not None:
            status, why = bad
            self.stats["bad"] += 1
            log.warning("bad request from %s: %d %s (%d so far)", ip, status, why,
                        self.stats["bad"])
            resp = self._answer(request, status, why, target, logged=True)
            resp.force_close()
            return resp
        if method not in ("GET", "HEAD"):
            return self._answer(request, 405, "method not allowed", target,
                                headers={"Allow": "GET, HEAD"})
        try:
            name = decode_target(target)
        except BadTarget as exc:
            self.stats["bad"] += 1
            log.warning("bad request from %s: %s: %s", ip, printable(target), exc)
            resp = self._answer(request, 400, str(exc), target)
            resp.force_close()  # as for every other request that does not parse
            return resp
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


def _bad_head(request: web.BaseRequest) -> tuple[int, str] | None:
    """What aiohttp's parser lets through and pxelab does not serve: a request line without
    an HTTP version (HTTP/0.9), or more than MAX_HEAD bytes of header lines in all."""
    if request.version < (1, 0):
        return 400, "no HTTP version in the request line"
    size = sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
    if size > MAX_HEAD:
        return 431, f"{size} bytes of headers, more than {MAX_HEAD}"
    return None


def parse_error_status(exc: BaseException | None, status: int) -> int:
    """The status for a request aiohttp's parser refused (it says 400 to all of them)."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_FIELD:
            return 431
        if limit == MAX_LINE:
            return 414
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message):
        return 431
    return status


class _Connection(web.RequestHandler):
    """aiohttp's per-connection protocol, with the status of a refused request head told
    apart (414, 431) instead of 400 for all."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        return super().handle_error(request, parse_error_status(exc, status), exc, message)


class _Server(web.Server):
    """aiohttp's low-level server, making `_Connection`s and telling the HttpServer when one
    opens (its head deadline starts) and closes."""

    def __init__(self, handler: Any, owner: HttpServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._conn_kwargs = kwargs
        self._conn_loop = asyncio.get_running_loop()

    def __call__(self) -> web.RequestHandler:
        return _Connection(self, loop=self._conn_loop, **self._conn_kwargs)

    def connection_made(self, handler: web.RequestHandler, transport: Any) -> None:
        super().connection_made(handler, transport)
        self._owner._arm(handler, transport)

    def connection_lost(self, handler: web.RequestHandler,
                        exc: BaseException | None = None) -> None:
        self._owner._disarm(handler)
        super().connection_lost(handler, exc)


def http_settings_for(cfg: Any, tftp_root: str | Path | None, listen: str) -> HttpSettings | None:
    """The HttpSettings of a ServerConfig (None when HTTP is off): its own root, else the
    TFTP root; its own listen address, else the TFTP one."""
    h = cfg.http
    if h.port is None:
        return None
    root = h.root or tftp_root
    if root is None:
        return None
    extra = {} if getattr(h, "header_timeout", None) is None else {
        "header_timeout": h.header_timeout}
    return HttpSettings(root=root, listen=h.listen or listen, port=h.port, **extra)
