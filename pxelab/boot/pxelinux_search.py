"""Which file names PXELINUX 6 asks the TFTP server for, in order, before it finds its config.

Pure functions: the caller says who the client is (MAC, IP, option 97 UUID, options 209/210,
boot file) and gets back the TFTP paths PXELINUX requests, relative to the TFTP root, exactly
as a server's log shows them.

Behaviour taken from syslinux 6.04 (geneC/syslinux, core/fs/pxe/pxe.c, dhcp_option.c,
core/sysappend.c):

- UUID: option 97 is taken only when it is 17 bytes long with type byte 0, and the first one
  seen wins (`uuid_client_identifier`). `sysappend_set_uuid` formats the 16 bytes *in wire
  order*, each as `%02x`, with a dash after bytes 4, 6, 8 and 10: no field is byte-swapped. So
  the seed's log name `597c5400-922f-11db-9fff-008064667faa` means the Wyse ROM sent exactly
  those bytes. (QEMU's `-uuid` comes out swapped in the file name because iPXE, building its
  DISCOVER, byte-swaps the first three fields on purpose (dhcp_create_request: "RFC4578
  suggests that it follows the EFI spec, in which the first three fields are little-endian",
  uuid_mangle) -- see REFERENCE.md; PXELINUX itself never swaps.)
  A UUID is "valid" when byte 6 (version nibble and the 4 bits after it) is within
  0x10..0xef (`is_valid_uuid`): all-zero and all-FF UUIDs, which broken ROMs send, fail that
  and the UUID name is skipped.
- MAC: `01-` (ARP hardware type, `%02x`) then each address byte `%02x` joined by dashes.
- IP: `%08X` of the client address, then the same name with its last hex digit dropped,
  eight tries in all, down to one digit.
- Then `default`.
- Option 209 (config file), when present, is tried first and alone; the guessed names follow
  if it is not found. Names are relative to the path prefix (the client's working directory).
- Option 210 sets the path prefix verbatim. Without it the prefix is the boot file name up to
  and including its last character that is not a letter, digit, '.' or '-' (`get_prefix`:
  note '_' counts as a delimiter there, like '/'). A relative prefix is anchored at the TFTP
  root ("::" form), so "pxelinux.0" gives the prefix "" and "boot/x86/pxelinux.0" gives
  "boot/x86/".
"""

from __future__ import annotations

import ipaddress
import re

CONFIG_DIR = "pxelinux.cfg/"
DEFAULT_NAME = "default"

_HEX_MAC = re.compile(r"[0-9A-Fa-f]{2}")


def mac_bytes(mac: str | bytes) -> bytes:
    """A hardware address from '00:80:64:71:ab:0a', '00-80-64-71-AB-0A', '008064...' or bytes."""
    if isinstance(mac, bytes | bytearray):
        return bytes(mac)
    digits = re.sub(r"[:\-.\s]", "", mac)
    if not digits or len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
        raise ValueError(f"not a hardware address: {mac!r}")
    return bytes.fromhex(digits)


def uuid_bytes(uuid: str | bytes | None) -> bytes | None:
    """Option 97's 16 UUID bytes from a '8-4-4-4-12' string (taken in written order) or bytes.

    17 bytes are read as option 97's payload (type byte 0 then the UUID), as PXELINUX does.
    """
    if uuid is None:
        return None
    if isinstance(uuid, bytes | bytearray):
        raw = bytes(uuid)
        if len(raw) == 17:
            return raw[1:] if raw[0] == 0 else None
        if len(raw) != 16:
            raise ValueError(f"a UUID is 16 bytes, got {len(raw)}")
        return raw
    digits = uuid.replace("-", "").strip()
    if len(digits) != 32 or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
        raise ValueError(f"not a UUID: {uuid!r}")
    return bytes.fromhex(digits)


def uuid_is_valid(raw: bytes) -> bool:
    """syslinux's test: byte 6 (the version byte) within 0x10..0xef."""
    return len(raw) == 16 and 0x10 <= raw[6] < 0xF0


def uuid_name(uuid: str | bytes | None) -> str | None:
    """The UUID as PXELINUX writes it in a file name, or None when it skips the UUID."""
    raw = uuid_bytes(uuid)
    if raw is None or not uuid_is_valid(raw):
        return None
    h = raw.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def mac_name(mac: str | bytes, hwtype: int = 1) -> str:
    """`01-00-80-64-71-ab-0a`: ARP type then the address, lower-case hex, dashes."""
    return "-".join([f"{hwtype:02x}", *(f"{b:02x}" for b in mac_bytes(mac))])


def ip_names(ip: str | ipaddress.IPv4Address) -> list[str]:
    """`C0A80A15`, `C0A80A1`, ... `C`: upper-case hex, shortened one digit at a time."""
    full = f"{int(ipaddress.IPv4Address(str(ip))):08X}"
    return [full[:n] for n in range(8, 0, -1)]


