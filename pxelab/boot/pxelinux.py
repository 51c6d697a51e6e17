"""PXELINUX knowledge, pure: the config file search order, the config parser and menu model,
and the files a PXELINUX 6 tree needs. The pieces live in pxelinux_search, pxelinux_config
and pxelinux_modules; import them from here.

    names = config_search("00:80:64:71:ab:0a", "192.168.10.21",
                          "597c5400-922f-11db-9fff-008064667faa")
    cfg = parse_config(text, filename="pxelinux.cfg/default")
    cfg.menu().title, [e.text for e in cfg.menu().visible], cfg.modules_needed()
"""

from __future__ import annotations

from pxelab.boot.pxelinux_config import (
    Config,
    ConfigWarning,
    Include,
    Label,
    Menu,
    MenuEntry,
    PxelinuxConfigError,
    parse_config,
)
from pxelab.boot.pxelinux_modules import LIBRARIES, core_module, with_libraries
from pxelab.boot.pxelinux_search import (
    CONFIG_DIR,
    classify_config_name,
    config_search,
    ip_names,
    mac_name,
    path_prefix,
    resolve,
    uuid_bytes,
    uuid_is_valid,
    uuid_name,
)

__all__ = [
    "CONFIG_DIR",
    "LIBRARIES",
    "Config",
    "ConfigWarning",
    "Include",
    "Label",
    "Menu",
    "MenuEntry",
    "PxelinuxConfigError",
    "classify_config_name",
    "config_search",
    "core_module",
    "ip_names",
    "mac_name",
    "parse_config",
    "path_prefix",
    "resolve",
    "uuid_bytes",
    "uuid_is_valid",
    "uuid_name",
    "with_libraries",
]
