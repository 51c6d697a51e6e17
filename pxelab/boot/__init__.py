"""Boot knowledge as pure functions: proxy reply policy, PXELINUX config search and parser."""
