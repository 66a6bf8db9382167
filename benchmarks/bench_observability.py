"""Benchmark: what the request layer of issue 25 (request id, JSON-ready access log, Prometheus
counters, the no-echo scrubber) costs on the consent check, the service's hot path.

In a fresh process: one workspace (SQLite, 1,000 consents), two apps over it, called in process
through ASGI (no sockets, so the figure is the server's own work): the service as shipped, and
the anchor, the same app as it was before: without :class:`veil.service.echo.NoEcho`, and with
the plain access-log line it had instead of :class:`veil.service.observe.Observe`. Rounds
alternate between the two; each figure is the median over rounds of microseconds per request.
Also timed: a refused request (422 with an error body, the path NoEcho rewrites) on both apps,
and one ``/metrics`` scrape (request counters plus the duty queries). Not a test: run it by
hand.

    .venv/bin/python benchmarks/bench_observability.py [--requests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import measure  # noqa: E402

CHILD = r"""
import asyncio, json, logging, os, statistics, tempfile, time
from pathlib import Path
from veil.kek.providers import EnvKEK
os.environ["VEIL_KEK"] = EnvKEK.new_secret()
os.environ.pop("VEIL_DATABASE_URL", None)
logging.getLogger("veil").setLevel(logging.INFO)
logging.getLogger("veil").addHandler(logging.NullHandler())
logging.getLogger("veil").propagate = False
from veil.consent import ConsentEvent, Ledger
from veil.kek.config import write_keys_config
from veil.policy import load_policy
from veil.service import ApiKeyStore, ServiceConfig, create_app
from veil.service.echo import NoEcho
from veil.service.observe import Observe
from veil.store.workspace import init_workspace

POLICY = '''version: 1
controller: {name: Bench Bank SE, contact: privacy@bench.example}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier}
purposes:
  offers:
    description: Offers
    legal_basis: consent
    retention: 1 year
    datasets: {customers: {fields: {customer_id: keep}}}
'''
root = Path(tempfile.mkdtemp()) / "ws"
ws, _ = init_workspace(root)
write_keys_config(root, {"kek": "env", "variable": "VEIL_KEK"})
(root / "policy.yaml").write_text(POLICY)
led = Ledger(ws, load_policy(root / "policy.yaml"))
led.add_notice("offers", "1", "Offers.\n", created_by="bench", effective="2024-01-01T00:00:00Z")
led.append([ConsentEvent(subject=f"C{i:06d}", purpose="offers", kind="granted", channel="web_form",
                         collector="bench", action="clicked 'I agree'") for i in range(1000)])
key = ApiKeyStore(ws).create("dpo", "bench", created_by="bench")[1]
ws.close()
cfg = ServiceConfig.load(root, policy=str(root / "policy.yaml"), rate_limit=0)
from starlette.middleware import Middleware

class OldAccessLog:  # the access log line as Hardening wrote it before this issue
    def __init__(self, app):
        self.app = app
    async def __call__(self, scope, receive, send):
        started, status = time.perf_counter(), 500
        async def answer(msg):
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)
        try:
            await self.app(scope, receive, answer)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            p = (scope.get("state") or {}).get("principal")
            logging.getLogger("veil.service.access").info(
                "%s %s %d %.1fms %s", scope.get("method", "?"), route, status,
                (time.perf_counter() - started) * 1000, p.actor if p is not None else "-")

full, bare = create_app(cfg), create_app(cfg)
bare.user_middleware = [Middleware(OldAccessLog) if m.cls is Observe else m
                        for m in bare.user_middleware if m.cls is not NoEcho]
bare.state.metrics = None

def scope(method, path, body):
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "state": {}, "headers": [(b"content-type", b"application/json"),
                                     (b"x-api-key", key.encode()),
                                     (b"content-length", str(len(body)).encode())]}

async def call(app, method, path, body=b""):
    status = []
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(m):
        if m["type"] == "http.response.start":
            status.append(m["status"])
    await app(scope(method, path, body), receive, send)
    return status[0]

CHECK = json.dumps({"subject": "C000042", "purpose": "offers"}).encode()
BAD = json.dumps({"subject": "C000042", "purpose": "zz_unknown_purpose"}).encode()

async def batch(app, body, n, want):
    t = time.perf_counter()
    for _ in range(n):
        assert await call(app, "POST", "/v1/consent/check", body) == want
    return (time.perf_counter() - t) / n * 1e6

async def main():
    for app in (full, bare):  # warm up: build the middleware stacks, open the readers
        await batch(app, CHECK, 200, 200)
    ok = {"full": [], "bare": []}
    bad = {"full": [], "bare": []}
    for _ in range(ROUNDS):
        for name, app in (("full", full), ("bare", bare)):
            ok[name].append(await batch(app, CHECK, N, 200))
            bad[name].append(await batch(app, BAD, N // 4, 422))
    t = time.perf_counter()
    assert await call(full, "GET", "/metrics") == 200
    scrape = (time.perf_counter() - t) * 1000
    return {k: statistics.median(v) for k, v in ok.items()}, \
        {k: statistics.median(v) for k, v in bad.items()}, scrape

ok, bad, scrape = asyncio.run(main())
extra = {"ok": ok, "bad": bad, "scrape_ms": scrape}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    code = f"N = {a.requests}\nROUNDS = {a.rounds}\n" + CHILD
    r = measure(code)
    ok, bad, scrape = r["extra"]["ok"], r["extra"]["bad"], r["extra"]["scrape_ms"]
    print(f"consent check, in process, median of {a.rounds} rounds x {a.requests} requests:")
    print(f"  service as shipped : {ok['full']:8.1f} us/request")
    print(f"  anchor (before: plain access log, no request id, metrics or NoEcho): "
          f"{ok['bare']:8.1f} us/request   "
          f"ratio {ok['full'] / ok['bare']:.2f}, +{ok['full'] - ok['bare']:.1f} us")
    print(f"refused check (422, error body scrubbed): {bad['full']:8.1f} us vs "
          f"{bad['bare']:8.1f} us   ratio {bad['full'] / bad['bare']:.2f}")
    print(f"/metrics scrape (counters + duty queries): {scrape:.1f} ms")
    print(f"peak RSS of the process: {r['peak_rss_mb']:.0f} MiB")
    print(json.dumps(r["extra"]))


if __name__ == "__main__":
    main()
