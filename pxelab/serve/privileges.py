"""Least privilege for `pxelab serve`: bind as root, serve as an unprivileged user.

dnsmasq's way, in two steps around the server's start:

    drop = PrivilegeDrop.for_user("nobody", None)   # group: the user's own group
    drop.prepare()        # before binding: groups/gid final, euid = the user, only the
                          # bind capabilities effective; no packet is ever read as uid 0
    await server.start()  # binds 67, 4011, 69 (CAP_NET_BIND_SERVICE), starts its threads
    drop.finish()         # real, effective and saved uid = the user: every capability is
                          # gone, in every thread (glibc runs setresuid on all of them)

Why the split: the server starts its receiving threads while it binds, and capabilities are
per thread, so dropping them after the start from the main thread alone would leave the
threads privileged. An euid that is already the user's, with the real and saved uid still 0,
keeps only the permitted set for the bind; the final setresuid clears it everywhere (the
kernel clears all capabilities when no uid is 0 any more).

Not started as root (e.g. systemd's User= with AmbientCapabilities=): nothing to change;
`finish()` clears the ambient and effective capabilities of the calling thread and says so.
TFTP worker processes are spawned later by the dropped process, so they run as the user too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import grp
import logging
import os
import pwd
from dataclasses import dataclass

log = logging.getLogger("pxelab.serve")

CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_RAW = 13
# What binding needs: ports < 1024; SO_BINDTODEVICE needed CAP_NET_RAW before Linux 5.7.
BIND_CAPS = (CAP_NET_BIND_SERVICE, CAP_NET_RAW)

_PR_SET_KEEPCAPS = 8
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522


class PrivilegeError(RuntimeError):
    """The user or group does not exist, or the drop did not take."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _capget() -> tuple[int, int]:
    """(effective, permitted) of the calling thread, as 64-bit masks."""
    hdr = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc().capget(ctypes.byref(hdr), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    return eff, perm


def _capset(effective: int, permitted: int) -> None:
    """Set the calling thread's capabilities (inheritable: none)."""
    hdr = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective, data[1].effective = effective & 0xFFFFFFFF, effective >> 32
    data[0].permitted, data[1].permitted = permitted & 0xFFFFFFFF, permitted >> 32
    if _libc().capset(ctypes.byref(hdr), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _prctl(option: int, arg: int = 0, arg3: int = 0) -> int:
    return _libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                         ctypes.c_ulong(0))


def _mask(caps: tuple[int, ...]) -> int:
    m = 0
    for c in caps:
        m |= 1 << c
    return m


# Modules a server may import lazily after the drop. Python itself may live where the user
# cannot read (a pyenv under /root, mode 0700): import them while still root.
PRELOAD = ("encodings.ascii", "encodings.latin_1", "encodings.idna", "json", "ipaddress",
           "concurrent.futures.thread", "pxelab.config.check", "pxelab.config.dnsmasq",
           "pxelab.config.tomlconf", "pxelab.boot.policy", "pxelab.boot.pxelinux_search",
           "pxelab.wire.dhcp", "pxelab.serve.tftp_worker")


def preload(names: tuple[str, ...] = PRELOAD) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional part: it fails later, with its own message
            log.debug("cannot preload %s: %s", name, exc)


@dataclass(frozen=True)
class PrivilegeDrop:
    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def for_user(cls, user: str | None = "nobody", group: str | None = None) -> PrivilegeDrop:
        """Resolve names (or numbers). Group default: the user's primary group, as dnsmasq
        falls back to when its compiled-in group does not exist."""
        user = user or "nobody"
        try:
            pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, ValueError):
            raise PrivilegeError(f"unknown user {user!r} (give an existing one with --user)") \
                from None
        if group is None:
            gid = pw.pw_gid
            try:
                gname = grp.getgrgid(gid).gr_name
            except KeyError:
                gname = str(gid)
        else:
            try:
                gr = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
            except (KeyError, ValueError):
                raise PrivilegeError(f"unknown group {group!r} (give an existing one with "
                                     "--group)") from None
            gid, gname = gr.gr_gid, gr.gr_name
        if pw.pw_uid == 0:
            raise PrivilegeError(f"user {pw.pw_name} is root: give an unprivileged --user")
        return cls(pw.pw_name, gname, pw.pw_uid, gid)

    @property
    def needed(self) -> bool:
        return (os.geteuid() == 0 or os.getuid() == 0) and not single_uid_namespace()

    def prepare(self) -> None:
        """Before binding: supplementary groups none, gid final, euid the user, and only the
        bind capabilities effective. A no-op when not started as root."""
        if not self.needed:
            return
        preload()
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        # the effective set empties when the euid leaves 0; the permitted set stays for the bind
        os.setresuid(0, self.uid, 0)
        _eff, perm = _capget()
        _capset(_mask(BIND_CAPS) & perm, perm)
        # nothing this process or its workers execute can gain privileges again
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)

    def finish(self) -> None:
        """After binding: the user for good, no capability left. Verifies the result."""
        if self.needed:
            os.setresuid(self.uid, self.uid, self.uid)
            if os.getresuid() != (self.uid,) * 3 or os.getresgid() != (self.gid,) * 3:
                raise PrivilegeError("privileges were not dropped")
            try:
                os.setuid(0)
            except PermissionError:
                pass
            else:
                raise PrivilegeError("root could be regained after dropping privileges")
            log.info("running as user %s, group %s (uid %d, gid %d)", self.user, self.group,
                     self.uid, self.gid)
            return
        if single_uid_namespace():
            # uid 0 here is one ordinary user outside; no other uid exists to drop to.
            log.info("in a user namespace that maps one uid (uid %d outside): not dropping to "
                     "%s, which is not mapped here", _outside_uid(), self.user)  # fmt: skip
            return
        # started unprivileged (systemd User= with ambient capabilities): shed what is left
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
        try:
            _capset(0, 0)
        except OSError as exc:
            log.warning("cannot clear capabilities: %s", exc)
        log.info("not started as root: running as uid %d, gid %d (--user ignored)",
                 os.getuid(), os.getgid())


def single_uid_namespace() -> bool:
    """Inside a user namespace that maps exactly one uid (`unshare -r`, the rootless lab):
    setresuid to any other uid fails with EINVAL there, so a drop cannot be done."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as fh:
            lines = [ln.split() for ln in fh if ln.strip()]
    except OSError:
        return False
    return len(lines) == 1 and len(lines[0]) == 3 and lines[0][2] == "1"


def _outside_uid() -> int:
    try:
        with open("/proc/self/uid_map", encoding="ascii") as fh:
            return int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def status_ids(pid: int) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """(Uid, Gid, CapEff) of a process, from /proc/PID/status (for tests and `pxelab doctor`)."""
    uid: tuple[int, ...] = ()
    gid: tuple[int, ...] = ()
    cap = ""
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == "Uid":
                uid = tuple(int(x) for x in value.split())
            elif key == "Gid":
                gid = tuple(int(x) for x in value.split())
            elif key == "CapEff":
                cap = value.strip()
    return uid, gid, cap
