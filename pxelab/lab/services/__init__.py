"""What the lab's server hosts run: the TFTP tree a proxy serves (PXELINUX, its modules, the
seed's files, placeholders) and the command lines of the pxelab and dnsmasq children.

Imports nothing from the rest of `pxelab.lab`.
"""
