"""`pxelab serve`: the proxyDHCP and TFTP server, in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="pxelab configuration file")
    parser.add_argument("--dnsmasq-conf", metavar="FILE", help="read this dnsmasq configuration")
    parser.add_argument("--interface", metavar="IF", help="serve on this interface")
    parser.add_argument("--listen", metavar="ADDR", help="listen on this IPv4 address")
    parser.add_argument("--tftp-root", metavar="DIR", help="serve TFTP files from DIR")
    parser.add_argument("--tftp-port", metavar="PORT", type=_port, default=69,
                        help="TFTP port (default 69)")
    parser.add_argument("--no-proxy", action="store_true", help="do not run the proxyDHCP")
    parser.add_argument("--no-tftp", action="store_true", help="do not run the TFTP server")
    parser.add_argument("--log-dhcp", action="store_true", help="log every DHCP exchange")
    parser.add_argument("--events", metavar="FILE", help="append structured events (JSON lines)")
    parser.add_argument("--tftp-single-port", action="store_true",
                        help="run every TFTP transfer on the listening port (clients behind NAT)")
    parser.add_argument("--tftp-max-blksize", metavar="N", type=_blksize, default=65464,
                        help="largest TFTP block size offered (8..65464)")
    parser.add_argument("--tftp-max-transfers", metavar="N", type=_positive, default=256,
                        help="most TFTP transfers at once")


def _int_in(text: str, lo: int, hi: int, what: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{what} must be between {lo} and {hi}, not {value}")
    return value


def _port(text: str) -> int:
    return _int_in(text, 0, 65535, "port")


def _blksize(text: str) -> int:
    return _int_in(text, 8, 65464, "block size")


def _positive(text: str) -> int:
    return _int_in(text, 1, 1 << 20, "count")


def run(args: argparse.Namespace) -> int:
    if not args.no_proxy:
        print("pxelab serve: the proxyDHCP is not available yet; use --no-proxy", file=sys.stderr)
        return 2
    if args.no_tftp:
        print("pxelab serve: --no-proxy with --no-tftp leaves nothing to run", file=sys.stderr)
        return 2
    if not args.tftp_root:
        print("pxelab serve: --tftp-root DIR is required", file=sys.stderr)
        return 2
    import os

    if not os.path.isdir(args.tftp_root):
        print(f"pxelab serve: TFTP root {args.tftp_root} is not a directory", file=sys.stderr)
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
        max_transfers=args.tftp_max_transfers,
    )

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with EventLog(args.events) as events:
            server = TftpServer(settings, events)
            try:
                await server.start()
            except OSError as exc:
                print(f"pxelab serve: cannot listen on {settings.listen}:{settings.port}: "
                      f"{exc.strerror or exc}", file=sys.stderr)
                return 1
            logging.getLogger("pxelab.tftp").info(
                "listening on %s:%d", settings.listen, server.port)
            await stop.wait()
            await server.stop()
        return 0

    return asyncio.run(main())
