"""Online identifiers: IPv4/IPv6 addresses (ipaddress) and MAC addresses (stdnum.mac)."""

from __future__ import annotations

import ipaddress

from stdnum import mac

from veil.detect.registry import Recognizer


def validate_ipv4(value: str) -> bool:
    """An IPv4 address, or a network in CIDR notation ("10.1.2.0/24")."""
    v = value.strip()
    try:
        if "/" not in v:
            ipaddress.IPv4Address(v)
        else:
            ipaddress.IPv4Interface(v)
    except ValueError:
        return False
    return True


def validate_ipv6(value: str) -> bool:
    """An IPv6 address in any textual form (with an embedded IPv4 address, a zone id, a
    CIDR prefix length)."""
    v = value.strip()
    addr, _, prefix = v.partition("/")
    addr = addr.split("%", 1)[0]
    try:
        ipaddress.IPv6Interface(addr + ("/" + prefix if prefix else ""))
    except ValueError:
        return False
    return True


def validate_ip(value: str) -> bool:
    return validate_ipv4(value) or validate_ipv6(value)


_V4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_H = r"[0-9A-Fa-f]{1,4}"
_V4R = _V4.replace("\\d", "[0-9]")
# every textual form of RFC 4291 section 2.2 and RFC 5952: full, "::"-compressed, and with
# an IPv4 address in the last 32 bits ("::ffff:192.0.2.1", "64:ff9b::192.0.2.33")
_V6 = (
    r"(?:"
    + _H
    + r":){6}"
    + _V4R
    + r"|(?:"
    + _H
    + r":){1,5}:(?:"
    + _H
    + r":){0,4}"
    + _V4R
    + r"|::(?:"
    + _H
    + r":){0,5}"
    + _V4R
    + r"|(?:"
    + _H
    + r":){7}"
    + _H
    + r"|(?:"
    + _H
    + r":){1,7}:(?:"
    + _H
    + r"(?::"
    + _H
    + r"){0,5})?"
    + r"|::(?:"
    + _H
    + r"(?::"
    + _H
    + r"){0,6})?"
)
_CIDR4 = r"(?:/(?:3[0-2]|[12]?\d))?"
_CIDR6 = r"(?:%[0-9A-Za-z.\-]{1,16})?(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?"
IP_CONTEXT = ("ip", "ip address", "ipv4", "ipv6", "host", "login from", "client", "device")

_MAC = (
    r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)

RECOGNIZERS = [
    Recognizer(
        name="ipv4",
        type="ip_address",
        pattern=r"(?<![\w.:])" + _V4 + _CIDR4 + r"(?![\w:/]|\.\d)",
        value_pattern=_V4.replace("\\d", "[0-9]"),
        prefilter=r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}",
        validator=validate_ipv4,
        validator_name="ipaddress",
        strength="library",
        context=IP_CONTEXT,
        score=0.7,
        column_names=r"\bip|ip_?addr|client_?ip|remote_?addr|host",
    ),
    Recognizer(
        name="ipv6",
        type="ip_address",
        pattern=r"(?<![\w:.])(?:" + _V6 + r")" + _CIDR6 + r"(?![\w:.%/])",
        value_pattern=_V6,
        prefilter=r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:",
        validator=validate_ipv6,
        validator_name="ipaddress",
        strength="library",
        context=IP_CONTEXT,
        score=0.75,
        column_names=r"\bip|ip_?addr|client_?ip|remote_?addr|host",
    ),
    Recognizer(
        name="mac_address",
        type="mac_address",
        pattern=r"(?<![\w:.\-])(?:" + _MAC + r")(?![\w:\-]|\.[0-9A-Fa-f])",
        value_pattern=_MAC,
        prefilter=r"[0-9A-Fa-f]{2}[:\-.][0-9A-Fa-f]{2}",
        validator=mac.is_valid,
        validator_name="stdnum.mac",
        strength="library",
        context=("mac", "device", "hardware address", "wifi", "ethernet"),
        score=0.75,
        column_names=r"\bmac|device|hw_?addr",
    ),
]
