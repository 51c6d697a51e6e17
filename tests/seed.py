"""What the seed story (shared/seed/tinycore-proxydhcp.txt) shows, shared by the tests."""

from __future__ import annotations

import re
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# The seed story beside the checkout (CI's clone has ../shared next to it), then this lab's copy.
SEED_CANDIDATES = (
    _REPO.parent / "shared" / "seed" / "tinycore-proxydhcp.txt",
    Path("/work/shared/seed/tinycore-proxydhcp.txt"),
)
SEED = next((p for p in SEED_CANDIDATES if p.is_file()), SEED_CANDIDATES[0])
# Its dnsmasq-tftp log lines, committed, for a clone with no shared/ at all: never a skip.
SEED_LOG_COPY = _REPO / "tests" / "boot" / "data" / "seed-tftp-log.txt"
_TFTP_LINE = re.compile(r"^dnsmasq-tftp: .*$", re.M)
_NAME = re.compile(r"dnsmasq-tftp: (?:file|sent) /home/tftpboot/(\S+)")


def seed_tftp_log() -> tuple[Path, list[str]]:
    """(source, its dnsmasq-tftp lines): the seed when found, else the committed copy."""
    src = SEED if SEED.is_file() else SEED_LOG_COPY
    return src, _TFTP_LINE.findall(src.read_text())


def logged_names(lines: list[str]) -> list[str]:
    """The files the seed's TFTP log shows requested, in order."""
    return [m.group(1) for line in lines if (m := _NAME.match(line))]


# The Wyse Sx0 of the seed.
WYSE_MAC = "00:80:64:71:ab:0a"
WYSE_IP = "192.168.10.21"
WYSE_UUID = "597c5400-922f-11db-9fff-008064667faa"

# PXELINUX's configuration search for it, in the order the seed's TFTP log shows
# (tftp-root=/home/tftpboot). Tests also compare this list with the seed's own log.
SEED_SEARCH = [
    "pxelinux.cfg/597c5400-922f-11db-9fff-008064667faa",
    "pxelinux.cfg/01-00-80-64-71-ab-0a",
    "pxelinux.cfg/C0A80A15",
    "pxelinux.cfg/C0A80A1",
    "pxelinux.cfg/C0A80A",
    "pxelinux.cfg/C0A80",
    "pxelinux.cfg/C0A8",
    "pxelinux.cfg/C0A",
    "pxelinux.cfg/C0",
    "pxelinux.cfg/C",
    "pxelinux.cfg/default",
]
