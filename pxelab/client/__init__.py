"""The scripted PXE client and its quirk profiles."""
