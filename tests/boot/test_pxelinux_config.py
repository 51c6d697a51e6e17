"""The PXELINUX config parser and menu model: the seed's menu and every directive."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxelab.boot.pxelinux import PxelinuxConfigError, parse_config

SEED_MENU = """\
default menu.c32
prompt 0

menu title PXE Boot Menu

label tc476
    menu label Standard Tiny Core 4.7.6
    kernel images/tc/vmlinuz
    append initrd=images/tc/core.gz keymap=qwerty/uk

label tc476_wyse
    menu label Standard Tiny Core on Wyse Sx0
    kernel images/tc/vmlinuz
    append initrd=images/tc/core.gz keymap=qwerty/uk pci=nobios ignore_loglevel

label tc476_wyse_test
    menu label Tiny Core on Wyse Sx0 (Specific)
    kernel images/wyseSx0/vmlinuz
    append initrd=images/tc/core.gz keymap=qwerty/uk pci=nobios ignore_loglevel pata_cs5536.msr=1
"""


def test_seed_menu() -> None:
    cfg = parse_config(SEED_MENU, filename="pxelinux.cfg/default")
    assert cfg.warnings == []
    assert cfg.default == "menu.c32" and cfg.ui is None and cfg.prompt == 0
    assert cfg.modules_needed() == ["menu.c32", "libutil.c32"]
    menu = cfg.menu()
    assert menu.title == "PXE Boot Menu"
    assert [(e.label, e.text) for e in menu.visible] == [
        ("tc476", "Standard Tiny Core 4.7.6"),
        ("tc476_wyse", "Standard Tiny Core on Wyse Sx0"),
        ("tc476_wyse_test", "Tiny Core on Wyse Sx0 (Specific)"),
    ]
    # DEFAULT names no label, so menu.c32 starts on the first entry
    assert menu.default == "tc476"
    last = menu.entry("tc476_wyse_test")
    assert last is not None
    assert last.kind == "linux" and last.kernel == "images/wyseSx0/vmlinuz"
    assert last.initrds == ("images/tc/core.gz",)
    assert last.append.endswith("pci=nobios ignore_loglevel pata_cs5536.msr=1")
    assert (last.line, last.kernel_line, last.initrd_line) == (16, 18, 19)


def test_the_lab_copy_of_the_seed_menu_parses_the_same() -> None:
    path = Path(__file__).resolve().parents[2] / "scenarios/seed-tinycore/pxelinux.cfg/default"
    cfg = parse_config(path.read_text(), filename="pxelinux.cfg/default")
    seed = parse_config(SEED_MENU, filename="pxelinux.cfg/default")
    assert cfg.serial == "0 115200" and cfg.warnings == []

    def shown(c):
        m = c.menu()
        return (
            m.title,
            m.default,
            [(e.label, e.text, e.kernel, e.initrds, e.append) for e in m.entries],
        )

    assert shown(cfg) == shown(seed)
    # one line more (serial) shifts every line number by one
    assert [e.line for e in cfg.menu().entries] == [e.line + 1 for e in seed.menu().entries]


EVERY_DIRECTIVE = """\
SERIAL 0 115200 0
CONSOLE 0
UI vesamenu.c32
Default   linux2
PROMPT 1
TIMEOUT 50
TOTALTIMEOUT 600
ONTIMEOUT local
PATH modules/bios:extra
APPEND quiet
IPAPPEND 2
INCLUDE common.cfg
MENU TITLE ^Main menu
MENU COLOR title 1;36 #ffffffff #00000000 std
MENU BACKGROUND splash.png
F1 help.txt

LABEL linux1
  MENU LABEL ^Linux one
  KERNEL vmlinuz1
  INITRD a.gz,b.gz
  APPEND root=/dev/ram0
  MENU DEFAULT
  TEXT HELP
  Boots Linux one.
  ENDTEXT

label linux2
  linux vmlinuz2
  initrd one.gz
  append initrd=two.gz,three.gz console=ttyS0
  sysappend 0x3

MENU SEPARATOR

LABEL secret
  MENU HIDE
  KERNEL vmlinuz3

LABEL local
  MENU LABEL Boot from ^disk
  LOCALBOOT 0

