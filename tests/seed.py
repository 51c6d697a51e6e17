"""What the seed story (shared/seed/tinycore-proxydhcp.txt) shows, shared by the tests."""

from __future__ import annotations

from pathlib import Path

SEED = Path("/work/shared/seed/tinycore-proxydhcp.txt")

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
