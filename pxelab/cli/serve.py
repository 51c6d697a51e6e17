"""`pxelab serve`: the proxyDHCP and TFTP server, in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="pxelab configuration file")
    parser.add_argument("--dnsmasq-conf", metavar="FILE", help="read this dnsmasq configuration")
    parser.add_argument("--interface", metavar="IF", help="serve on this interface")
    parser.add_argument("--listen", metavar="ADDR", help="listen on this IPv4 address")
    parser.add_argument("--tftp-root", metavar="DIR", help="serve TFTP files from DIR")
    parser.add_argument("--tftp-port", metavar="PORT", type=_port, default=69,
                        help="TFTP port (default 69)")
    parser.add_argument("--http-port", metavar="PORT", type=_port, default=None,
                        help="serve boot files over HTTP on PORT (off by default; TOML "
                        "[http] port), from the TFTP root unless [http] root names another")
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
    parser.add_argument("--tftp-upload-dir", metavar="DIR",
                        help="accept TFTP write requests into DIR (new files only; without "
                        "it every write request is refused)")
    parser.add_argument("--tftp-busy-poll", metavar="USEC", type=_busy_poll, default=None,
                        help="busy poll up to USEC microseconds for the next ACK of a lone "
                        "lockstep TFTP transfer (TOML [tftp] busy_poll_us; default 50; 0 turns "
                        "it off); it only happens on links that answer that fast")
    parser.add_argument("--user", metavar="USER",
                        help="once the ports are bound, run as USER (default: nobody, as "
                        "dnsmasq; root keeps root); the TFTP tree and the configuration must "
                        "be readable by USER")
    parser.add_argument("--group", metavar="GROUP",
                        help="with --user: run as GROUP (default: USER's own group)")
    parser.add_argument("--metrics", metavar="ADDR:PORT",
                        help="serve Prometheus metrics at http://ADDR:PORT/metrics")
    parser.add_argument("--dhcp-port", metavar="PORT", type=_port, default=67,
                        help=argparse.SUPPRESS)  # tests: the proxy on another port
    parser.add_argument("--pxe-port", metavar="PORT", type=_port, default=4011,
                        help=argparse.SUPPRESS)


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


def _busy_poll(text: str) -> int:
    return _int_in(text, 0, 10000, "busy poll")


def _blksize(text: str) -> int:
    return _int_in(text, 8, 65464, "block size")


def _positive(text: str) -> int:
    return _int_in(text, 1, 1 << 20, "count")


def run(args: argparse.Namespace) -> int:
    from pxelab.serve.launch import serve

    return serve(args)
