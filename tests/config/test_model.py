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


def test_mac_pattern_is_read_alike_by_both_readers(tmp_path) -> None:
    from pxelab.config.dnsmasq import read_dnsmasq_conf
    from pxelab.config.model import ConfigError
    from pxelab.config.tomlconf import read_toml

    conf = tmp_path / "d.conf"
    conf.write_text("dhcp-mac=set:wyse,00:80:64:*:*:*\n")
    toml = tmp_path / "p.toml"
    toml.write_text('[[match]]\ntag = "wyse"\nmac = "00:80:64:*:*:*"\n')
    (d_rule,) = [r for r in read_dnsmasq_conf(conf).tag_rules if r.kind == "mac"]
    (t_rule,) = [r for r in read_toml(toml).tag_rules if r.kind == "mac"]
    assert d_rule.value == t_rule.value == bytes.fromhex("008064000000")
    assert d_rule.mask == t_rule.mask == bytes.fromhex("ffffff000000")
    toml.write_text('[[match]]\ntag = "w"\nmac = "00:zz:64"\n')
    try:
        read_toml(toml)
    except ConfigError as exc:
        assert "bad hardware address" in str(exc) and "p.toml" in str(exc)
    else:
        raise AssertionError("a bad MAC pattern was accepted")
