"""Live reload (SIGHUP) and the daemon's life: bind, drop privileges, serve, reload, stop.

    source = ConfigSource(path, kind="dnsmasq", overrides=apply_cli_flags)
    reloader = Reloader(server, source, user="nobody", metrics=metrics)
    code = await serve_forever(server, drop=drop, reloader=reloader,
                               metrics=metrics, metrics_address="127.0.0.1:9467")

A reload reads the file again (as the dropped user: it must stay readable by that user) and
runs `pxelab check` on it (pxelab.config.check, with that user's permissions). Any error
finding, or a line the reader cannot use, rejects it: the findings are logged one per line,
exactly as `pxelab check` prints them, and the running configuration stays in force. A
configuration that passes is swapped in between two packets: the proxy's reply policy and the
TFTP root are replaced, transfers in flight keep their open file and socket and finish.
Settings fixed by sockets bound at start (interfaces, addresses, ports, single-port TFTP,
turning TFTP on) are logged as needing a restart; the rest takes effect at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pxelab.config.check import Finding, check
from pxelab.config.dnsmasq import read_dnsmasq_conf
from pxelab.config.model import ConfigError, ServerConfig
from pxelab.config.tomlconf import read_toml

log = logging.getLogger("pxelab.serve")


@dataclass
class ConfigSource:
    """Where the configuration comes from, and the command-line settings laid over it."""

    path: str | Path
    kind: str = "dnsmasq"  # or "toml"
    overrides: Callable[[ServerConfig], None] | None = None

    def load(self) -> ServerConfig:
        cfg = read_toml(self.path) if self.kind == "toml" else read_dnsmasq_conf(self.path)
        if self.overrides is not None:
            self.overrides(cfg)
        return cfg


def validate(source: ConfigSource, user: str | None) -> tuple[ServerConfig | None, list[Finding]]:
    """The new configuration and its error findings, the same ones `pxelab check` prints
    (None and the findings when it cannot be used)."""
    path = Path(source.path)
    if not path.is_file():
        return None, [Finding("error", str(path), "configuration file does not exist (or "
                              "is not readable by the server's user)",
                              "restore the file the server was started with")]
    try:
        cfg = source.load()
    except ConfigError as exc:
        return None, [Finding("error", str(exc.source), exc.reason, "correct the line")]
    except OSError as exc:
        return None, [Finding("error", str(path), f"cannot read it: {exc.strerror or exc}",
                              "make it readable by the user the server runs as "
                              "(chmod a+r, or chgrp to the server's group)")]
    report = check(cfg, user=user)
    return (cfg if report.ok else None), report.errors


def _restart_notes(old: ServerConfig, new: ServerConfig) -> list[str]:
    notes = []
    if old.interfaces != new.interfaces:
        notes.append("interface")
    if old.listen_addresses != new.listen_addresses:
        notes.append("listen-address")
    if old.tftp.enabled != new.tftp.enabled:
        notes.append("enable-tftp")
    if old.tftp.port != new.tftp.port:
        notes.append("tftp port")
    if old.tftp.single_port != new.tftp.single_port:
        notes.append("tftp-single-port")
    if (old.http.port, old.http.listen) != (new.http.port, new.http.listen):
        notes.append("http port/listen")
    return notes


def apply(server: Any, new: ServerConfig) -> list[str]:
    """Put `new` in force in a running PxeServer; returns the settings that need a restart.

    Runs on the event loop's thread. The proxy's receiving threads read `policy` once per
    packet, so one attribute store switches them between two packets."""
    from pxelab.boot.policy import ProxyPolicy
    from pxelab.serve.containment import Root

    old: ServerConfig = server.cfg
    notes = _restart_notes(old, new)
    proxy = getattr(server, "proxy", None)
    if proxy is not None:
        resolve = proxy.policy.resolve
        proxy.cfg = new
        proxy.policy = ProxyPolicy(new, resolve)
        proxy.log_dhcp = new.log_dhcp
        proxy._log_on = None  # asked again at the next packet
    tftp = getattr(server, "tftp", None)
    if tftp is not None:
        if new.tftp.root is not None and Path(new.tftp.root) != Path(tftp.settings.root):
            tftp.root = Root(new.tftp.root, tftp.settings.max_name)
            tftp.settings = replace(tftp.settings, root=new.tftp.root)
        up, old_up = new.tftp.upload_dir, tftp.settings.upload_dir
        if (Path(up) if up else None) != (Path(old_up) if old_up else None):
            tftp.upload = Root(up, tftp.settings.max_name) if up else None
            tftp.settings = replace(tftp.settings, upload_dir=up)
        if new.tftp.no_blocksize != tftp.settings.no_blocksize:
            tftp.settings = replace(tftp.settings, no_blocksize=new.tftp.no_blocksize)
        if new.tftp.max_transfers and new.tftp.max_transfers != tftp.settings.max_transfers:
            tftp.settings = replace(tftp.settings, max_transfers=new.tftp.max_transfers)
        if new.tftp.mtu and new.tftp.mtu != tftp.settings.mtu:
            tftp.settings = replace(tftp.settings, mtu=new.tftp.mtu)
            tftp.max_blksize = min(tftp.settings.max_blksize, new.tftp.mtu - 32)
    http = getattr(server, "http", None)
    if http is not None:
        root = new.http.root or (tftp.settings.root if tftp is not None else new.tftp.root)
        if root is not None and Path(root) != Path(http.settings.root):
            http.set_root(root)
        secs = new.http.header_timeout
        if secs is not None and secs != http.settings.header_timeout:
            # connections accepted from now on get the new deadline
            http.settings = replace(http.settings, header_timeout=secs)
    server.cfg = new
    return notes


class Reloader:
    """SIGHUP's handler: re-read, check, swap or keep."""

    def __init__(self, server: Any, source: ConfigSource, *, user: str | None = None,
                 metrics: Any = None) -> None:
        self.server = server
        self.source = source
        self.user = user
        self.metrics = metrics
        self.generation = 0  # reloads applied

    def reload(self) -> bool:
        log.info("reloading %s", self.source.path)
        try:
            cfg, errors = validate(self.source, self.user)
        except Exception as exc:  # a reload must never take the server down
            log.exception("reload failed")
            cfg, errors = None, [Finding("error", str(self.source.path),
                                         f"{type(exc).__name__}: {exc}", "report this")]
        if cfg is None:
            for finding in errors:
                log.error("reload rejected: %s", finding)
            log.error("reload rejected: %s: %d error(s); the running configuration stays in "
                      "force", self.source.path, len(errors))
            self._count("rejected")
            return False
        for w in cfg.warnings:
            log.warning("warning: %s", w)
        notes = apply(self.server, cfg)
        self.generation += 1
        if notes:
            log.warning("reload: %s changed: takes effect after a restart", ", ".join(notes))
        log.info("reload applied: %s (configuration %d)", self.source.path, self.generation)
        self._count("applied")
        return True

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reloads.labels(result).inc()


