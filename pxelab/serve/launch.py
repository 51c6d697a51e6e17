"""What `pxelab serve` starts from its options: the configuration read and the command line laid
over it (at start and on every SIGHUP), then the proxy daemon, or TFTP alone with --no-proxy.

The command module only declares the options; this is where they take effect, so the checks
on them (a missing root, an upload dir that is not there) are tested without the parser.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys


def load_config(args: argparse.Namespace):
    """The ServerConfig of --config/--dnsmasq-conf; warnings go to stderr, one per line."""
    from pxelab.config.dnsmasq import read_dnsmasq_conf
    from pxelab.config.tomlconf import read_toml

    cfg = read_toml(args.config) if args.config else read_dnsmasq_conf(args.dnsmasq_conf)
    for w in cfg.warnings:
        print(f"pxelab serve: warning: {w}", file=sys.stderr)
    return cfg


def _run_proxy(args: argparse.Namespace) -> int:
    if bool(args.config) == bool(args.dnsmasq_conf):
        print("pxelab serve: give one of --config FILE.toml or --dnsmasq-conf FILE "
              "(or --no-proxy for TFTP alone)", file=sys.stderr)
        return 2
    import logging

    from pxelab.config.model import ConfigError

    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"pxelab serve: {exc}", file=sys.stderr)
        return 2
    if _bad_upload_dir(args):
        return 2
    _overrides(args, cfg)
    root = args.tftp_root or (str(cfg.tftp.root) if cfg.tftp.root else None)
    tftp_on = not args.no_tftp and (cfg.tftp.enabled or bool(args.tftp_root))
    if tftp_on and (root is None or not os.path.isdir(root)):
        where = cfg.source_of("tftp.root")
        print(f"pxelab serve: {where}: TFTP root {root} is not a directory", file=sys.stderr)
        return 2
    if cfg.http.port is not None and cfg.http.root is None and (
            root is None or not os.path.isdir(root)):
        print("pxelab serve: HTTP needs a root: give [http] root, [tftp] root or --tftp-root",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    _prefix_dhcp_log()
    from pxelab.serve.reload import ConfigSource, run_daemon

    # SIGHUP reads the file again; the command line's settings are laid over it each time
    source = ConfigSource(args.config or args.dnsmasq_conf, "toml" if args.config else "dnsmasq",
                          lambda new: _overrides(args, new))
    return run_daemon(source, cfg=cfg, user=_user(args.user), group=args.group,
                      metrics_address=args.metrics, events_path=args.events,
                      interface=args.interface, listen=args.listen, tftp_root=args.tftp_root,
                      tftp=tftp_on, log_dhcp=cfg.log_dhcp, dhcp_port=args.dhcp_port,
                      pxe_port=args.pxe_port, tftp_max_blksize=args.tftp_max_blksize,
                      tftp_busy_poll_us=args.tftp_busy_poll)


def _overrides(args: argparse.Namespace, cfg) -> None:
    """What the command line sets over the configuration file (at start and every reload)."""
    if args.tftp_root:  # a reload must not move the tree back to the file's tftp-root
        from pathlib import Path

        cfg.tftp.root = Path(args.tftp_root)
    if args.log_dhcp:
        cfg.log_dhcp = True
    if args.tftp_single_port:
        cfg.tftp.single_port = True
    if args.tftp_max_transfers != 256:
        cfg.tftp.max_transfers = args.tftp_max_transfers
    if args.tftp_port != 69:
        cfg.tftp.port = args.tftp_port
    if args.http_port is not None:
        cfg.http.port = args.http_port
    if args.tftp_upload_dir:
        from pathlib import Path

        cfg.tftp.upload_dir = Path(args.tftp_upload_dir)


def _bad_upload_dir(args: argparse.Namespace) -> bool:
    """--tftp-upload-dir must name a directory: said once, on one line, before anything runs."""
    up = args.tftp_upload_dir
    if up is None or os.path.isdir(up):
        return False
    what = "is not a directory" if os.path.exists(up) else "does not exist"
    print(f"pxelab serve: --tftp-upload-dir: upload directory {up} {what}", file=sys.stderr)
    return True


def _prefix_dhcp_log() -> None:
    """dnsmasq's log line shape: '<program>-dhcp: <text>' (the seed's reader knows it)."""
    import logging

    for name, prefix in (("pxelab.proxydhcp", "pxelab-dhcp"), ("pxelab.tftp", "pxelab-tftp"),
                         ("pxelab.http", "pxelab-http"),
                         ("pxelab.serve", "pxelab")):
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def serve(args: argparse.Namespace) -> int:
    """Run what the options ask for until SIGINT/SIGTERM; the exit status."""
    if not args.no_proxy:
        return _run_proxy(args)
    if args.no_tftp:
        print("pxelab serve: --no-proxy with --no-tftp leaves nothing to run", file=sys.stderr)
        return 2
    if not args.tftp_root:
        print("pxelab serve: --tftp-root DIR is required", file=sys.stderr)
        return 2
    if not os.path.isdir(args.tftp_root):
        print(f"pxelab serve: TFTP root {args.tftp_root} is not a directory", file=sys.stderr)
        return 2
    if _bad_upload_dir(args):
        return 2
    import asyncio
    import logging
    import signal

    from pxelab.serve.events import EventLog
    from pxelab.serve.tftp import TftpServer, TftpSettings

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    settings = TftpSettings(
        root=args.tftp_root,
        listen=args.listen or "0.0.0.0",
        port=args.tftp_port,
        interface=args.interface,
        single_port=args.tftp_single_port,
        max_blksize=args.tftp_max_blksize,
        busy_poll_us=50 if args.tftp_busy_poll is None else args.tftp_busy_poll,
        max_transfers=args.tftp_max_transfers,
        upload_dir=args.tftp_upload_dir,
    )

    from pxelab.serve.metrics import Metrics, MetricsEventLog, parse_address
    from pxelab.serve.privileges import PrivilegeDrop, PrivilegeError
    from pxelab.serve.reload import warn_unreadable

    try:
        user = _user(args.user)
        drop = PrivilegeDrop.for_user(user, args.group) if user else None
        if args.metrics:
            parse_address(args.metrics)
    except (PrivilegeError, ValueError) as exc:
        print(f"pxelab serve: {exc}", file=sys.stderr)
        return 2
    metrics = Metrics() if args.metrics else None

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # no configuration to read again: SIGHUP (systemctl reload) must not end the server
        loop.add_signal_handler(signal.SIGHUP, logging.getLogger("pxelab.tftp").info,
                                "SIGHUP: nothing to reload (TFTP alone)")
        events = MetricsEventLog(metrics, args.events) if metrics else EventLog(args.events)
        with events:
            server = TftpServer(settings, events)
            web = None
            if args.http_port is not None:
                from pxelab.serve.http import HttpServer, HttpSettings

                web = HttpServer(HttpSettings(root=args.tftp_root, listen=settings.listen,
                                              port=args.http_port), events)
            if metrics is not None:
                metrics.watch_tftp(server)
            http = None
            try:
                if drop is not None:
                    drop.prepare()
                if metrics is not None:
                    http = metrics.serve(args.metrics)
                await server.start()
                if web is not None:
                    try:
                        await web.start()
                    except OSError:
                        await server.stop()
                        raise
                if drop is not None:
                    drop.finish()
                    warn_unreadable(args.tftp_root, [], upload_dir=args.tftp_upload_dir)
            except (OSError, PrivilegeError) as exc:
                print(f"pxelab serve: cannot listen on {settings.listen}:{settings.port}: "
                      f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
                if http is not None:
                    http.shutdown()
                await server.stop()  # nothing to stop when it did not start
                return 1
            logging.getLogger("pxelab.tftp").info(
                "listening on %s:%d", settings.listen, server.port)
            await stop.wait()
            if web is not None:
                await web.stop()
            await server.stop()
            if http is not None:
                http.shutdown()
        return 0

    return asyncio.run(main())


def _user(user: str | None) -> str | None:
    """The user to drop to: `nobody` unless told; None (keep root) for `--user root`, as
    dnsmasq's `-u root`. An unknown name is passed on for PrivilegeDrop to refuse clearly."""
    name = "nobody" if user is None else user
    try:
        uid = int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid
    except KeyError:
        return name
    return None if uid == 0 else name
