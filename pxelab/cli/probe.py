"""`pxelab probe`: walk the PXE boot chain on an interface as a PXE ROM would, report each link.

Needs root or CAP_NET_RAW (raw DHCP from 0.0.0.0) and CAP_NET_ADMIN when the interface has no
IPv4 address (the leased one is put on it for port 4011 and TFTP, and taken off afterwards).
Exit status: 0 when the chain reaches a PXELINUX menu, a booted file or a local-boot menu item;
1 with the broken link named otherwise; 2 for bad arguments.

`--json` prints one object; the lab's scenario runner reads it, so its keys are stable (full
list with every field in pxelab.client.report):

    ok, failure {link, message} | null, reached ("menu" | "kernel" | "boot-file" | "local-boot")
    offers [{server, kind "dhcp"|"proxy", yiaddr, file, options, ...}]
    address, boot_file, boot_server, boot_path, boot_reply
    tftp [{file, found, bytes, tsize, ...}], tftp_probe
    pxelinux {search [{path, found}], includes, modules, selected}
    menu {title, entries [{label, text, hidden, ...}], default}, menu_at, elapsed
    timeline [{t, phase, event}]
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interface", "-i", help="interface to probe on (required)")
    parser.add_argument("--mac", help="client MAC (default: the interface's)")
    parser.add_argument("--arch", type=int, help="option 93 architecture (default: profile's)")
    parser.add_argument("--uuid", help="option 97 UUID, 8-4-4-4-12, in wire order")
    parser.add_argument("--profile", default="pxe-2.0-rom",
                        help="client quirk profile name or .toml path (default: pxe-2.0-rom)")
    parser.add_argument("--select", metavar="LABEL",
                        help="boot this PXELINUX label: fetch its kernel and initrds")
    parser.add_argument("--pxe-item", type=int, default=1, metavar="N",
                        help="PXE menu item to take (1-based; the ROM's default is the first)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="give up on DHCP and port 4011 after S seconds (default 60)")
    parser.add_argument("--offer-wait", type=float, metavar="S",
                        help="seconds to keep collecting offers after the first "
                             "(default: the profile's)")
    parser.add_argument("--until-complete", action="store_true", default=None,
                        help="stop collecting offers once an address offer and a proxy offer "
                             "are in (as iPXE does), whatever the profile says")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list-profiles", action="store_true",
                        help="list the shipped profiles and exit")


def run(args: argparse.Namespace) -> int:
    from pxelab.client import profile as profiles
    from pxelab.client import report
    from pxelab.client.walk import WalkOptions, walk

    if args.list_profiles:
        for name in profiles.available():
            first = profiles.load(name).description.strip().splitlines()
            print(f"{name:<20} {first[0] if first else ''}")
        return 0
    if not args.interface:
        print("pxelab probe: error: --interface is required", file=sys.stderr)
        return 2
    try:
        prof = profiles.load(args.profile)
    except profiles.ProfileError as exc:
        print(f"pxelab probe: {exc}", file=sys.stderr)
        return 2
    try:
        result = walk(WalkOptions(interface=args.interface, profile=prof, mac=args.mac,
                                  arch=args.arch, uuid=args.uuid, select=args.select,
                                  timeout=args.timeout, offer_wait=args.offer_wait,
                                  until_complete=args.until_complete,
                                  pxe_item=args.pxe_item))
    except PermissionError as exc:
        print(f"pxelab probe: {exc}: needs root or CAP_NET_RAW (and CAP_NET_ADMIN)",
              file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"pxelab probe: {args.interface}: {exc}", file=sys.stderr)
        return 2
    data = result.to_json()
    print(report.to_json(data) if args.json else report.to_text(data))
    return 0 if result.ok else 1
