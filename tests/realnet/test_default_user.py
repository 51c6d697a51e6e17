"""`pxelab serve` started as root drops to `nobody` unless told otherwise, as dnsmasq does."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pxelab.serve.launch import _user
from pxelab.serve.privileges import status_ids


def test_user_default_is_nobody_and_root_keeps_root() -> None:
    assert _user(None) == "nobody"
    assert _user("nobody") == "nobody"
    assert _user("root") is None
    assert _user("0") is None
    assert _user("no-such-user-here") == "no-such-user-here"  # refused later, by name


@pytest.mark.root(reason="drops to `nobody`, a uid no one-uid user namespace has")
def test_serve_without_user_runs_as_nobody() -> None:
    root = Path(tempfile.mkdtemp(prefix="pxelab-user-"))
    try:
        root.chmod(0o755)
        (root / "f").write_bytes(b"x" * 1000)
        (root / "f").chmod(0o644)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pxelab", "serve", "--no-proxy", "--tftp-root", str(root),
             "--listen", "127.0.0.1", "--tftp-port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + 20
            uid: tuple[int, ...] = ()
            while time.monotonic() < deadline and proc.poll() is None:
                uid, _gid, _cap = status_ids(proc.pid)
                if uid and uid[0] != 0:
                    break
                time.sleep(0.1)
            assert proc.poll() is None, proc.communicate()[0]
            assert uid == (65534,) * 4, uid
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
    finally:
        shutil.rmtree(root)
