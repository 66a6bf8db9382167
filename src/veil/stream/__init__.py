"""Streaming without Spark: a purpose applied to a NATS JetStream stream in micro-batches.

``consume("nats://127.0.0.1:4222/ORDERS/orders.new", "policy.yaml", "fraud", "out/")`` pulls
events from a durable consumer, runs each micro-batch through the local engine
(`veil.pipeline.run`: consent, minimization, transforms, encryption, a receipt), publishes it
and only then acknowledges it: at-least-once delivery, idempotent output (`veil.stream.ledger`).
nats-py is needed (the ``stream`` extra). See docs/streaming.md.
"""

from __future__ import annotations

from veil.stream.address import StreamAddress, parse_address
from veil.stream.consumer import BatchResult, StreamResult, consume

__all__ = ["BatchResult", "StreamAddress", "StreamResult", "consume", "parse_address"]
