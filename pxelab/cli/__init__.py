"""The `pxelab` command: one sub-command per module in this package.

Each sub-command module defines `configure(parser)` (its arguments) and `run(args) -> int`.
Modules keep heavy imports inside `run`, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from pxelab import __version__

# name -> (module, one-line help). Later capabilities add their line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("pxelab.cli.doctor", "report (and install) the system packages the lab needs"),
    "serve": ("pxelab.cli.serve", "run the proxyDHCP and TFTP server"),
    "check": ("pxelab.cli.check", "check a configuration and the whole boot chain before booting"),
    "router": ("pxelab.cli.router", "run the simulated home router (DHCP without PXE, IPv6 RA)"),
    "probe": ("pxelab.cli.probe", "walk the PXE boot chain on an interface and report each link"),
    "lab": ("pxelab.cli.lab", "run lab scenarios, or clean up what a killed run left"),
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments: exit 2 with a one-line reason (argparse's usage block is noise in logs)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = _Parser(prog="pxelab", description="proxyDHCP + TFTP server and virtual PXE lab")
    parser.add_argument("--version", action="version", version=f"pxelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules: dict[str, object] = {}
    for name, (module_name, help_) in _available().items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_, description=help_)
        module.configure(p)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
