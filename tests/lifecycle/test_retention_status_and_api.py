"""What `retention_status` calls due is exactly what has expired (a property over random
expiries and clocks), and the REST endpoints: GET /v1/retention for the DPO and the auditor,
POST /v1/retention/sweep for the DPO only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.lifecycle import retention_status
from veil.store.schema import retention_outputs

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _add(ws: Any, run_id: str, expires: datetime, *, output: str = "/nonexistent/x.parquet",
         state: str = "live", hold: str | None = None) -> None:
    with ws.engine.begin() as conn:
        conn.execute(retention_outputs.insert().values(
            run_id=run_id, output_ref=output, output_digest="0" * 64, purpose="p",
            retention="1 year", created_at=T0 - timedelta(days=365), expires_at=expires,
            keyset=None, own_key=False, state=state, hold_reason=hold))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.tuples(st.integers(-4000, 4000), st.sampled_from(["live", "done"]),
                                  st.booleans()), max_size=12),
       now=st.integers(-4000, 4000))
def test_due_is_exactly_expired_and_not_disposed(workspace, offsets, now) -> None:
    with workspace.engine.begin() as conn:
        conn.execute(retention_outputs.delete())
    for i, (minutes, state, held) in enumerate(offsets):
        _add(workspace, f"r{i:031d}", T0 + timedelta(minutes=minutes), state=state,
             hold="h" if held else None)
    at = T0 + timedelta(minutes=now)
    due = {r.run_id for r in retention_status(workspace, at, due=True)}
    want = {f"r{i:031d}" for i, (m, state, _) in enumerate(offsets)
            if state != "done" and m <= now}
    assert due == want
    listed = retention_status(workspace, at)
    assert [r.expires_at for r in listed] == sorted(r.expires_at for r in listed)


@pytest.fixture
def api(tmp_path: Path, monkeypatch) -> Any:
    from tests.service.conftest import SERVICE_KEK_VAR, client_for, make_keys, make_workspace
    from veil.kek.providers import EnvKEK

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    monkeypatch.setenv(SERVICE_KEK_VAR, EnvKEK.new_secret())
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    out = root / "old.parquet"
    out.write_bytes(b"PAR1 plain output PAR1")
    _add(ws, "a" * 32, datetime(2020, 1, 1, tzinfo=UTC), output=str(out))
    _add(ws, "b" * 32, datetime(2099, 1, 1, tzinfo=UTC))
    with client_for(root, rate_limit=0) as client:
        yield client, keys, ws, out
    ws.close()


def test_rest_lists_what_is_due_and_only_the_dpo_sweeps(api) -> None:
    client, keys, ws, out = api
    due = client.get("/v1/retention", headers={"X-API-Key": keys["auditor"]})
    assert due.status_code == 200 and [r["run_id"] for r in due.json()] == ["a" * 32]
    every = client.get("/v1/retention", params={"all": True},
                       headers={"X-API-Key": keys["dpo"]}).json()
    assert [r["run_id"] for r in every] == ["a" * 32, "b" * 32]
    for role in ("auditor", "engineer", "service"):
        r = client.post("/v1/retention/sweep", json={}, headers={"X-API-Key": keys[role]})
        assert r.status_code == 403, role
    assert out.exists()
    bad = client.post("/v1/retention/sweep", json={"now": "soon"},
                      headers={"X-API-Key": keys["dpo"]})
    assert bad.status_code == 422 and "ISO 8601" in bad.text
    r = client.post("/v1/retention/sweep", json={}, headers={"X-API-Key": keys["dpo"]})
    assert r.status_code == 200, r.text
    (d,) = r.json()["disposed"]
    assert d["run_id"] == "a" * 32 and d["key"] == "none (written in clear)"
    assert d["actor"].startswith("key:") and not out.exists()
    with ws.engine.connect() as conn:
        states = dict(conn.execute(sa.select(retention_outputs.c.run_id,
                                             retention_outputs.c.state)).all())
    assert states == {"a" * 32: "done", "b" * 32: "live"}