def _prefix_char(ch: str) -> bool:
    # get_prefix() ORs 0x20 into the byte, then accepts [0-9a-z.-]; anything else ends the scan.
    c = chr(ord(ch) | 0x20) if ord(ch) < 256 else "\0"
    return c.isascii() and (c.isdigit() or "a" <= c <= "z" or c in ".-")


def path_prefix(boot_file: str, option210: str | None = None) -> str:
    """The working directory PXELINUX uses, as a TFTP path relative to the root.

    Option 210 wins verbatim; otherwise the boot file's name up to its last delimiter.
    A prefix written "::dir/" (absolute TFTP form) loses its "::"; a URL prefix
    (lpxelinux: "http://host/dir/") is kept as is.
    """
    if option210 is not None:
        prefix = option210
    else:
        end = len(boot_file)
        while end > 0 and _prefix_char(boot_file[end - 1]):
            end -= 1
        prefix = boot_file[:end]
    return _tftp_path("", prefix)


def _tftp_path(cwd: str, name: str) -> str:
    """PXELINUX's realpath: names without '::' or '://' are relative to the working directory."""
    colon = name.find(":")
    if colon >= 0 and name[colon + 1 : colon + 3] == "//":
        return name  # URL (lpxelinux.0)
    if colon >= 0 and name[colon + 1 : colon + 2] == ":":
        return name[colon + 2 :]  # [host]::path -> path on the server (host not modelled)
    return cwd + name


def resolve(prefix: str, name: str) -> str:
    """A file name from a config (kernel, initrd, INCLUDE, module) as PXELINUX requests it."""
    return _tftp_path(prefix, name)


def config_search(
    mac: str | bytes,
    ip: str | ipaddress.IPv4Address,
    uuid: str | bytes | None,
    *,
    option209: str | None = None,
    option210_prefix: str | None = None,
    boot_file: str = "pxelinux.0",
    hwtype: int = 1,
) -> list[str]:
    """The TFTP paths PXELINUX 6 tries for its config file, first to last.

    `uuid` is option 97's UUID (16 bytes, the 17-byte option payload, or its 8-4-4-4-12 text in
    wire order); None when the client sent none. `boot_file` is the NBP's TFTP path, from which
    the prefix comes unless option 210 is given.
    """
    prefix = path_prefix(boot_file, option210_prefix)
    names: list[str] = []
    if option209 is not None:
        names.append(resolve(prefix, option209))
    guesses: list[str] = []
    u = uuid_name(uuid)
    if u is not None:
        guesses.append(u)
    guesses.append(mac_name(mac, hwtype))
    guesses.extend(ip_names(ip))
    guesses.append(DEFAULT_NAME)
    names.extend(resolve(prefix, CONFIG_DIR + g) for g in guesses)
    return names


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAC_RE = re.compile(r"[0-9a-f]{2}(?:-[0-9a-f]{2})+")
_IP_RE = re.compile(r"[0-9A-F]{1,8}")
_DOTTED = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def classify_config_name(name: str) -> tuple[str, str | None]:
    """What a file name in pxelinux.cfg/ is to PXELINUX's search: (kind, the name it asks for).

    kind "uuid", "mac", "ip", "default": a name PXELINUX can request as it is.
    kind "wrong": meant for a client but never requested as written; the second value is the
    name PXELINUX does ask for (a MAC in upper case or without the "01-" type, an IP in
    lower-case hex or dotted, a UUID in upper case), or None when no client's name (a UUID
    PXELINUX deems invalid and skips). kind "other": not a search name (an INCLUDE target).
    """
    if name == DEFAULT_NAME:
        return "default", name
    if _UUID_RE.fullmatch(name):
        return ("uuid", name) if uuid_name(name) else ("wrong", None)
    if _MAC_RE.fullmatch(name) and name.startswith("01-") and len(name) == 20:
        return "mac", name
    if _IP_RE.fullmatch(name):
        return "ip", name
    if name.lower() == DEFAULT_NAME:
        return "wrong", DEFAULT_NAME
    low = name.lower()
    if _UUID_RE.fullmatch(low):
        return "wrong", low
    sep = low.replace(":", "-")
    if re.fullmatch(r"01-[0-9a-f]{2}(?:-[0-9a-f]{2}){5}", sep):
        return "wrong", sep
    if re.fullmatch(r"[0-9a-f]{2}(?:-[0-9a-f]{2}){5}", sep):
        return "wrong", "01-" + sep
    if (
        re.fullmatch(r"[0-9a-fA-F]{1,8}", name)
        and any(c in "abcdef" for c in name)
        and any(c.isdigit() for c in name)
    ):
        return "wrong", name.upper()
    m = _DOTTED.fullmatch(name)
    if m and all(int(g) < 256 for g in m.groups()):
        return "wrong", ip_names(name)[0]
    return "other", None
