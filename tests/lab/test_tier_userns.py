"""The `lab` tier run by a user is root only inside its own user namespace (issue 17).

`pytest --lab-userns` (what `nox -s tests` passes) runs the tests of an ordinary user inside a
user namespace of their own, where uid 0 is the user outside. This test is the check that the
tier did not silently become root of the host: from inside, what belongs to the host's root
stays out of reach, and the host's network and processes are not even visible.

Who started the tier: `PXELAB_TIER_UID` (set by the nox sessions), else the uid recorded by
the namespace entry itself. Started by root, there is nothing to prove and the test skips.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pxelab.lab.network import userns
from tests.conftest import require_tool

pytestmark = pytest.mark.lab

TIER_UID_ENV = "PXELAB_TIER_UID"


def _started_by() -> int | None:
    value = os.environ.get(TIER_UID_ENV)
    return int(value) if value else userns.outside_uid()


def test_a_user_tier_is_root_only_inside_its_namespace(tmp_path: Path) -> None:
    uid = _started_by()
    if not uid:
        pytest.skip("this tier was started by root: it may be root of the host")
    # Root here (the lab tests need it), but not the host's root: one uid mapped, the user's.
    assert os.geteuid() == 0
    assert not userns.host_root(), "a user's lab tier runs as root of the host"
    assert userns.outside_uid() == uid
    assert Path("/proc/self/uid_map").read_text().split() == ["0", str(uid), "1"]
    # What only the host's root may read or write stays closed ...
    for secret in ("/etc/shadow", "/root"):
        if Path(secret).exists():
            with pytest.raises(PermissionError):
                if Path(secret).is_dir():
                    os.listdir(secret)
                else:
                    Path(secret).read_bytes()
    with pytest.raises(PermissionError):
        Path("/etc/pxelab-tier-probe").write_text("")
    # ... no other uid exists to become or to give a file to ...
    mine = tmp_path / "f"
    mine.write_text("")
    with pytest.raises(OSError):
        os.chown(mine, 1, 1)
    # ... and the host's interfaces and processes are not there at all: the network namespace
    # holds only its loopback, the pid namespace starts at the tier's own init.
    links = subprocess.run([require_tool("ip"), "-o", "link", "show"], capture_output=True,
                           text=True, check=True).stdout.splitlines()  # fmt: skip
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
    init = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    assert b"pxelab.lab.network.userns" in init and b"--inside" in init
