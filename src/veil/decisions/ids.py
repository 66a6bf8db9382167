"""Decision ids: 32 hex digits, time-ordered: 48 bits of milliseconds since 1970, then 80
random bits (the layout of a UUIDv7, without its version bits). Rows with increasing ids are
appended to the primary-key index; random ids (uuid4) put every insert on a random page,
a cache miss per row once the table outgrows the page cache. Ids of one batch are sorted, so
they increase in the order the rows are written. The time in an id is when it was made, not
the decision's time (``decided_at``, which a caller may give)."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_ids", "subject8"]


def new_ids(n: int) -> list[str]:
    """``n`` new ids in increasing order."""
    prefix = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    rnd = os.urandom(10 * n).hex()
    ids = [prefix + rnd[20 * i : 20 * i + 20] for i in range(n)]
    ids.sort()
    return ids


def new_id() -> str:
    return new_ids(1)[0]


def subject8(token: str) -> int:
    """The first 8 bytes of a pseudonym (hex) as a signed 64-bit integer: the indexed column
    ``decisions.subject8`` a person's decisions are found by (with ``subject`` itself)."""
    return int(token[:16], 16) - (1 << 63)
