"""Benchmark of the compliance service (issue 11): the consent check over HTTP on loopback.

Figures: (1) POST /v1/consent/check at 500 requests/s: p50/p99 latency (the goal: p99 under
10 ms, no errors); (2) the highest rate sustained with p99 under 50 ms and no errors; (3) the
server's peak memory (VmHWM). No anchor service is installable offline, so the floor is measured
in the same run: a bare FastAPI endpoint that does nothing, on the same uvicorn settings.

The load loop is open-loop and bounded: requests are scheduled at fixed times for a few seconds
per rate, and latency is measured from the scheduled time (a late send counts as latency, so a
slow server cannot hide behind a slow client). The client speaks HTTP/1.1 through h11 (the
protocol library uvicorn uses) on keep-alive connections, because a full HTTP client would cost
more CPU than the server on a small machine. Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_service.py [--subjects 10000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import h11

POLICY = """\
version: 1
controller: {name: Bench Bank SE, contact: privacy@bench.example}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier}
purposes:
  offers:
    description: Personalised offers
    legal_basis: consent
    retention: 2 years
    datasets: {customers: {fields: {customer_id: keep}}}
"""

FLOOR_APP = textwrap.dedent("""
    import sys, uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    app = FastAPI()
    class Body(BaseModel):
        subject: str
        purpose: str
    @app.post("/v1/consent/check")
    async def check(body: Body) -> dict:
        return {"valid": True}
    @app.get("/ready")
    async def ready() -> dict:
        return {"status": "ready"}
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, server_header=False)
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(root: Path, subjects: int) -> str:
    """A workspace with a notice, `subjects` granted consents and a service key."""
    from veil.consent import Ledger
    from veil.consent.models import ConsentEvent
    from veil.policy import load_policy
    from veil.service import ApiKeyStore
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    (root / "policy.yaml").write_text(POLICY)
    ledger = Ledger(ws, load_policy(root / "policy.yaml"))
    ledger.add_notice("offers", "1", "Offers notice", created_by="bench",
                      effective="2024-01-01T00:00:00Z")
    for start in range(0, subjects, 5000):
        ledger.append([ConsentEvent(f"CUST-{i:07d}", "offers", "granted", "web_form", "bench",
                                    "2025-01-01T00:00:00Z", action="clicked 'I agree'")
                       for i in range(start, min(subjects, start + 5000))])
    _, secret = ApiKeyStore(ws).create("service", "bench", created_by="bench")
    ws.close()
    return secret


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not become ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this (the client) process so far."""
    t = os.times()
    return t.user + t.system


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Conn:
    """One keep-alive HTTP/1.1 connection (h11 state machine over asyncio streams)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.h: h11.Connection | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.h = h11.Connection(h11.CLIENT)

    async def post(self, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
        if self.h is None or self.h.our_state is not h11.IDLE:
            await self.close()
            await self.open()
        assert self.h is not None and self.writer is not None and self.reader is not None
        req = h11.Request(method="POST", target=path, headers=[
            ("host", "127.0.0.1"), ("content-type", "application/json"),
            ("content-length", str(len(body))), *headers])
        self.writer.write(self.h.send(req) + self.h.send(h11.Data(data=body))
                          + self.h.send(h11.EndOfMessage()))
        status = 0
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.h.receive_data(data)
                continue
            if isinstance(ev, h11.Response):
                status = ev.status_code
            elif isinstance(ev, h11.EndOfMessage):
                self.h.start_next_cycle()
                return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.writer = self.reader = self.h = None


async def load(port: int, rate: float, seconds: float, headers: list[tuple[str, str]],
               bodies: list[bytes], conns: int = 64) -> dict[str, float]:
    """Open loop: `rate` requests/s for `seconds`; latency from each request's scheduled time."""
    n = int(rate * seconds)
    queue: asyncio.Queue[float] = asyncio.Queue()
    lat: list[float] = []
    errors = 0
    pool = [Conn(port) for _ in range(conns)]
    for c in pool:
        await c.open()
    t0 = time.perf_counter() + 0.05
    for i in range(n):
        queue.put_nowait(t0 + i / rate)

    async def worker(conn: Conn) -> None:
        nonlocal errors
        while True:
            try:
                at = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status = await conn.post("/v1/consent/check", headers,
                                         bodies[random.randrange(len(bodies))])
                if status != 200:
                    errors += 1
            except (ConnectionError, OSError, h11.ProtocolError):
                errors += 1
                await conn.close()
                await conn.open()
            lat.append(time.perf_counter() - at)

    await asyncio.gather(*(worker(c) for c in pool))
    wall = time.perf_counter() - t0
    for c in pool:
        await c.close()
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"rate": rate, "achieved": len(lat) / wall, "p50": pct(0.50), "p99": pct(0.99),
            "max": lat[-1] * 1000, "errors": errors, "n": len(lat)}


