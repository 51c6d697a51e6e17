"""`pxelab serve`'s engine: the proxyDHCP and the TFTP server in one asyncio loop.

    server = PxeServer(cfg, interface="eth0", events=EventLog("events.jsonl"))
    await server.start(); ...; await server.stop()
    run(cfg, ...)   # blocking: runs until SIGINT/SIGTERM, then returns 0

Which parts run: the proxy unless `proxy=False`; TFTP when the configuration enables it
(`enable-tftp`, TOML `tftp.enabled`) or a TFTP root is given, unless `tftp=False`; HTTP when
`cfg.http.port` is set (TOML `[http] port`, `--http-port`), from the TFTP root unless
`[http] root` names another.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

from pxelab.config.model import ServerConfig
from pxelab.serve.events import EventLog
from pxelab.serve.http import HttpServer, http_settings_for
from pxelab.serve.proxydhcp import ProxyDhcpServer
from pxelab.serve.tftp import TftpServer, TftpSettings

log = logging.getLogger("pxelab.serve")


class PxeServer:
    def __init__(
        self,
        cfg: ServerConfig,
        *,
        interface: str | None = None,
        listen: IPv4Address | str | None = None,
        tftp_root: str | Path | None = None,
        proxy: bool = True,
        tftp: bool = True,
        log_dhcp: bool | None = None,
        events: EventLog | None = None,
        dhcp_port: int = 67,
        pxe_port: int = 4011,
        client_port: int = 68,
        tftp_port: int | None = None,
        tftp_max_blksize: int | None = None,
        tftp_busy_poll_us: int | None = None,
        http: bool = True,
    ) -> None:
        self.cfg = cfg
        self.events = events or EventLog()
        self.proxy: ProxyDhcpServer | None = None
        self.tftp: TftpServer | None = None
        self.http: HttpServer | None = None
        if proxy:
            self.proxy = ProxyDhcpServer(cfg, interface=interface, listen=listen,
                                         events=self.events, log_dhcp=log_dhcp, port=dhcp_port,
                                         pxe_port=pxe_port, client_port=client_port)
        root = Path(tftp_root) if tftp_root else cfg.tftp.root
        listen_addr = str(listen) if listen else (
            str(cfg.listen_addresses[0]) if len(cfg.listen_addresses) == 1 else "0.0.0.0")
        http_settings = http_settings_for(cfg, root, listen_addr) if http else None
        if http_settings is not None:
            self.http = HttpServer(http_settings, self.events)
        if tftp and (cfg.tftp.enabled or tftp_root) and root is not None:
            t = cfg.tftp
            settings = TftpSettings(
                root=root, listen=listen_addr, port=tftp_port or t.port,
                interface=interface or (cfg.interfaces[0] if len(cfg.interfaces) == 1
                                        else None),
                single_port=t.single_port, mtu=t.mtu, no_blocksize=t.no_blocksize,
                upload_dir=t.upload_dir,
            )
            if t.max_transfers:
                settings = replace(settings, max_transfers=t.max_transfers)
            if tftp_max_blksize:
                settings = replace(settings, max_blksize=tftp_max_blksize)
            # the command line's --tftp-busy-poll over the file's [tftp] busy_poll_us
            busy = tftp_busy_poll_us if tftp_busy_poll_us is not None else t.busy_poll_us
            settings = replace(settings, busy_poll_us=busy)
            self.tftp = TftpServer(settings, self.events)

    async def start(self) -> None:
        if self.tftp is not None:
            await self.tftp.start()
        try:
            if self.http is not None:
                await self.http.start()
            if self.proxy is not None:
                await self.proxy.start()
        except OSError:
            if self.http is not None:
                await self.http.stop()
            if self.tftp is not None:
                await self.tftp.stop()
            raise

    async def stop(self) -> None:
        if self.proxy is not None:
            await self.proxy.stop()
        if self.http is not None:
            await self.http.stop()
        if self.tftp is not None:
            await self.tftp.stop()

    async def run_until_signal(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return 0


def run(cfg: ServerConfig, **kwargs: object) -> int:
    """Serve until SIGINT/SIGTERM; exit status 0 then."""
    server = PxeServer(cfg, **kwargs)  # type: ignore[arg-type]
    return asyncio.run(server.run_until_signal())
