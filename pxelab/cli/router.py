"""`pxelab router`: the simulated home router (DHCP without PXE, IPv6 router advertisements).

    pxelab router --interface eth0 --address 192.168.10.1/24 \\
        --pool 192.168.10.100-192.168.10.150 --static 00:80:64:71:ab:0a=192.168.10.21

Runs in the foreground until SIGTERM or SIGINT (exit 0). Bind it only to an interface of a lab
namespace, never to a real network's.
"""

from __future__ import annotations

import argparse
import logging
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interface", "-i", required=True, metavar="IF",
                        help="interface to serve (bound with SO_BINDTODEVICE)")
    parser.add_argument("--address", required=True, metavar="IP/PREFIX",
                        help="the router's address and subnet, e.g. 192.168.10.1/24")
    parser.add_argument("--pool", metavar="FIRST-LAST",
                        help="dynamic range (default: .100 to .199 of the subnet)")
    parser.add_argument("--static", action="append", default=[], metavar="MAC=IP",
                        help="a static lease (repeatable)")
    parser.add_argument("--gateway", metavar="IP", help="option 3 (default: the router)")
    parser.add_argument("--dns", action="append", metavar="IP",
                        help="option 6, repeatable (default: the router)")
    parser.add_argument("--domain", metavar="NAME", help="option 15")
    parser.add_argument("--lease-time", type=int, default=43200, metavar="S",
                        help="lease time in seconds (default 43200)")
    parser.add_argument("--no-ra", action="store_true", help="send no IPv6 router advertisements")
    parser.add_argument("--ra-prefix", default="fd00:10::/64", metavar="PREFIX",
                        help="prefix advertised for SLAAC (default fd00:10::/64)")
    parser.add_argument("--ra-interval", type=float, default=4.0, metavar="S",
                        help="seconds between unsolicited advertisements (default 4)")
    parser.add_argument("--events", metavar="FILE", help="append JSON-lines events here")
    parser.add_argument("--lease-file", metavar="FILE", help="keep the lease table in this file")
    parser.add_argument("--quirk", action="append", default=[], metavar="NAME",
                        help="switch on a broken-router behaviour (repeatable; "
                        "--quirk list shows them)")
    parser.add_argument("--reply-delay", type=float, default=0.0, metavar="S",
                        help="wait S seconds before every reply")
    parser.add_argument("--next-server", metavar="IP",
                        help="siaddr of every reply, as OpenWrt's/pfSense's next-server")
    parser.add_argument("--boot-file", metavar="NAME",
                        help="the file field of every reply (and option 67 when asked for)")
    parser.add_argument("--port", type=int, default=67, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every decision")


def run(args: argparse.Namespace) -> int:
    from pxelab.serve import router

    if "list" in args.quirk:
        print("\n".join(f"{name:20} {text}" for name, text in router.QUIRKS.items()))
        return 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = router.validated(router.RouterSettings(
            interface=args.interface, address=args.address, pool=router.parse_pool(args.pool),
            static=router.parse_static(args.static), gateway=args.gateway, dns=args.dns,
            domain=args.domain, lease_time=args.lease_time, ra=not args.no_ra,
            ra_prefix=args.ra_prefix, ra_interval=args.ra_interval, lease_file=args.lease_file,
            quirks=set(args.quirk), reply_delay=args.reply_delay, port=args.port,
            next_server=args.next_server, boot_file=args.boot_file,
        ))  # fmt: skip
    except ValueError as exc:
        print(f"pxelab router: {exc}", file=sys.stderr)
        return 2
    try:
        return router.run_router(settings, args.events)
    except OSError as exc:
        print(f"pxelab router: {args.interface}: {exc}", file=sys.stderr)
        return 1
