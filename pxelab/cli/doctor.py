"""`pxelab doctor [--install]`."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--install", action="store_true", help="install missing packages with apt-get (root only)"
    )


def run(args: argparse.Namespace) -> int:
    from pxelab import doctor

    return doctor.report(install=args.install)