async def serve_forever(server: Any, *, drop: Any = None, reloader: Reloader | None = None,
                        metrics: Any = None, metrics_address: str | None = None) -> int:
    """Start `server`, drop privileges, serve until SIGINT/SIGTERM; SIGHUP reloads.

    Order (as dnsmasq): every socket is bound (the metrics one too, should its port be below
    1024) while the bind capabilities are held, then the process becomes the user for good,
    before the first packet is read by anything running as root. TFTP worker processes are
    spawned when transfers first need them, so after the drop: they start as the user."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP before start: a reload signal never kills a starting server
    loop.add_signal_handler(signal.SIGHUP, _hup, reloader)
    http = None
    try:
        if drop is not None:
            drop.prepare()
        if metrics is not None and metrics_address:
            http = metrics.serve(metrics_address)
            host, port = http.server_address[:2]
            log.info("metrics on http://%s:%d/metrics", host, port)
        await server.start()
        if drop is not None:
            drop.finish()
            tftp = getattr(server, "tftp", None)
            warn_unreadable(tftp.root.shown if tftp is not None else None,
                            [Path(reloader.source.path), *server.cfg.files] if reloader else [],
                            upload_dir=tftp.upload.shown if tftp and tftp.upload else None)
        await stop.wait()
    finally:
        await server.stop()
        if http is not None:
            http.shutdown()
            http.server_close()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0


def warn_unreadable(tftp_root: str | Path | None, files: list[Path],
                    upload_dir: str | Path | None = None) -> None:
    """Said at start, once privileges are dropped, rather than at the first request or SIGHUP:
    this user must read the TFTP tree and the configuration files."""
    if tftp_root is not None and not os.access(tftp_root, os.R_OK | os.X_OK):
        log.error("TFTP root %s is not readable by this user (uid %d): every request will "
                  "fail; `pxelab check --user USER` names the directory to open",
                  tftp_root, os.getuid())
    if upload_dir is not None and not os.access(upload_dir, os.W_OK | os.X_OK):
        log.error("TFTP upload directory %s is not writable by this user (uid %d): every "
                  "write request will be refused", upload_dir, os.getuid())
    for path in dict.fromkeys(files):
        if not os.access(path, os.R_OK):
            log.warning("%s is not readable by this user (uid %d): a reload (SIGHUP) will be "
                        "refused until it is (chmod a+r %s)", path, os.getuid(), path)


def _current_user() -> str | None:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _hup(reloader: Reloader | None) -> None:
    if reloader is None:
        log.warning("SIGHUP: nothing to reload")
        return
    reloader.reload()


def run_daemon(source: ConfigSource, *, cfg: ServerConfig | None = None,
               user: str | None = None, group: str | None = None,
               metrics_address: str | None = None, events_path: str | None = None,
               **server_kwargs: Any) -> int:
    """`pxelab serve`'s whole life as a daemon (blocking): the configuration from `source`
    (or `cfg`, already read from it), a PxeServer with `server_kwargs`, privileges dropped to
    `user`/`group` when started as root (`user=None`: keep them, with a warning when that is
    root), metrics on `metrics_address`, SIGHUP reloads. Returns the exit status (2 for a bad
    user, group, address or file; 1 when it cannot listen or drop)."""
    from pxelab.serve.metrics import Metrics, MetricsEventLog
    from pxelab.serve.privileges import PrivilegeDrop, PrivilegeError
    from pxelab.serve.server import PxeServer

    drop = None
    try:
        if user is not None:
            drop = PrivilegeDrop.for_user(user, group)
        if metrics_address:
            from pxelab.serve.metrics import parse_address

            parse_address(metrics_address)
    except (PrivilegeError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    if user is None and os.geteuid() == 0:
        log.warning("running as root: give --user nobody (or another unprivileged user) to "
                    "drop privileges once the ports are bound")
    if cfg is None:
        try:
            cfg = source.load()
        except (ConfigError, OSError) as exc:
            log.error("%s", exc)
            return 2
        for w in cfg.warnings:
            log.warning("warning: %s", w)
    metrics = Metrics() if metrics_address else None

    async def main() -> int:
        events = MetricsEventLog(metrics, events_path) if metrics is not None else None
        if events is None:
            from pxelab.serve.events import EventLog

            events = EventLog(events_path)
        with events:
            server = PxeServer(cfg, events=events, **server_kwargs)
            if metrics is not None:
                metrics.watch_proxy(server.proxy)
                metrics.watch_tftp(server.tftp)
            # a reload is checked with the permissions of the user the server runs as
            reloader = Reloader(server, source, user=drop.user if drop else _current_user(),
                                metrics=metrics)
            try:
                return await serve_forever(server, drop=drop, reloader=reloader,
                                           metrics=metrics, metrics_address=metrics_address)
            except OSError as exc:
                log.error("cannot listen: %s", exc.strerror or exc)
                return 1
            except PrivilegeError as exc:
                log.error("%s", exc)
                return 1

    return asyncio.run(main())
