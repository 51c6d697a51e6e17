"""The grub.cfg reader (pxelab.boot.grub_config): menus, files, includes, GRUB's parse errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxelab.boot.grub_config import GrubConfigError, netboot_env, parse_config, tftp_path

ENV = netboot_env("192.168.15.1", mac="52:54:00:15:00:01", ip="192.168.15.50")

DEBIAN_LIKE = """\
set default="1"
set timeout=5
# the installer
menuentry 'Install' --class debian --id install {
    set kdir=/debian-installer/amd64
    linux ${kdir}/linux vga=788 --- quiet
    initrd $kdir/initrd.gz
}
menuentry "Graphical \\"install\\"" {
    linuxefi /images/vmlinuz console=ttyS0;initrdefi /images/a.img /images/b.img
}
submenu 'Advanced options ...' {
    menuentry "Rescue mode" { linux (tftp)/r/linux rescue/enable=true }
}
"""


def test_titles_default_timeout_and_files():
    cfg = parse_config(DEBIAN_LIKE, "grub/grub.cfg", env=ENV)
    assert cfg.menu_titles() == ["Install", 'Graphical "install"', "Advanced options ... >"]
    assert cfg.default_entry().title == 'Graphical "install"'
    assert cfg.timeout_seconds == 5
    install, graphical, rescue = cfg.all_entries()
    assert install.entry_id == "install" and install.classes == ("debian",)
    assert install.linux.path == "debian-installer/amd64/linux"
    assert install.linux.line == 6 and install.args == "vga=788 --- quiet"
    assert [i.path for i in install.initrds] == ["debian-installer/amd64/initrd.gz"]
    assert graphical.linux_command == "linuxefi"
    assert [i.path for i in graphical.initrds] == ["images/a.img", "images/b.img"]
    assert rescue.menu_path == ("Advanced options ...",) and rescue.linux.path == "r/linux"


def test_default_by_title_id_and_submenu_path():
    def with_default(value: str) -> str:
        return DEBIAN_LIKE.replace('set default="1"', f"set default={value}")

    assert parse_config(with_default("install"), env=ENV).default_entry().title == "Install"
    sub = parse_config(with_default('"Advanced options ...>Rescue mode"'), env=ENV)
    assert sub.default_entry().title == "Rescue mode"
    assert parse_config(with_default("9"), env=ENV).default_entry().title == "Install"


def test_paths_prefix_memdisk_and_unknown_variables():
    assert tftp_path("$prefix/x", ENV) is None  # not expanded yet
    assert tftp_path("(tftp,192.168.15.1)/grub/x", ENV) == "grub/x"
    assert tftp_path("(memdisk)/grub.cfg", ENV) is None
    assert tftp_path("(hd0,gpt1)/vmlinuz", ENV) is None
    cfg = parse_config("menuentry x { linux $prefix/vmlinuz\n initrd $nowhere/i }", env=ENV)
    entry = cfg.all_entries()[0]
    assert entry.linux.path == "grub/vmlinuz"
    assert entry.initrds[0].path is None  # $nowhere is not known statically


def test_source_and_configfile_are_read_through_the_loader():
    files = {
        "grub/common.cfg": "set timeout=2\nmenuentry 'From source' { linux /k }\n",
        "grub/other.cfg": "menuentry 'Other menu' { linux /k2 }\n",
    }
    asked: list[str] = []

    def loader(name: str) -> str | None:
        asked.append(name)
        return files.get(name)

    cfg = parse_config(
        "source $prefix/common.cfg\nmenuentry Own { linux /own }\n",
        "grub/grub.cfg",
        loader=loader,
        env=ENV,
    )
    assert cfg.menu_titles() == ["From source", "Own"]
    assert cfg.timeout_seconds == 2
    shown = parse_config(
        "menuentry Before { linux /b }\nconfigfile /grub/other.cfg\n",
        "grub/grub.cfg",
        loader=loader,
        env=ENV,
    )
    assert shown.menu_titles() == ["Other menu"]
    assert [e.title for e in shown.all_entries()] == ["Before", "Other menu"]
    missing = parse_config("source /grub/none.cfg\n", loader=loader, env=ENV)
    assert missing.includes[0].found is False
    assert asked == ["grub/common.cfg", "grub/other.cfg", "grub/none.cfg"]


def test_an_include_loop_is_an_error_not_a_hang():
    with pytest.raises(GrubConfigError, match="include loop"):
        parse_config(
            "source /grub/grub.cfg\n",
            "grub/grub.cfg",
            loader=lambda n: "source /grub/grub.cfg\n",
            env=ENV,
        )


def test_if_bodies_are_read_and_marked_conditional():
    cfg = parse_config(
        'if [ "$grub_platform" = efi ]; then\n menuentry A { linux /a }\n'
        "else\n menuentry B { linux /b }\nfi\n",
        env=ENV,
    )
    assert [(e.title, e.conditional) for e in cfg.all_entries()] == [("A", True), ("B", True)]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ('menuentry "x" {\n  linux /a\n', 1, "never closed"),
        ('set a=1\necho "abc\nmore\n', 2, "unterminated"),
        ("set a='x\n", 1, "unterminated"),
        ("menuentry a { linux /a }\n}\n", 2, "without a '{'"),
        ("if true; then\n echo\n", 1, "no 'fi'"),
        ("fi\n", 1, "out of place"),
    ],
)
def test_syntax_errors_name_the_line(text, line, what):
    with pytest.raises(GrubConfigError) as info:
        parse_config(text, "grub/grub.cfg")
    assert info.value.line == line and what in str(info.value)
    assert str(info.value).startswith(f"grub/grub.cfg:{line}: ")


_WORDS = st.sampled_from(
    [
        "menuentry",
        "submenu",
        "{",
        "}",
        "linux",
        "initrd",
        "set",
        "if",
        "then",
        "fi",
        "else",
        "source",
        "configfile",
        '"',
        "'",
        "\\",
        "$",
        "${x}",
        "default=0",
        "/a",
        "\n",
        ";",
        " ",
        "#",
        "--id",
        "x",
    ]
)


@given(st.text(max_size=300))
def test_fuzz_text_parses_or_fails_cleanly(text):
    try:
        parse_config(text, "f.cfg", loader=lambda n: text, env=ENV)
    except GrubConfigError as exc:
        assert str(exc).startswith("f.cfg:") or "include loop" in str(exc)


@given(st.lists(_WORDS, max_size=60))
def test_fuzz_grub_words_parse_or_fail_cleanly(words):
    text = " ".join(words)
    try:
        cfg = parse_config(text, "f.cfg", loader=lambda n: None, env=ENV)
    except GrubConfigError:
        return
    cfg.menu_titles()
    cfg.default_entry()
    assert cfg.timeout_seconds is None or isinstance(cfg.timeout_seconds, int)
