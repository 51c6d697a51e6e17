"""`pxelab check`: the whole boot chain checked before a client tries it (see pxelab.config.check).

Exit status: 0 when nothing would stop a client (warnings may be printed), 1 with one line per
finding otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", metavar="FILE.toml", help="pxelab TOML configuration")
    src.add_argument("--dnsmasq-conf", metavar="FILE", help="a dnsmasq configuration, as it is")
    who = parser.add_argument_group("client identity (prints the chain this client walks)")
    who.add_argument("--mac", help="client hardware address, e.g. 00:80:64:71:ab:0a")
    who.add_argument("--arch", type=int, help="client architecture, option 93 (0 BIOS, 7 x64 UEFI)")
    who.add_argument("--ip", help="the address the client's DHCP server gives it")
    who.add_argument("--uuid", help="option 97 UUID as the client sends it (8-4-4-4-12)")
    parser.add_argument(
        "--secure-boot",
        action="store_true",
        help="clients run UEFI Secure Boot: warn about NBPs without an Authenticode signature "
        "(as the TOML configuration's secure_boot = true)",
    )
    parser.add_argument(
        "--probe-urls", action="store_true",
        help="ask each URL boot file's server for it (HEAD and GET, no redirect followed): an "
        "HTTP Boot URL that redirects or has no Content-Length is an error",
    )
    parser.add_argument(
        "--user",
        help="the user the TFTP server drops to, whose permissions the tree needs (default: "
        "the configuration's user= line, else nobody, dnsmasq's default)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pxelab.config.check_file import check_file, identity

    try:
        who = identity(args.mac, args.arch, args.ip, args.uuid)
    except ValueError as exc:
        print(f"pxelab check: error: {exc}", file=sys.stderr)
        return 2
    return check_file(Path(args.config or args.dnsmasq_conf), toml=bool(args.config),
                      user=args.user, who=who, secure_boot=args.secure_boot,
                      probe=args.probe_urls)
