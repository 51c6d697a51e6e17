"""`pxelab serve` with issue 10's flags (--user, --group, --metrics), until pxelab/cli/serve.py
carries them: the same argument parser plus those three, and pxelab.serve.reload.run_daemon,
which is what the command is to call. Run as `python -m tests.realnet.serve_cmd ARGS`."""

from __future__ import annotations

import argparse
import logging
import sys

from pxelab.cli import serve as cli_serve
from pxelab.serve.reload import ConfigSource, run_daemon


def daemon_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="nobody",
                        help="drop to this user after binding (default nobody)")
    parser.add_argument("--group", help="and this group (default: the user's group)")
    parser.add_argument("--metrics", metavar="ADDR:PORT",
                        help="serve Prometheus metrics on ADDR:PORT")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pxelab serve")
    cli_serve.configure(parser)
    daemon_flags(parser)
    args = parser.parse_args(argv)

    def overrides(cfg):  # the command line wins over every reload
        if args.log_dhcp:
            cfg.log_dhcp = True
        if args.tftp_single_port:
            cfg.tftp.single_port = True
        if args.tftp_port != 69:
            cfg.tftp.port = args.tftp_port

    source = ConfigSource(args.config or args.dnsmasq_conf,
                          "toml" if args.config else "dnsmasq", overrides)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    cli_serve._prefix_dhcp_log()
    return run_daemon(source, user=args.user, group=args.group, metrics_address=args.metrics,
                      events_path=args.events, interface=args.interface, listen=args.listen,
                      tftp_root=args.tftp_root, tftp=not args.no_tftp,
                      dhcp_port=args.dhcp_port, pxe_port=args.pxe_port)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