LABEL chain
  COM32 chain.c32
  APPEND hd0 1

LABEL bare
  APPEND -

MENU BEGIN tools
  MENU TITLE Tools
  LABEL memtest
    KERNEL memtest.bin
  MENU END
MENU END
"""


def test_every_directive() -> None:
    cfg = parse_config(EVERY_DIRECTIVE, filename="main.cfg")
    assert cfg.serial == "0 115200 0" and cfg.console == 0
    assert (
        cfg.ui == "vesamenu.c32" and cfg.default == "linux2" and cfg.boot_command == "vesamenu.c32"
    )
    assert (cfg.prompt, cfg.timeout, cfg.totaltimeout, cfg.ontimeout) == (1, 50, 600, "local")
    assert cfg.path == ["modules/bios", "extra"]
    assert cfg.append == "quiet" and cfg.ipappend == 2
    assert [(i.name, i.line, i.found) for i in cfg.includes] == [("common.cfg", 12, None)]
    assert cfg.title == "^Main menu"
    assert [str(w) for w in cfg.warnings] == ["main.cfg:56: MENU END without MENU BEGIN"]
    assert cfg.modules_needed() == [
        "vesamenu.c32",
        "libutil.c32",
        "libcom32.c32",
        "chain.c32",
    ]

    menu = cfg.menu()
    assert [e.label for e in menu.entries] == [
        "linux1",
        "linux2",
        "secret",
        "local",
        "chain",
        "bare",
    ]
    assert [e.label for e in menu.visible] == ["linux1", "linux2", "local", "chain", "bare"]
    # DEFAULT naming a visible label beats MENU DEFAULT (readconfig.c applies it last)
    assert menu.default == "linux2"

    one = menu.entry("linux1")
    assert one is not None
    assert (one.text, one.hotkey, one.kernel, one.initrds) == (
        "Linux one",
        "L",
        "vmlinuz1",
        ("a.gz", "b.gz"),
    )
    assert one.append == "root=/dev/ram0" and one.help_text == "  Boots Linux one.\n"
    two = menu.entry("linux2")
    assert two is not None
    # the first initrd= on the command line wins: APPEND's, not the INITRD line's
    assert two.kind == "linux" and two.initrds == ("two.gz", "three.gz")
    assert two.initrd_line == 31  # the APPEND line
    assert cfg.label("linux2").ipappend == 3  # type: ignore[union-attr]
    secret = menu.entry("secret")
    assert secret is not None and secret.hidden and secret.append == "quiet"  # global APPEND
    local = menu.entry("local")
    assert local is not None
    assert (local.kind, local.kernel, local.localboot, local.text) == (
        "localboot",
        None,
        0,
        "Boot from disk",
    )
    chain = menu.entry("chain")
    assert chain is not None and (chain.kind, chain.kernel, chain.append) == (
        "com32",
        "chain.c32",
        "hd0 1",
    )
    bare = menu.entry("bare")
    assert bare is not None
    assert (bare.kernel, bare.append, bare.initrds) == ("bare", "", ())  # LABEL x boots kernel x

    (tools,) = menu.submenus
    assert tools.title == "Tools" and [e.label for e in tools.entries] == ["memtest"]
    assert tools.entries[0].kind == "boot"


def test_menu_default_and_default_label() -> None:
    cfg = parse_config("ui menu.c32\nlabel a\nlabel b\n menu default\nlabel c\n", filename="x")
    assert cfg.menu().default == "b"
    cfg = parse_config("default c\nlabel a\nlabel b\n menu default\nlabel c\n", filename="x")
    assert cfg.menu().default == "c"
    assert cfg.modules_needed() == []  # DEFAULT boots a Linux label: no module needed


def test_default_naming_a_com32_label() -> None:
    cfg = parse_config("default m\nlabel m\n kernel menu.c32\n", filename="x")
    assert cfg.ui_module() == "menu.c32"
    assert cfg.modules_needed() == ["menu.c32", "libutil.c32"]


def test_kernel_picks_by_extension() -> None:
    text = "label a\n kernel x.c32\nlabel b\n kernel pxelinux.0\nlabel c\n kernel vmlinuz\n"
    kinds = [e.kind for e in parse_config(text, filename="x").menu().entries]
    assert kinds == ["com32", "pxe", "linux"]


def test_keywords_case_and_boundaries() -> None:
    cfg = parse_config("TiMeOuT 30\nlabelx y\nmenutitle z\n\r\n#comment\n", filename="f")
    assert cfg.timeout == 30
    assert cfg.labels == []
    assert [(w.line, w.message.split(":")[0]) for w in cfg.warnings] == [
        (2, "unknown directive 'labelx'"),
        (3, "unknown directive 'menutitle'"),
    ]


def test_cr_cuts_the_line() -> None:
    cfg = parse_config("label a\r\n kernel k\rjunk\r\n", filename="f")
    assert cfg.label("a").kernel == "k"  # type: ignore[union-attr]


def test_unknown_and_misplaced_directives_are_warnings() -> None:
    cfg = parse_config(
        "frobnicate 1\nkernel x\ninitrd y\nmenu frob\ntimeout soon\ntext junk\nendtext\n",
        filename="cfg",
    )
    assert [str(w) for w in cfg.warnings] == [
        "cfg:1: unknown directive 'frobnicate': PXELINUX ignores this line",
        "cfg:2: KERNEL outside a LABEL: PXELINUX ignores it",
        "cfg:3: INITRD outside a LABEL: PXELINUX ignores it",
        "cfg:4: unknown directive 'MENU frob': menu.c32 ignores it",
        "cfg:5: TIMEOUT 'soon': not a number, PXELINUX reads it as 0",
        "cfg:6: TEXT 'junk': only TEXT HELP is known",
    ]


def test_include_through_a_loader() -> None:
    files = {
        "common.cfg": "label inc\n kernel k\n",
        "sub.cfg": "label s\n kernel s\n",
    }
    cfg = parse_config(
        "include common.cfg\ninclude nothere.cfg\nmenu include sub.cfg Sub menu\nlabel top\n",
        filename="main",
        loader=files.get,
    )
    assert [(i.name, i.found, i.menu) for i in cfg.includes] == [
        ("common.cfg", True, False),
        ("nothere.cfg", False, False),
        ("sub.cfg", True, True),
    ]
    assert [str(w) for w in cfg.warnings] == [
        "main:2: INCLUDE nothere.cfg: file not found, PXELINUX skips it"
    ]
    assert cfg.files == ["main", "common.cfg", "sub.cfg"]
    assert cfg.label("inc").filename == "common.cfg"  # type: ignore[union-attr]
    menu = cfg.menu()
    assert [e.label for e in menu.entries] == ["inc", "top"]
    assert menu.submenus[0].title == "Sub menu"
    assert [e.label for e in menu.submenus[0].entries] == ["s"]


def test_include_loop_is_an_error() -> None:
    with pytest.raises(PxelinuxConfigError) as err:
        parse_config("include self\n", filename="self", loader=lambda name: "include self\n")
    assert err.value.filename == "self" and err.value.line == 1


@given(st.text(max_size=400))
def test_parser_never_raises_on_text(text: str) -> None:
    cfg = parse_config(text, filename="fuzz")
    cfg.menu()
    cfg.modules_needed()


_WORDS = st.sampled_from(
    [
        "label",
        "kernel",
        "linux",
        "append",
        "initrd",
        "menu",
        "label",
        "hide",
        "default",
        "ui",
        "include",
        "text",
        "help",
        "endtext",
        "begin",
        "end",
        "localboot",
        "com32",
        "x.c32",
        "initrd=a,b",
        "-",
        "^",
        "timeout",
        "serial",
        "path",
        "a:b",
        "\n",
        "\n",
        " ",
        "\r",
    ]
)


@given(st.lists(_WORDS, max_size=60), st.booleans())
def test_parser_never_raises_on_directive_soup(words: list[str], with_loader: bool) -> None:
    text = " ".join(words)
    loader = (lambda name: text) if with_loader else None
    try:
        cfg = parse_config(text, filename="fuzz", loader=loader)
    except PxelinuxConfigError:
        return
    cfg.menu()
    cfg.modules_needed()
