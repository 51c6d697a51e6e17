"""The command lines of the lab's service children: pxelab itself, and dnsmasq as the reference.

Both the scenario runner and the scripted clients start `pxelab` children in lab namespaces, and
the drills start dnsmasq; one definition keeps them the same process everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path


def pxelab_command() -> list[str]:
    """The pxelab command as this interpreter runs it (works in a venv and as root)."""
    return [sys.executable, "-m", "pxelab"]


def dnsmasq_command(conf: Path, pidfile: Path) -> list[str]:
    """dnsmasq in the foreground, logging to stderr (the lab's log file), no lease file."""
    return ["dnsmasq", "-C", str(conf), "-k", "--log-facility=-", "-9",
            f"--pid-file={pidfile}", "--user=root", "--group=root"]  # fmt: skip
