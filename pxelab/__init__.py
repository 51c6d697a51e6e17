"""pxelab: a proxyDHCP + TFTP server for PXE boot, and a virtual PXE lab."""

__version__ = "0.1.0"
