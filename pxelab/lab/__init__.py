"""The virtual lab: namespaces, bridge, QEMU machines, consoles, scenarios."""
