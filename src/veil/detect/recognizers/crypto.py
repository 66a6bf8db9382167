"""Crypto wallet addresses: bitcoin (stdnum.bitcoin: base58check / bech32 checksums) and
ethereum (0x + 40 hex digits; the EIP-55 mixed-case checksum needs keccak-256, which the
standard library lacks, so only the format is checked)."""

from __future__ import annotations

import re

from stdnum import bitcoin

from veil.detect.registry import Recognizer

_ETH = re.compile(r"0x[0-9a-fA-F]{40}")


def validate_ethereum(value: str) -> bool:
    v = value.strip()
    if not _ETH.fullmatch(v):
        return False
    body = v[2:]
    return len(set(body)) > 4  # not a run of one digit (0x000..., placeholders)


RECOGNIZERS = [
    Recognizer(
        name="bitcoin",
        type="crypto_wallet",
        pattern=(
            r"(?<![\w@])(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87})"
            r"(?![\w@])"
        ),
        value_pattern=r"[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87}",
        prefilter=r"(?:\b[13][1-9A-HJ-NP-Za-km-z]{25}|(?i:bc1))",
        validator=bitcoin.is_valid,
        validator_name="stdnum.bitcoin",
        strength="checksum",
        context=("bitcoin", "btc", "wallet", "address", "crypto"),
        score=0.85,
        column_names=r"wallet|btc|bitcoin|crypto",
    ),
    Recognizer(
        name="ethereum",
        type="crypto_wallet",
        pattern=r"(?<![\w@])0x[0-9a-fA-F]{40}(?![\w@])",
        value_pattern=r"0x[0-9a-fA-F]{40}",
        prefilter=r"0x[0-9a-fA-F]{40}",
        validator=validate_ethereum,
        validator_name="format (0x + 40 hex)",
        strength="format",
        context=("ethereum", "eth", "wallet", "address", "crypto"),
        score=0.75,
        column_names=r"wallet|eth|crypto",
    ),
]
