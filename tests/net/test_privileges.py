"""check_privileges(): one sentence naming what is missing (no root needed to check the words)."""

from __future__ import annotations

import pxelab.lab.network.topology as net


def test_not_root_without_cap_net_admin(monkeypatch):
    monkeypatch.setattr(net.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(net, "_cap_eff", lambda: 0)
    monkeypatch.setattr(net, "_userns_allowed", lambda: True)
    msg = net.check_privileges()
    assert msg is not None and "not root and no CAP_NET_ADMIN" in msg and "unshare" in msg


def test_not_root_and_no_user_namespaces(monkeypatch):
    monkeypatch.setattr(net.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(net, "_cap_eff", lambda: 0)
    monkeypatch.setattr(net, "_userns_allowed", lambda: False)
    msg = net.check_privileges()
    assert msg is not None and "unprivileged user namespaces are not allowed" in msg


def test_missing_tun(monkeypatch):
    monkeypatch.setattr(net.os, "geteuid", lambda: 0)
    monkeypatch.setattr(net, "_cap_eff", lambda: (1 << 12) | (1 << 21))
    real_access = net.os.access
    monkeypatch.setattr(net.os, "access",
                        lambda p, m: False if str(p) == "/dev/net/tun" else real_access(p, m))
    msg = net.check_privileges()
    assert msg == "/dev/net/tun is not accessible: taps for VMs cannot be created"
