"""asyncio services: proxyDHCP, TFTP, and the simulated home router."""
