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
        "--user",
        help="the user the TFTP server drops to, whose permissions the tree needs (default: "
        "the configuration's user= line, else nobody, dnsmasq's default)",
    )


def _load(args: argparse.Namespace):
    from pathlib import Path

    path = Path(args.config or args.dnsmasq_conf)
    if args.config:
        from pxelab.config.tomlconf import read_toml

        return path, read_toml(path)
    from pxelab.config.dnsmasq import read_dnsmasq_conf

    return path, read_dnsmasq_conf(path)


def run(args: argparse.Namespace) -> int:
    from pxelab.boot.pxelinux import uuid_bytes
    from pxelab.config.check import ClientIdentity, Finding, Report, check, client_chain
    from pxelab.config.model import ConfigError

    path = args.config or args.dnsmasq_conf
    out = sys.stdout
    report = Report()
    identity = None
    if any(v is not None for v in (args.mac, args.arch, args.ip, args.uuid)):
        try:
            if args.uuid is not None:
                uuid_bytes(args.uuid)
            identity = ClientIdentity(mac=args.mac, arch=args.arch or 0, ip=args.ip, uuid=args.uuid)
            if args.mac is not None:
                from pxelab.boot.pxelinux import mac_name

                mac_name(args.mac)
        except ValueError as exc:
            print(f"pxelab check: error: {exc}", file=sys.stderr)
            return 2
    from pathlib import Path

    if not Path(path).is_file():
        report.findings.append(Finding(
            "error", str(path),
            "configuration file does not exist (`dnsmasq --test` says 'syntax check OK' even so)",
            "give the path of the file the server will read (dnsmasq: /etc/dnsmasq.conf)",
        ))
    else:
        try:
            _, cfg = _load(args)
        except ConfigError as exc:
            report.findings.append(Finding("error", str(exc.source), exc.reason,
                                           "correct the line"))
        except ImportError:
            report.findings.append(Finding("error", str(path), "TOML configurations cannot be "
                                           "read by this build", "use --dnsmasq-conf"))
        else:
            report = check(cfg, user=args.user)
            if identity is not None:
                report.chain = client_chain(cfg, identity, report)
    for finding in report.findings:
        print(finding, file=out)
    if report.chain:
        print("client chain:", file=out)
        for line in report.chain:
            print(f"  {line}", file=out)
    n_err, n_warn = len(report.errors), len(report.warnings)
    if n_err:
        print(f"{path}: {n_err} error(s), {n_warn} warning(s): clients will not boot", file=out)
        return 1
    print(f"OK: {path}: " + "; ".join(report.summary)
          + (f"; {n_warn} warning(s)" if n_warn else ""), file=out)
    return 0
