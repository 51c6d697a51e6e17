from pxelab.config.model import ConfigWarning, ServerConfig, Source, tags_match


def test_tags_match_plain_and_negated() -> None:
    assert tags_match((), set())
    assert tags_match(("ipxe",), {"ipxe", "eth0"})
    assert not tags_match(("ipxe",), {"eth0"})
    assert tags_match(("!ipxe",), {"eth0"})
    assert not tags_match(("!ipxe",), {"ipxe"})
    assert not tags_match(("bios", "!ipxe"), {"bios", "ipxe"})


def test_defaults_and_warnings_name_their_line() -> None:
    cfg = ServerConfig()
    assert cfg.vendor_classes == ["PXEClient"]
    assert not cfg.pxe_enabled
    cfg.warn(Source("/etc/dnsmasq.conf", 7), "domain", "not applicable to a proxy")
    assert str(cfg.warnings[0]) == "/etc/dnsmasq.conf:7: domain: not applicable to a proxy"
    assert isinstance(cfg.warnings[0], ConfigWarning)
