"""Synthetic consent records for the demo: rows for :func:`veil.consent.interchange.write_csv`.

Deterministic in (customer ids, seed). About 70 % of customers grant consent through a web form,
the app or a branch; of those, some withdraw later, some grants carry an expiry that has passed,
and some are renewed. Times lie in the year before ``end`` (default 2026-01-01, the end of the
sample transactions' period), never in the future.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np

from veil.consent.models import format_us, to_us

_CHANNELS = ("web_form", "app", "branch")
_ACTIONS = {"web_form": "clicked 'I agree' on the consent form",
            "app": "switched the consent toggle on in the app",
            "branch": "signed the consent form at the branch"}
_DAY = 86_400 * 1_000_000


def sample_consents(customer_ids: Iterable[str], seed: int = 0, *,
                    purpose: str = "personalised_offers", notice_version: str = "1",
                    end: datetime | None = None) -> list[dict[str, str]]:
    """Consent CSV rows (granted / renewed / withdrawn) for some of `customer_ids`."""
    ids = list(dict.fromkeys(customer_ids))
    end_us = to_us(end or datetime(2026, 1, 1, tzinfo=UTC))
    start_us = end_us - 365 * _DAY
    rng = np.random.default_rng(seed)
    n = len(ids)
    grants = rng.random(n) < 0.70
    channel = rng.integers(0, len(_CHANNELS), n)
    t_grant = start_us + rng.integers(0, 200 * _DAY, n)
    fate = rng.random(n)  # < .12 withdrawn, < .20 expired grant, < .30 renewed
    t_later = t_grant + rng.integers(_DAY, 150 * _DAY, n)
    rows: list[dict[str, str]] = []
    for i, subject in enumerate(ids):
        if not grants[i]:
            continue
        ch = _CHANNELS[int(channel[i])]
        base = {"subject": subject, "purpose": purpose, "channel": ch,
                "notice_version": notice_version, "collector": f"{ch}-consent-service"}
        expires = ""
        if 0.12 <= fate[i] < 0.20:
            expires = format_us(int(t_later[i])) or ""
        rows.append({**base, "event": "granted", "time": format_us(int(t_grant[i])) or "",
                     "action": _ACTIONS[ch], "expires": expires})
        if fate[i] < 0.12:
            rows.append({**base, "event": "withdrawn", "time": format_us(int(t_later[i])) or "",
                         "action": "withdrew consent", "expires": ""})
        elif 0.20 <= fate[i] < 0.30:
            rows.append({**base, "event": "renewed", "time": format_us(int(t_later[i])) or "",
                         "action": "confirmed consent when asked again", "expires": ""})
    return rows


def write_sample_consents(sample_table: str | os.PathLike[str], output: str | os.PathLike[str],
                          seed: int = 0) -> int:
    """Write consent records (CSV, for ``veil consent import``) for the customers of a table
    written by :func:`veil.sample.write_sample`; returns how many records.

    What ``veil sample --consents`` does, so a notebook can set up the same demo."""
    from veil.consent.interchange import write_csv
    from veil.io.readers import open_source

    src = open_source(sample_table)
    ids = [v for b in src.batches(["customer_id"], {}, lambda r: None)
           for v in b.column(0).to_pylist()]
    records = sample_consents(ids, seed=seed)
    write_csv(records, output)
    return len(records)
