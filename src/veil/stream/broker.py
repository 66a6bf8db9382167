"""Connecting to NATS and binding the durable pull consumer, with one-line errors.

nats-py is imported here only (the ``stream`` extra): the rest of Veil never needs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from veil.errors import InputError
from veil.stream.address import StreamAddress


def _nats() -> Any:
    try:
        import nats
    except ImportError:
        raise InputError("streaming needs the nats-py package: pip install 'veil[stream]'") \
            from None
    return nats


async def _quiet(_exc: Exception) -> None:
    """nats-py's default error callback logs tracebacks; the caller reports one line."""


async def connect(address: StreamAddress) -> tuple[Any, Any]:
    """A connection and its JetStream context; an unreachable server is one `InputError`."""
    nats = _nats()
    try:
        # max_reconnect_attempts=0 would retry forever in nats-py: one retry, then give up
        nc = await asyncio.wait_for(nats.connect(
            address.server, connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=1,
            reconnect_time_wait=0.2, error_cb=_quiet), timeout=15)
    except Exception as exc:  # NoServersError, OSError, timeouts: all mean "not reachable"
        raise InputError(f"cannot reach the NATS server ({type(exc).__name__})",
                         where=address.server) from None
    return nc, nc.jetstream()


async def pull_consumer(js: Any, address: StreamAddress, durable: str, ack_wait: float) -> Any:
    """The durable pull consumer on the stream (created on first use, explicit acks)."""
    from nats.js.api import AckPolicy, ConsumerConfig
    from nats.js.errors import NotFoundError, ServiceUnavailableError

    try:
        await js.stream_info(address.stream)
    except NotFoundError:
        raise InputError(f"no JetStream stream '{address.stream}' on this server",
                         where=address.url) from None
    except ServiceUnavailableError:
        raise InputError("JetStream is not enabled on this server (start nats-server with -js)",
                         where=address.server) from None
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=ack_wait, filter_subject=address.subject)
    return await js.pull_subscribe(address.subject or "", durable=durable,
                                   stream=address.stream, config=config)
