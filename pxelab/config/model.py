"""The server's typed configuration (ServerConfig and its entries), as config/ presents it.

The dataclasses live in pxelab/boot/model.py: the reply policy in boot/ reads them, and boot/
may import only wire/. The readers here (dnsmasq.conf, TOML) and `pxelab check` produce and
read them through this module.
"""

from pxelab.boot.model import (
    CSA_NAMES,
    DEFAULT_VENDOR_CLASS,
    HTTP_ARCH_NAMES,
    HTTP_VENDOR_CLASS,
    NO_SOURCE,
    BootEntry,
    ConfigError,
    ConfigWarning,
    DhcpOption,
    HttpBootEntry,
    HttpConfig,
    IgnoreRule,
    ProxyRange,
    PxePrompt,
    PxeService,
    ReplyDelay,
    ServerConfig,
    Source,
    TagIf,
    TagRule,
    Tags,
    TftpSettings,
    is_url,
    mac_pattern,
    tags_match,
    tags_match_wild,
)

__all__ = [
    "CSA_NAMES",
    "DEFAULT_VENDOR_CLASS",
    "HTTP_ARCH_NAMES",
    "HTTP_VENDOR_CLASS",
    "NO_SOURCE",
    "BootEntry",
    "ConfigError",
    "ConfigWarning",
    "DhcpOption",
    "HttpBootEntry",
    "HttpConfig",
    "IgnoreRule",
    "ProxyRange",
    "PxePrompt",
    "PxeService",
    "ReplyDelay",
    "ServerConfig",
    "Source",
    "TagIf",
    "TagRule",
    "Tags",
    "TftpSettings",
    "is_url",
    "mac_pattern",
    "tags_match",
    "tags_match_wild",
]