def run_side(name: str, port: int, pid: int, headers: list[tuple[str, str]],
             bodies: list[bytes], seconds: float, rates: list[float]
             ) -> tuple[dict[str, float], dict[str, float] | None]:
    asyncio.run(load(port, 200, 1.0, headers, bodies))  # warm-up
    cpu0 = cpu_seconds(pid)
    at500 = asyncio.run(load(port, 500, seconds, headers, bodies))
    at500["cpu_ms"] = (cpu_seconds(pid) - cpu0) * 1000 / max(1, at500["n"])
    print(f"  {name:<8} 500/s: p50 {at500['p50']:.2f} ms, p99 {at500['p99']:.2f} ms, "
          f"max {at500['max']:.1f} ms, errors {at500['errors']:.0f}, achieved "
          f"{at500['achieved']:.0f}/s, server CPU {at500['cpu_ms']:.2f} ms/request")
    best = None
    for rate in rates:
        # Both sides' CPU, so a saturated client (or a busy machine) shows in the figures.
        cpu0, own0, t0 = cpu_seconds(pid), own_cpu_seconds(), time.perf_counter()
        r = asyncio.run(load(port, rate, seconds, headers, bodies))
        wall = time.perf_counter() - t0
        ok = r["p99"] < 50 and r["errors"] == 0 and r["achieved"] >= 0.95 * rate
        server, client = (cpu_seconds(pid) - cpu0) / wall, (own_cpu_seconds() - own0) / wall
        print(f"  {name:<8} {rate:>5.0f}/s: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
              f"errors {r['errors']:.0f}, achieved {r['achieved']:.0f}/s, CPU server "
              f"{server:.0%} client {client:.0%} {'ok' if ok else 'over'}")
        if not ok:
            break
        best = r
    return at500, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    rates = [500, 700, 1000, 1400, 1700, 2000, 2800, 4000]
    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())  # seals the pepper and pseudonym key
    with tempfile.TemporaryDirectory(prefix="veil-bench-service-") as tmp:
        root = Path(tmp) / "ws"
        env = {k: v for k, v in os.environ.items()
               if k not in ("VEIL_DATABASE_URL", "VEIL_WORKSPACE")}
        print(f"setting up: {args.subjects:,} consents, one service key (SQLite)")
        secret = setup(root, args.subjects)
        bodies = [json.dumps({"subject": f"CUST-{random.randrange(args.subjects * 11 // 10):07d}",
                              "purpose": "offers"}).encode() for _ in range(2000)]
        veil = Path(sys.executable).parent / "veil"
        port = free_port()
        server = subprocess.Popen(
            [str(veil), "serve", "-w", str(root), "--policy", str(root / "policy.yaml"), "--port",
             str(port), "--rate-limit", "0", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        fport = free_port()
        floor = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(fport)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, server)
            wait_ready(fport, floor)
            print(f"consent check, loopback, {args.seconds:g} s per rate, open loop:")
            v500, vb = run_side("veil", port, server.pid, [("x-api-key", secret)], bodies,
                                args.seconds, rates)
            f500, fb = run_side("floor", fport, floor.pid, [], bodies, args.seconds, rates)
            met = v500["p99"] < 10 and v500["errors"] == 0
            vrate, frate = (vb["rate"] if vb else 0.0), (fb["rate"] if fb else 0.0)
            print()
            print(f"veil  at 500/s: p99 {v500['p99']:.2f} ms (goal < 10 ms: "
                  f"{'met' if met else 'NOT met'}), errors {v500['errors']:.0f}")
            print(f"floor at 500/s: p99 {f500['p99']:.2f} ms (bare FastAPI endpoint, same run)")
            print(f"server CPU per check: veil {v500['cpu_ms']:.2f} ms, floor "
                  f"{f500['cpu_ms']:.2f} ms (one core sustains about "
                  f"{1000 / v500['cpu_ms']:.0f} checks/s); load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores after the run")
            print(f"highest sustained rate with p99 < 50 ms: veil {vrate:.0f}/s, floor "
                  f"{frate:.0f}/s (ratio {vrate / frate if frate else 0:.2f})")
            print(f"peak memory (VmHWM): veil server {peak_rss_mib(server.pid):.0f} MiB, "
                  f"floor server {peak_rss_mib(floor.pid):.0f} MiB")
            print("anchor: no comparable consent service is installable offline; the floor "
                  "(a FastAPI endpoint doing nothing) is measured in the same run instead")
        finally:
            for p in (server, floor):
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            err = server.stderr.read().decode() if server.stderr else ""
            if server.returncode not in (0, -15) and err:
                print(err[-2000:])


if __name__ == "__main__":
    main()
