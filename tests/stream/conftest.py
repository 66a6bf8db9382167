"""Shared fixtures of the stream tests: the local NATS JetStream server, a unique stream per
test (deleted after), a policy with a consent purpose, and the events' batch twin (JSONL)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

NATS = "nats://127.0.0.1:4222"

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: cid
    on_bad_rows: %s
    fields:
      cid: direct_identifier
      name: direct_identifier
      amount: {category: transaction, type: float}
      when: {category: transaction, type: timestamp}
purposes:
  fraud:
    description: Fraud scoring of live transactions
    legal_basis: legitimate_interests
    legitimate_interest: Preventing payment fraud
    retention: 1 year
    datasets:
      tx:
        fields:
          cid: pseudonymize
          amount: keep
          when: keep
          name: drop
  offers:
    description: Offers from transaction history
    legal_basis: consent
    retention: 1 year
    datasets:
      tx:
        fields:
          cid: pseudonymize
          amount: keep
"""


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def nats_server() -> str:
    pytest.importorskip("nats", reason="nats-py is not installed (the stream extra)")
    if not _reachable():
        if os.environ.get("VEIL_REQUIRE_NATS"):
            pytest.fail("VEIL_REQUIRE_NATS is set but no NATS server listens on 127.0.0.1:4222")
        pytest.skip("no NATS server on 127.0.0.1:4222 (start nats-server -js to run these)")
    return NATS


def event(i: int, **over: object) -> dict:
    e = {"cid": f"C{i % 37}", "name": f"Person {i}", "amount": i + 0.25,
         "when": f"2024-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z", "channel": "card"}
    e.update(over)
    return e


class Streams:
    """Creates JetStream streams with unique names; deletes them all at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def _js(self):  # noqa: ANN202
        import nats

        nc = await nats.connect(NATS)
        return nc, nc.jetstream()

    def create(self, prefix: str = "T", dup_window: float = 120.0) -> tuple[str, str]:
        """A new stream capturing ``<name>.>``; returns (stream, subject)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"

        async def go() -> None:
            nc, js = await self._js()
            await js.add_stream(name=name, subjects=[f"{name}.>"], duplicate_window=dup_window)
            await nc.close()

        asyncio.run(go())
        self.names.append(name)
        return name, f"{name}.events"

    def publish(self, subject: str, events: list) -> None:
        async def go() -> None:
            nc, js = await self._js()
            for e in events:
                data = e if isinstance(e, bytes) else json.dumps(e).encode()
                await js.publish(subject, data)
            await nc.close()

        asyncio.run(go())

    def messages(self, stream: str) -> list[tuple[dict, dict]]:
        """Every message of ``stream``: (JSON body, headers)."""
        async def go() -> list[tuple[dict, dict]]:
            nc, js = await self._js()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                m = await js.get_msg(stream, seq)
                out.append((json.loads(m.data), dict(m.headers or {})))
            await nc.close()
            return out

        return asyncio.run(go())

    def delete_all(self) -> None:
        async def go() -> None:
            nc, js = await self._js()
            for n in self.names:
                try:
                    await js.delete_stream(n)
                except Exception:
                    pass
            await nc.close()

        asyncio.run(go())


@pytest.fixture
def streams(nats_server: str) -> Iterator[Streams]:
    s = Streams()
    yield s
    s.delete_all()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY % "fail", "utf-8")
    return p


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), "utf-8")
    return path


def sorted_rows(table) -> list[tuple]:  # noqa: ANN001 - a pyarrow table
    return sorted(tuple(r.values()) for r in table.to_pylist())


def read_folder(folder: Path):  # noqa: ANN201
    """Every micro-batch file of ``folder`` as one table."""
    import pyarrow as pa

    import veil

    files = sorted(folder.glob("batch-*.parquet"))
    return pa.concat_tables([veil.read(f) for f in files]), files
