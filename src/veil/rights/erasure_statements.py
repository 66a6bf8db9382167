"""What an erasure certificate says is unreadable now, and when backups follow.

Rules as data: one sentence per subject-key state and one per backup case (the cases of
`veil.keys.epochs.BackupHorizon`), filled from the facts the ``shred`` step recorded. Each
sentence claims only what the tests show (tests/rights/test_erasure_certificate_dates.py,
tests/keys/test_epochs.py) and names its conditions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BACKUP_STATEMENTS", "NOW_STATEMENTS", "erasure_statements"]

#: The subject key's state after the erasure -> what is unreadable now.
NOW_STATEMENTS = {
    "destroyed": (
        "The subject key was deleted from this workspace's key store on {erased_at}: values "
        "encrypted under it (transform 'encrypt') can no longer be decrypted with this store."),
    "already destroyed (earlier erasure)": (
        "The subject key had already been deleted from this workspace's key store, on "
        "{erased_at}: values encrypted under it (transform 'encrypt') can no longer be "
        "decrypted with this store."),
    "none (never made)": (
        "The subject never had a subject key here: no value was encrypted under one."),
}

#: `BackupHorizon.case` -> what holds for backups of the database taken before the erasure.
BACKUP_STATEMENTS = {
    "no-key": "No subject key existed, so no backup holds one.",
    "kek": (
        "Backups of the database taken before the erasure still hold the subject key, wrapped "
        "under the KEK (this workspace had no key epochs then): with the KEK they decrypt these "
        "values for as long as they are kept."),
    "unscheduled": (
        "Backups of the database taken before the erasure hold the subject key wrapped under "
        "key epoch {epoch} or an older one. The policy sets no {missing}, so no date is set "
        "for destroying that epoch: with the KEK and keys/epochs/, those backups decrypt these "
        "values for as long as they are kept."),
    "scheduled": (
        "Backups of the database taken before the erasure hold the subject key wrapped under "
        "key epoch {epoch} or an older one. Epoch {epoch} retires at its scheduled rotation on "
        "{epoch_retires_by} (keys.epoch_rotation: {epoch_rotation}) and is destroyed once the "
        "backup retention ({backup_retention}) has passed after that, on {unreadable_after}. "
        "From then on those backups no longer decrypt these values, provided that `veil keys "
        "rotate-epoch` retires epoch {epoch} by {epoch_retires_by} and runs again on or after "
        "{unreadable_after} (a daily run does both; each day of delay moves the date by as "
        "much), and that keys/epochs/ is not part of those backups (a copy of that folder "
        "keeps the epoch keys it holds)."),
}

_OVERDUE = ("Epoch {epoch} was due to retire before the erasure: the date assumes `veil keys "
            "rotate-epoch` runs on the day of the erasure. ")


def erasure_statements(subject_key: str | None, erased_at: str | None,
                       backups: dict[str, Any]) -> dict[str, str]:
    """``readable_now`` and ``backups`` sentences for a certificate."""
    now = NOW_STATEMENTS.get(subject_key or "", NOW_STATEMENTS["none (never made)"])
    facts = {k: ("-" if v is None else v) for k, v in backups.items()}
    missing = [k for k in ("epoch_rotation", "backup_retention") if backups.get(k) is None]
    facts["missing"] = " or ".join(f"keys.{m}" for m in missing) or "-"
    text = BACKUP_STATEMENTS[backups["case"]].format(**facts)
    if backups.get("rotation_overdue"):
        text = _OVERDUE.format(**facts) + text
    return {"readable_now": now.format(erased_at=erased_at or "-"), "backups": text}
