"""Console rendering on byte streams recorded from real boots on this machine (tests/vm/data/).

bios-ipxe-seed-menu.raw        SeaBIOS + iPXE (pc-bios) to the seed's menu via dnsmasq
ovmf-syslinux-efi-seed-menu.raw  OVMF + syslinux.efi (uefi-x64) to the same menu
bios-missing-kernel.raw        pc-bios: the first entry picked, its kernel missing from the tree
bios-bar-moved.raw             pc-bios: the menu, then one Down key through QMP (cut right after
                               menu.c32 redrew the bar)
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from pxelab.lab.machines.console import (
    BootFailed,
    Console,
    ConsoleClosed,
    ConsoleTimeout,
    Deadline,
    Screen,
    char_to_key,
)

DATA = Path(__file__).parent / "data"
SEED_ENTRIES = (
    "Standard Tiny Core 4.7.6",
    "Standard Tiny Core on Wyse Sx0",
    "Tiny Core on Wyse Sx0 (Specific)",
)


def replay(name: str, columns: int = 80, rows: int = 25, encoding: str = "utf-8",
           chunk: int = 997) -> Screen:
    """Feed a recording in odd-sized chunks, so escapes and UTF-8 split across reads."""
    screen = Screen(columns, rows, encoding)
    data = (DATA / name).read_bytes()
    for i in range(0, len(data), chunk):
        screen.feed(data[i : i + chunk], float(i))
    return screen


@pytest.mark.parametrize("chunk", [1, 7, 997, 1 << 20])
def test_bios_menu_is_read_from_the_screen_whatever_the_chunking(chunk):
    screen = replay("bios-ipxe-seed-menu.raw", chunk=chunk)
    menu = screen.menu()
    assert menu is not None
    assert menu.title == "PXE Boot Menu"
    assert menu.entries == SEED_ENTRIES
    assert menu.highlighted == 0
    assert any("Press [Tab] to edit options" in line for line in screen.lines())


def test_ovmf_menu_needs_cp437_and_its_100x31_text_mode():
    screen = replay("ovmf-syslinux-efi-seed-menu.raw", columns=100, rows=31, encoding="cp437")
    menu = screen.menu()
    assert menu is not None and menu.title == "PXE Boot Menu"
    assert menu.entries == SEED_ENTRIES
    assert menu.highlighted == 0
    # OVMF places each character with its own cursor escape: the raw bytes never hold the words.
    raw = (DATA / "ovmf-syslinux-efi-seed-menu.raw").read_bytes()
    assert b"Press [Tab]" not in raw
    assert "Press [Tab] to edit options" in screen.text
    assert any("Press [Tab] to edit options" in line for line in screen.lines())


def test_highlighted_entry_follows_the_bar():
    screen = replay("bios-bar-moved.raw")
    menu = screen.menu()
    assert menu is not None
    assert menu.highlighted == 1
    assert menu.highlighted_label == "Standard Tiny Core on Wyse Sx0"


def test_a_half_drawn_menu_is_not_a_menu():
    data = (DATA / "bios-ipxe-seed-menu.raw").read_bytes()
    cut = data.index(b"Tiny Core on Wyse Sx0 (Specific)")
    screen = Screen()
    screen.feed(data[:cut], 0.0)
    assert screen.menu() is None


def test_text_stream_times_phases_from_arrival():
    data = (DATA / "bios-ipxe-seed-menu.raw").read_bytes()
    screen = Screen()
    marks = {}
    for i in range(0, len(data), 64):
        screen.feed(data[i : i + 64], float(i))
    for phase in ("iPXE initialising devices", "Configuring (net0", "PXEBS", "PXELINUX 6.04"):
        marks[phase] = screen.first_seen(phase)
        assert marks[phase] is not None, phase
        # The time is that of the chunk holding the first character of the match.
        assert marks[phase] <= data.index(phase.encode()) < marks[phase] + 64
    assert list(marks.values()) == sorted(marks.values())
    # The end of a match can come in a later chunk than its start ("Configuring ... ok").
    done = screen.first_seen(re.compile(r"Configuring \(net0[^)]*\)[. ]*ok"), end=True)
    assert done is not None and done > marks["Configuring (net0"]
    assert done <= data.index(b"... ok") + 5 < done + 64
    assert screen.first_seen("not on this console") is None


def _console_on_pipe(tmp_path: Path, **kwargs) -> tuple[Console, int]:
    r, w = os.pipe()
    console = Console(r, log_path=tmp_path / "console.log", **kwargs)
    return console, w


def test_console_logs_every_byte_and_waits_on_the_screen(tmp_path):
    console, w = _console_on_pipe(tmp_path)
    data = (DATA / "bios-ipxe-seed-menu.raw").read_bytes()
    writer = threading.Thread(target=lambda: [os.write(w, data[i : i + 512])
                                               for i in range(0, len(data), 512)])
    writer.start()
    menu = console.wait_for_menu(10, title="PXE Boot Menu")
    m = console.wait_for_screen(re.compile(r"Press \[(\w+)\]"), 10)
    writer.join()
    os.close(w)
    assert menu.entries == SEED_ENTRIES
    assert m.group(1) == "Tab"
    with pytest.raises(ConsoleClosed):
        console.wait_for_text("never printed", 10)
    console.close()
    assert (tmp_path / "console.log").read_bytes() == data


@pytest.mark.parametrize(("recording", "landed"), [("bios-bar-moved.raw", True),
                                                   ("bios-ipxe-seed-menu.raw", False)])
def test_waiting_for_the_bar_on_an_entry_sees_whether_the_key_landed(tmp_path, recording,
                                                                      landed):
    console, w = _console_on_pipe(tmp_path)
    os.write(w, (DATA / recording).read_bytes())
    assert console.wait_for_menu(10).entries == SEED_ENTRIES  # the menu is up either way
    if landed:
        menu = console.wait_for_menu(10, highlighted=1)
        assert menu.highlighted_label == SEED_ENTRIES[1]
    else:  # the bar is still on entry 0: the wait must not return
        with pytest.raises(ConsoleTimeout, match="entry 1 highlighted"):
            console.wait_for_menu(0.5, highlighted=1)
    os.close(w)
    console.close()


def test_known_error_text_fails_the_wait_at_once_with_screen_and_log(tmp_path):
    console, w = _console_on_pipe(tmp_path)
    os.write(w, (DATA / "bios-missing-kernel.raw").read_bytes())
    deadline = Deadline(60)
    with pytest.raises(BootFailed) as info:
        console.wait_for_text("PXELAB-GUEST-CMDLINE", timeout=60)
    assert deadline.remaining() > 50  # failed on the text, not on the clock
    message = str(info.value)
    assert "Loading images/tc/vmlinuz... failed" in message
    assert "'PXELAB-GUEST-CMDLINE'" in message
    assert "screen:\n+----" in message  # the rendered screen, framed
    assert str(tmp_path / "console.log") in message
    os.close(w)
    console.close()


def test_a_timeout_names_the_pattern_and_shows_the_screen(tmp_path):
    console, w = _console_on_pipe(tmp_path)
    os.write(w, b"\x1b[2J\x1b[5;10Hhello from the guest")
    with pytest.raises(ConsoleTimeout) as info:
        console.wait_for_screen(re.compile(r"PXE Boot Menu"), timeout=0.5)
    message = str(info.value)
    assert "/PXE Boot Menu/" in message
    assert "|         hello from the guest" in message
    assert "timed out after 0.5 s" in message
    os.close(w)
    console.close()


def test_keys_without_a_monitor_are_refused(tmp_path):
    console, w = _console_on_pipe(tmp_path)
    with pytest.raises(AssertionError, match="no keyboard"):
        console.send_key("down")
    os.close(w)
    console.close()


def test_keys_for_typed_text():
    assert [char_to_key(c) for c in "aZ9 -:"] == [
        "a", "shift-z", "9", "spc", "minus", "shift-semicolon"
    ]
    with pytest.raises(ValueError):
        char_to_key("é")


# ovmf-grub-menu.raw: OVMF (Secure Boot, vm/uefi-x64-secureboot) -> shim -> Debian's GRUB 2.06
# to the menu of tests/vm/data/ovmf-secureboot-shim-grub.grub.cfg; ovmf-grub-bar-moved.raw: the
# same run after one Down key through QMP.
GRUB_ENTRIES = ("Debian test guest", "Second entry", "More options")


@pytest.mark.parametrize("chunk", [1, 7, 997, 1 << 20])
def test_grub_menu_is_read_from_ovmfs_screen(chunk):
    screen = replay("ovmf-grub-menu.raw", columns=100, rows=31, encoding="cp437", chunk=chunk)
    menu = screen.menu()
    assert menu is not None
    assert menu.title == "GNU GRUB  version 2.06-13+deb12u2"
    assert menu.entries == GRUB_ENTRIES
    assert menu.highlighted == 0
    # OVMF's column 100 (`ESC[05;:0H`) is read as a position, not drawn as text.
    assert not any("0H" in line for line in screen.lines())


def test_grub_highlight_follows_the_down_key():
    screen = replay("ovmf-grub-bar-moved.raw", columns=100, rows=31, encoding="cp437")
    menu = screen.menu()
    assert menu is not None and menu.entries == GRUB_ENTRIES
    assert menu.highlighted_label == "Second entry"


def test_a_grub_box_cut_before_its_bottom_is_not_a_menu():
    data = (DATA / "ovmf-grub-menu.raw").read_bytes()
    cut = data.index(b"\xc0")  # the bottom-left corner
    screen = Screen(100, 31, "cp437")
    screen.feed(data[:cut], 0.0)
    assert screen.menu() is None
