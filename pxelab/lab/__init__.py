"""The virtual lab: the network, the machines on it, what its servers run, and scenarios over it.

Sub-packages, in the order they may import each other (each only from those above it):

- `network`: namespaces, bridge, veths, taps, capture, impairments (`Lab`, `netem`).
- `machines`: QEMU machines from `vm/` profiles, their consoles rendered to screens, and the
  test guest the lab boots (`VM`, `Console`, `load_profile`, `guest`).
- `services`: what the lab's server hosts run: the TFTP tree a proxy serves and the command lines
  of the pxelab and dnsmasq children.
- `report`: what a run leaves: result records, the phase timeline, the report folder, the live
  progress display. It renders results; it runs nothing.
- `drills`: the fault and load drills that tests and benchmarks share (restart drills, the boot
  storm, the malformed-packet corpus).
- `scenario`: scenario files, the runner that builds a lab for one, the clients that run in it
  and the assertions over what they saw; many scenarios at once (`batch`).

This follows the data flow of a lab run (DESIGN.md): network, then services, then clients and
machines, then steps and assertions, then the report. `report` sits below `scenario` so the
runner can write the report folder it is asked for and the CLI, pytest and benchmarks read the
same result records without importing the runner.

Arrows out of `pxelab.lab` that the layer table does not draw, each on purpose (and each listed
in tests/architecture/test_imports.py, which fails on a new one):
- lab -> serve.events: the runner and the storm drill read the servers' event logs with the
  servers' own reader, so the event format has one reader.
- lab -> serve.router: the scenario model checks `[router] quirks` against the router's own
  list, so a scenario with a misspelt quirk fails when it is loaded, not mid-run.
- lab -> client.profile: the scenario model and the storm drill check client profile names
  against the profiles the client ships.
- lab -> client.walk, client.dhcp: the boot-storm drill runs the scripted client's walk in
  threads to put 200 clients on one wire without 200 processes.
Everything else the lab does with servers and clients goes through their command lines
(`services.commands`). Nothing in `serve/` or `client/` imports from here.
"""
