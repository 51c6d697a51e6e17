"""Fault and load drills shared by the tests and the benchmarks, so both run the same sequence:
the TFTP and proxy restart drills and the boot storm (`storm`), and the malformed-packet corpus
sent at a live server (`corpus`).

May import `network` and `services`, and the scripted client's walk (see `pxelab.lab`).
"""
