"""The machines a lab boots: QEMU from `vm/` profiles, their consoles, and the test guest.

Holds `profile` (a `vm/*.toml` machine profile), `vm` (`VM`: one QEMU process as a context
manager, its QMP monitor and its serial console), `console` (a pty read by pexpect and rendered
by pyte to a screen, with deadlines instead of sleeps) and `guest` (the test kernel and
initramfs built from Debian packages). Imports nothing from the rest of `pxelab.lab`.
"""

from pxelab.lab.machines.console import BootFailed, Console, ConsoleError, Deadline
from pxelab.lab.machines.profile import Profile, load_profile

__all__ = ["BootFailed", "Console", "ConsoleError", "Deadline", "Profile", "load_profile"]
