"""Online identifiers: IPv4/IPv6 addresses (ipaddress) and MAC addresses (stdnum.mac)."""

from __future__ import annotations

import ipaddress

from stdnum import mac

from veil.detect.registry import Recognizer


def validate_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value.strip())
    except ValueError:
        return False
    return True


def validate_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value.strip())
    except ValueError:
        return False
    return True


def validate_ip(value: str) -> bool:
    return validate_ipv4(value) or validate_ipv6(value)


_V4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_V6 = (
    r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?"
    r"|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?"
    r"|(?:[0-9A-Fa-f]{1,4}:){6}" + _V4.replace("\\d", "[0-9]")
)
IP_CONTEXT = ("ip", "ip address", "ipv4", "ipv6", "host", "login from", "client", "device")

_MAC = (
    r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)

RECOGNIZERS = [
    Recognizer(
        name="ipv4",
        type="ip_address",
        pattern=r"(?<![\w.:])" + _V4 + r"(?![\w:]|\.\d)",
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
        pattern=r"(?<![\w:.])(?:" + _V6 + r")(?![\w:.])",
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
