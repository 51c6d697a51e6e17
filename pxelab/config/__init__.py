"""The server's typed configuration, the dnsmasq.conf reader, and `pxelab check`."""
