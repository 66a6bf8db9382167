"""Quick throughput figures for the audit core (not a test; pytest does not collect this file),
in this process: leaf hashing beside its anchor (``hashlib.sha256`` of the same bytes), the
compact range, proofs and their read counts.

Run: .venv/bin/python benchmarks/perf_merkle.py [N_LEAVES]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, datetime

from veil.audit.event import AuditEvent
from veil.audit.merkle import (
    CompactRange,
    MemoryNodeStore,
    consistency_plan,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    verify_inclusion,
)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({seconds:.2f} s for {n:,})"


def main() -> None:
    ap = argparse.ArgumentParser(
        description="Throughput of the audit log's Merkle core (RFC 6962 hashing, compact "
                    "range, inclusion and consistency proofs).",
        epilog="example: .venv/bin/python benchmarks/perf_merkle.py 100000")
    ap.add_argument("n_leaves", nargs="?", type=int, default=1_000_000,
                    help="leaves to hash and append (default 1,000,000)")
    n = ap.parse_args().n_leaves
    if n < 1:
        ap.error("N_LEAVES must be at least 1")
    event = AuditEvent(
        time=datetime(2024, 5, 1, tzinfo=UTC),
        actor="svc:pipeline",
        action="run.publish",
        purpose="credit_scoring",
        legal_basis="art6_1_b_contract",
        outcome="success",
        data_categories=["financial", "contact"],
        counts={"rows_in": 1000, "rows_out": 990},
        subjects=["cust:" + "a" * 43],
        digests={"output": "sha256:" + "cd" * 32},
        details={"run": 1},
    )
    m = 20_000
    t = time.perf_counter()
    for _ in range(m):
        event.canonical_bytes()
    print("event canonical bytes:      ", rate(m, time.perf_counter() - t))
    data = event.canonical_bytes()
    print("  (event size", len(data), "bytes)")

    t = time.perf_counter()
    hashes = [leaf_hash(data + i.to_bytes(8, "big")) for i in range(n)]
    print("leaf_hash:                  ", rate(n, time.perf_counter() - t))
    sha = hashlib.sha256
    t = time.perf_counter()
    for i in range(n):
        sha(b"\x00" + data + i.to_bytes(8, "big")).digest()
    print("  anchor hashlib.sha256:    ", rate(n, time.perf_counter() - t))

    t = time.perf_counter()
    res = CompactRange().append(hashes)
    print(
        "CompactRange.append (1 call):",
        rate(n, time.perf_counter() - t),
        f"{len(res.nodes):,} nodes",
    )

    cr = CompactRange()
    t = time.perf_counter()
    for i in range(0, n, 1000):
        cr.append(hashes[i : i + 1000])
    print("append in batches of 1000:  ", rate(n, time.perf_counter() - t))

    store = MemoryNodeStore()
    t = time.perf_counter()
    store.update(res.nodes)
    print("MemoryNodeStore.update:     ", rate(len(res.nodes), time.perf_counter() - t))

    k = 2000
    store.reads = 0
    t = time.perf_counter()
    for j in range(k):
        idx = (j * 7919) % n
        proof = inclusion_proof(idx, n, store.get)
    dt = time.perf_counter() - t
    print(
        f"inclusion_proof (n={n:,}):  {dt / k * 1e6:.1f} us/proof, "
        f"{store.reads / k:.1f} reads/proof"
    )
    t = time.perf_counter()
    for _ in range(k):
        verify_inclusion(hashes[idx], idx, n, proof, res.root)
    print(f"verify_inclusion:           {(time.perf_counter() - t) / k * 1e6:.1f} us/proof")

    for big in (10_000_000, 1_000_000_000, 2**40):
        reads = [len(inclusion_plan(i, big).ids) for i in range(0, big, max(1, big // 997))]
        creads = [len(consistency_plan(s, big).ids) for s in range(1, big, max(1, big // 997))]
        print(
            f"n={big:>14,}: inclusion reads max {max(reads)} mean {sum(reads) / len(reads):.1f}; "
            f"consistency reads max {max(creads)}; log2 n = {(big - 1).bit_length()}"
        )


if __name__ == "__main__":
    main()
