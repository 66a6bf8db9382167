"""Benchmark of `veil stream` (issue 23 item 4): events/s through the consumer and latency per
event, beside an anchor, both against the local NATS JetStream server. Not a test: run by hand.

Both sides are fresh processes consuming the same JSON events (the sample's transactions) from
a durable pull consumer in micro-batches of ``--batch-size``, writing one Parquet file per
micro-batch, publishing each output event to an output subject, then acknowledging:

- **veil**: `veil.stream.consume` with the sample policy's ``fraud_detection`` purpose (tokenize,
  format-preserving encryption, free-text redaction, encryption at rest; per micro-batch a
  receipt, audit events, lineage, retention row and its own keyset);
- **anchor**: a bare nats-py consumer that parses the events into a pyarrow table, writes it
  with ``pyarrow.parquet`` (no minimization, no receipt, no encryption), publishes the events
  (with ``Nats-Msg-Id``) and acknowledges them.

Two figures, the sides interleaved, medians of ``--repeat`` rounds:

- **throughput**: ``--events`` events already in the stream; events/s over the consumer's
  own time from its first pull to its last published micro-batch (start-up excluded), with the
  child's CPU seconds (whole process) and its own peak RSS;
- **latency**: events published at ``--rate`` per second for ``--seconds`` while the consumer
  runs; per event, the time from its publish to its arrival on the output subject (p50, p99).

    .venv/bin/python benchmarks/bench_stream.py
    .venv/bin/python benchmarks/bench_stream.py --events 2000 --rate 50 --seconds 4 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import commit, run_child  # noqa: E402

NATS = "nats://127.0.0.1:4222"


# -- the two consumers (child processes) -------------------------------------------------------
def child_veil(a: argparse.Namespace) -> dict:
    from veil.sample import SAMPLE_POLICY
    from veil.stream import consume

    marks: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    consume(f"{NATS}/{a.stream}", SAMPLE_POLICY, "fraud_detection", a.out, workspace=a.ws,
            publish=a.publish, batch_size=a.batch_size, idle_exit=a.idle, durable="bench",
            on_batch=lambda b: marks.append(time.perf_counter()))
    return {"seconds": (marks[-1] if marks else t0) - t0, "cpu_consuming": time.process_time() - c0}


def child_anchor(a: argparse.Namespace) -> dict:
    import nats
    import nats.errors
    import pyarrow as pa
    import pyarrow.parquet as pq
    from nats.js.api import AckPolicy, ConsumerConfig

    c0 = time.process_time()

    async def go() -> float:
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        sub = await js.pull_subscribe("", durable="bench", stream=a.stream, config=ConsumerConfig(
            durable_name="bench", ack_policy=AckPolicy.EXPLICIT, ack_wait=30))
        t0, last, idle = time.perf_counter(), None, time.monotonic()
        Path(a.out).mkdir(parents=True, exist_ok=True)
        while True:
            try:
                msgs = await sub.fetch(batch=a.batch_size, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                msgs = []
            if not msgs:
                if time.monotonic() - idle >= a.idle:
                    break
                continue
            seqs = [m.metadata.sequence.stream for m in msgs]
            table = pa.Table.from_pylist([json.loads(m.data) for m in msgs])
            out = Path(a.out) / f"batch-{seqs[0]:012d}-{seqs[-1]:012d}.parquet"
            tmp = out.with_suffix(".tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, out)
            futs = [await js.publish_async(a.publish, m.data, headers={
                "Nats-Msg-Id": f"{out.name}:{i}"}) for i, m in enumerate(msgs)]
            await asyncio.gather(*futs)
            for m in msgs:
                await m.ack()
            last, idle = time.perf_counter(), time.monotonic()
        await nc.close()
        return (last or t0) - t0

    seconds = asyncio.run(go())
    return {"seconds": seconds, "cpu_consuming": time.process_time() - c0}


# -- the parent: streams, feeding, the output subject -----------------------------------------
class Broker:
    def __init__(self) -> None:
        self.names: list[str] = []

    async def streams(self) -> tuple[str, str, str]:
        import nats

        tag = uuid.uuid4().hex[:10]
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        await js.add_stream(name=f"BIN_{tag}", subjects=[f"bin_{tag}.>"])
        await js.add_stream(name=f"BOUT_{tag}", subjects=[f"bout_{tag}.>"], duplicate_window=120)
        await nc.close()
        self.names += [f"BIN_{tag}", f"BOUT_{tag}"]
        return f"BIN_{tag}", f"bin_{tag}.tx", f"bout_{tag}.tx"

    async def cleanup(self) -> None:
        import nats

        nc = await nats.connect(NATS)
        js = nc.jetstream()
        for n in self.names:
            try:
                await js.delete_stream(n)
            except Exception:
                pass
        await nc.close()


def _child_argv(side: str, stream: str, publish: str, out: Path, ws: Path, a) -> list[str]:
    return [sys.executable, __file__, "--child", side, "--stream", stream, "--publish", publish,
            "--out", str(out), "--ws", str(ws), "--batch-size", str(a.batch_size),
            "--idle", str(a.idle)]


def _result(r: dict) -> dict:
    line = [x for x in r["stdout"].splitlines() if x.startswith("@@")][-1]
    return json.loads(line[2:]) | {"cpu_seconds": r["cpu_seconds"],
                                   "peak_rss_mb": r["peak_rss_mb"]}


async def throughput(side: str, events: list[bytes], broker: Broker, work: Path, ws: Path,
                     a) -> dict:
    import nats

    stream, subject, publish = await broker.streams()
    nc = await nats.connect(NATS)
    js = nc.jetstream()
    futs = [await js.publish_async(subject, e) for e in events]
    await asyncio.gather(*futs)
    await nc.close()
    out = work / f"{side}-{stream}"
    r = await asyncio.to_thread(run_child, _child_argv(side, stream, publish, out, ws, a))
    res = _result(r)
    return res | {"events_per_s": len(events) / res["seconds"],
                  "events_per_cpu_s": len(events) / res["cpu_consuming"]}


async def latency(side: str, events: list[bytes], broker: Broker, work: Path, ws: Path,
                  a) -> dict:
    import nats

    stream, subject, publish = await broker.streams()
    nc = await nats.connect(NATS)
    js = nc.jetstream()
    sent: dict[str, float] = {}
    got: dict[str, float] = {}

    async def arrived(msg) -> None:  # noqa: ANN001
        got.setdefault(json.loads(msg.data)["transaction_id"], time.time())

    await nc.subscribe(publish, cb=arrived)
    out = work / f"{side}-{stream}"
    done: dict = {}
    th = threading.Thread(target=lambda: done.update(
        run_child(_child_argv(side, stream, publish, out, ws, a))))
    th.start()
    while True:  # the consumer is ready once its durable exists
        try:
            await js.consumer_info(stream, "bench")
            break
        except Exception:
            await asyncio.sleep(0.05)
    warm = events[0]  # one event through first: start-up and first-use costs are not latency
    await js.publish(subject, warm)
    while json.loads(warm)["transaction_id"] not in got:
        await asyncio.sleep(0.05)
    got.clear()
    n = min(len(events) - 1, int(a.rate * a.seconds))
    start = time.time()
    for i, e in enumerate(events[1:n + 1]):
        delay = start + i / a.rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[json.loads(e)["transaction_id"]] = time.time()
        await js.publish(subject, e)
    while th.is_alive():
        await asyncio.sleep(0.1)
    await nc.close()
    lat = sorted(got[k] - sent[k] for k in sent if k in got)
    return {"p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "delivered": len(lat), "sent": n, "cpu_seconds": done["cpu_seconds"],
            "peak_rss_mb": done["peak_rss_mb"]}


def _events(rows: int) -> list[bytes]:
    import pyarrow.parquet as pq

    from veil.sample import write_sample

    path = Path(tempfile.mkdtemp()) / "tx.parquet"
    write_sample(path, rows, seed=1)
    return [json.dumps(r, default=str).encode() for r in pq.read_table(path).to_pylist()]


def _med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


async def main(a: argparse.Namespace) -> None:
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import init_workspace

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    ws, _ = init_workspace(work / "ws")
    ws.close()
    events = _events(max(a.events, int(a.rate * a.seconds)))
    broker = Broker()
    tp: dict[str, list[dict]] = {"veil": [], "anchor": []}
    lt: dict[str, list[dict]] = {"veil": [], "anchor": []}
    try:
        for _ in range(a.repeat):  # interleaved
            for side in ("veil", "anchor"):
                tp[side].append(await throughput(side, events[:a.events], broker, work,
                                                 work / "ws", a))
            for side in ("veil", "anchor"):
                lt[side].append(await latency(side, events, broker, work, work / "ws", a))
    finally:
        await broker.cleanup()
    print(f"bench_stream @ {commit()}: {a.events} events, micro-batches of {a.batch_size}, "
          f"{a.repeat} round(s), medians; NATS {NATS}")
    for side in ("veil", "anchor"):
        print(f"  throughput {side:6s}: {_med(tp[side], 'events_per_s'):9.0f} events/s "
              f"({_med(tp[side], 'seconds'):.2f} s consuming, "
              f"{_med(tp[side], 'events_per_cpu_s'):.0f} events per CPU-second; child CPU "
              f"{_med(tp[side], 'cpu_seconds'):.2f} s, peak RSS "
              f"{_med(tp[side], 'peak_rss_mb'):.0f} MB)")
    for key, what in (("events_per_s", "wall"), ("events_per_cpu_s", "per CPU-second")):
        ratio = _med(tp["anchor"], key) / _med(tp["veil"], key)
        print(f"  throughput anchor / veil ({what}): {ratio:.1f}x")
    for side in ("veil", "anchor"):
        print(f"  latency {side:6s} at {a.rate:g} events/s for {a.seconds:g} s: p50 "
              f"{_med(lt[side], 'p50_ms'):7.1f} ms, p99 {_med(lt[side], 'p99_ms'):7.1f} ms "
              f"({_med(lt[side], 'delivered'):.0f}/{_med(lt[side], 'sent'):.0f} delivered; "
              f"child CPU {_med(lt[side], 'cpu_seconds'):.2f} s, peak RSS "
              f"{_med(lt[side], 'peak_rss_mb'):.0f} MB)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0, help="events/s fed in the latency run")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", choices=["veil", "anchor"])
    p.add_argument("--stream")
    p.add_argument("--publish")
    p.add_argument("--out")
    p.add_argument("--ws")
    p.add_argument("--idle", type=float, default=2.0)
    args = p.parse_args()
    if args.child:
        fn = child_veil if args.child == "veil" else child_anchor
        print("@@" + json.dumps(fn(args)))
    else:
        asyncio.run(main(args))
