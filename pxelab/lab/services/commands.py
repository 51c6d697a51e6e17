"""The command lines of the lab's service children: pxelab itself, and dnsmasq as the reference.

Both the scenario runner and the scripted clients start `pxelab` children in lab namespaces, and
the drills start dnsmasq; one definition keeps them the same process everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pxelab.lab.network.userns import single_uid


def pxelab_command() -> list[str]:
    """The pxelab command as this interpreter runs it (works in a venv and as root)."""
    return [sys.executable, "-m", "pxelab"]


def dnsmasq_command(conf: Path, pidfile: Path) -> list[str]:
    """dnsmasq in the foreground, logging to stderr (the lab's log file), no lease file."""
    # In the lab's own user namespace only uid 0 is mapped and setgroups() is denied: an empty
    # --group makes dnsmasq skip the group change, which otherwise fails ("failed to change
    # group-id to root: Operation not permitted"). --user=root: no uid change either way.
    group = "--group=" if single_uid() else "--group=root"
    return ["dnsmasq", "-C", str(conf), "-k", "--log-facility=-", "-9",
            f"--pid-file={pidfile}", "--user=root", group]  # fmt: skip
