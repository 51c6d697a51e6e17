"""The lab's network: one Ethernet segment in network namespaces.

Holds `topology` (`Lab`: the `pxelab-<id>-*` namespaces, the bridge, a veth per host, a tap per
VM, packet capture, teardown and `cleanup`) and `netem` (loss, delay, duplication, reordering and
rate on a bridge port). Imports nothing from the rest of `pxelab.lab`.
"""

from pxelab.lab.network.topology import PREFIX, Lab, check_privileges, cleanup

__all__ = ["PREFIX", "Lab", "check_privileges", "cleanup"]
