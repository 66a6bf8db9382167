"""Parts (d)-(f) of ``bench_risk.py``: every privacy model on Adult and on 10M rows, beside
pyCANON, and the peak RSS per equivalence class at 10M classes (a fresh process).

pyCANON (``pip download pycanon --no-deps``; its wheel pins numpy 2.0 and pandas 2.3, which
would downgrade this project's environment, so it is not in the ``bench`` extra) runs when it
is importable, e.g. ``PYTHONPATH=/path/pycanon-1.3.6-py3-none-any.whl``. It is slow (minutes
per model on Adult), so both it and Veil measure the first ``--pycanon-rows`` rows of Adult:
the ratio is measured on the same rows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from veil.risk import (
    AlphaKAnonymity,
    Anonymizer,
    DeltaDisclosure,
    DistinctLDiversity,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    KAnonymity,
    RecursiveCLDiversity,
    aggregate,
    load_hierarchies,
)
from veil.risk import metrics as M
from veil.risk.attacker import sampled_risk
from veil.risk.classes import aggregate_with_population
from veil.risk.likeness import (
    enhanced_beta,
    per_class_beta_basic,
    per_class_entropy_grassberger,
)
from veil.risk.population import population_uniqueness
from veil.risk.privacy import BasicBetaLikeness, EnhancedBetaLikeness
from veil.risk.table_models import DeltaPresence, HighestRisk, Population, UniquenessLimit

SA = "occupation"


def _cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median CPU seconds of ``fn`` (CPU time: the machine is shared) and its last value."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        value = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), value


def _measures(ec: M.EquivalenceClasses, hs: dict, sa: str = SA) -> dict[str, Callable[[], Any]]:
    """Each model's table-level figure, from an aggregate (what pyCANON computes)."""
    sc = ec.sensitive[sa]
    sizes = ec.sizes
    out: dict[str, Callable[[], Any]] = {
        "k-anonymity": lambda: M.k_anonymity(ec),
        "distinct l-diversity": lambda: M.distinct_l_diversity(ec, sa),
        "entropy l-diversity": lambda: M.entropy_l_diversity(ec, sa),
        "entropy l (Grassberger)": lambda: float(
            np.exp(per_class_entropy_grassberger(sc, sizes).min())
        ),
        "recursive (c,l)-diversity": lambda: M.recursive_cl_diversity(ec, sa, 2),
        "(alpha,k)-anonymity": lambda: M.alpha_k_anonymity(ec, sa),
        "basic beta-likeness": lambda: float(per_class_beta_basic(sc, sizes).max()),
        "enhanced beta-likeness": lambda: enhanced_beta(sc, sizes),
        "delta-disclosure": lambda: M.delta_disclosure(ec, sa),
        "t-closeness (equal)": lambda: M.t_closeness_equal(ec, sa),
        "population uniqueness (Dankar, pi=0.1)": lambda: (
            population_uniqueness(sizes, sampling_fraction=0.1).uniqueness
        ),
        "journalist/marketer (pi=0.1)": lambda: sampled_risk(sizes, 0.1).marketer,
    }
    if sa in hs:
        out["t-closeness (hierarchical)"] = lambda: M.t_closeness_hierarchical(ec, sa, hs[sa])
    return out


#: pyCANON's function for each model it has (``pycanon.anonymity``)
PYCANON = {
    "k-anonymity": ("k_anonymity", False),
    "distinct l-diversity": ("l_diversity", True),
    "entropy l-diversity": ("entropy_l_diversity", True),
    "recursive (c,l)-diversity": ("recursive_c_l_diversity", True),
    "(alpha,k)-anonymity": ("alpha_k_anonymity", True),
    "basic beta-likeness": ("basic_beta_likeness", True),
    "enhanced beta-likeness": ("enhanced_beta_likeness", True),
    "delta-disclosure": ("delta_disclosure", True),
    "t-closeness (equal)": ("t_closeness", True),
}


def _pycanon(table: pa.Table, qis: list[str]) -> dict[str, dict] | None:
    try:
        from pycanon import anonymity
    except ImportError:
        return None
    df = table.to_pandas()
    out: dict[str, dict] = {}
    for model, (fn, with_sa) in PYCANON.items():
        args = (df, qis, [SA]) if with_sa else (df, qis)
        t0 = time.process_time()
        value = getattr(anonymity, fn)(*args)
        out[model] = {"seconds": time.process_time() - t0, "value": value}
    return out


def bench_models_adult(adult: Path, repeat: int, pycanon_rows: int) -> dict:
    """Each model: measure (Veil, and pyCANON on a sample), and the optimal anonymization
    with 4% suppression beside k-anonymity's (same QIs: the eight columns but occupation)."""
    table = pacsv.read_csv(adult / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    hs_all = load_hierarchies(sorted(adult.glob("adult_hierarchy_*.csv")))
    qis = [c for c in table.column_names if c != SA]
    hs = {q: hs_all[q] for q in qis}
    agg_s, ec = _cpu(lambda: aggregate(table, qis, [SA], hierarchies=hs), repeat)
    measure = {}
    for name, fn in _measures(ec, hs_all).items():
        secs, value = _cpu(fn, repeat)
        measure[name] = {"seconds": secs, "value": value}
    sample = table.slice(0, pycanon_rows)
    sec = aggregate(sample, qis, [SA])
    veil_sample = {name: _cpu(fn, repeat) for name, fn in _measures(sec, {}).items()}
    veil_sample_agg = _cpu(lambda: aggregate(sample, qis, [SA]), repeat)[0]
    canon = _pycanon(sample, qis)
    occupation = hs_all[SA]
    search_models: dict[str, list] = {
        "k-anonymity (k=5)": [KAnonymity(5)],
        "distinct l-diversity (l=3)": [DistinctLDiversity(SA, 3)],
        "entropy l-diversity (l=3)": [EntropyLDiversity(SA, 3)],
        "entropy l (Grassberger, l=3)": [EntropyLDiversity(SA, 3, "grassberger")],
        "recursive (c=3,l=2)": [RecursiveCLDiversity(SA, 3, 2)],
        "(alpha=0.5,k=5)": [AlphaKAnonymity(SA, 0.5, 5)],
        "delta-disclosure (1.5)": [DeltaDisclosure(SA, 1.5)],
        "basic beta-likeness (3)": [BasicBetaLikeness(SA, 3)],
        "enhanced beta-likeness (3)": [EnhancedBetaLikeness(SA, 3)],
        "t-closeness equal (0.2)": [EqualDistanceTCloseness(SA, 0.2)],
        "t-closeness hierarchical (0.2) + k=5": [
            KAnonymity(5),
            HierarchicalDistanceTCloseness(SA, 0.2, occupation),
        ],
        "population uniqueness (1%, pi=0.01)": [
            UniquenessLimit(0.01, Population(sampling_fraction=0.01))
        ],
        "journalist risk (0.1, pi=0.1)": [HighestRisk(0.1, Population(sampling_fraction=0.1))],
    }
    search = {}
    for name, models in search_models.items():

        def run(models: list = models) -> Any:
            return Anonymizer(ec, hs, models, suppression_limit=0.04).search()

        secs, (best, exact) = _cpu(run, 1)
        search[name] = {"seconds": secs, "node": best.node, "exact": exact}
    subset = table.filter(pc.less_equal(table["age"], 30))
    ecp = aggregate_with_population(subset, table, qis, hierarchies=hs)

    def presence() -> Any:
        return Anonymizer(ecp, hs, [DeltaPresence(0.0, 0.5)], suppression_limit=0.04).search()

    secs, (best, exact) = _cpu(presence, 1)
    search["delta-presence (0, 0.5), age<=30 of Adult"] = {
        "seconds": secs,
        "node": best.node,
        "exact": exact,
    }
    return {
        "rows": table.num_rows,
        "aggregate_seconds": agg_s,
        "measure": measure,
        "sample_rows": sample.num_rows,
        "veil_sample": veil_sample,
        "veil_sample_aggregate": veil_sample_agg,
        "pycanon": canon,
        "search": search,
    }


def wide(rows: int, batch: int = 1 << 16, seed: int = 11) -> Iterator[pa.RecordBatch]:
    """Rows with many distinct QI combinations (age x zip x sex x education x occupation,
    35M combinations) and a sensitive attribute with 20 values."""
    rng = np.random.default_rng(seed)
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        yield pa.record_batch(
            {
                "age": pa.array(rng.integers(18, 91, n).astype(np.int16)),
                "zip": pa.array(rng.integers(0, 1000, n).astype(np.int32)),
                "sex": pa.array(rng.integers(0, 2, n).astype(np.int8)),
                "education": pa.array(rng.integers(0, 16, n).astype(np.int8)),
                "occupation": pa.array(rng.integers(0, 15, n).astype(np.int8)),
                "income": pa.array(rng.integers(0, 20, n).astype(np.int8)),
            }
        )


WIDE_QIS = ["age", "zip", "sex", "education", "occupation"]


def bench_models_10m(rows: int) -> dict:
    """Aggregate ``rows`` generated rows once (generation time taken out), then each model's
    figure on the aggregate."""
    gen_seconds = 0.0

    def timed() -> Iterator[pa.RecordBatch]:
        nonlocal gen_seconds
        it = wide(rows)
        while True:
            t0 = time.process_time()
            try:
                b = next(it)
            except StopIteration:
                gen_seconds += time.process_time() - t0
                return
            gen_seconds += time.process_time() - t0
            yield b

    t0 = time.process_time()
    ec = aggregate(timed(), WIDE_QIS, ["income"])
    agg = time.process_time() - t0 - gen_seconds
    measure = {}
    for name, fn in _measures(ec, {}, "income").items():
        secs, value = _cpu(fn, 1)
        measure[name] = {"seconds": secs, "value": value}
    return {"rows": rows, "classes": ec.classes, "aggregate_seconds": agg, "measure": measure}


def memory_code(rows: int, with_report: bool) -> str:
    """Code for a fresh process: aggregate ``rows`` wide rows (k and uniqueness); ``extra``
    holds the classes and the RSS before the aggregation."""
    return (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from _risk_models import wide, WIDE_QIS\n"
        "from veil.risk.classes import aggregate\n"
        "from veil.risk import metrics as M\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        f"ec = aggregate(wide({rows}), WIDE_QIS)\n"
        "k = M.k_anonymity(ec); u = M.sample_uniqueness(ec)\n"
        + ("r = M.report(ec, contributions=False, top=10)\n" if with_report else "")
        + "extra = {'classes': ec.classes, 'base_mb': base, 'k': k, 'uniqueness': u}\n"
    )


# -- (g) the optimal anonymization of each model, fresh processes ---------------------------------

_QIS8 = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "salary-class",
]
_SEARCH_PRELUDE = """
import time
from pathlib import Path
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from veil.risk import *
from veil.risk.privacy import BasicBetaLikeness, EnhancedBetaLikeness
from veil.risk.table_models import DeltaPresence, Population, UniquenessLimit
adult = Path({adult!r})
table = pacsv.read_csv(adult / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
hs_all = load_hierarchies(sorted(adult.glob("adult_hierarchy_*.csv")))
hs = {{q: hs_all[q] for q in {qis!r}}}
SA = "occupation"
c0 = time.process_time()
"""
#: (name, the anonymize call): each runs in a fresh process, through the public API
SEARCH_CASES = [
    ("k-anonymity (k=5)", "anonymize(table, hs, [KAnonymity(5)], suppression_limit=0.04)"),
    (
        "delta-disclosure (1.5)",
        "anonymize(table, hs, [DeltaDisclosure(SA, 1.5)], suppression_limit=0.04)",
    ),
    (
        "basic beta-likeness (3)",
        "anonymize(table, hs, [BasicBetaLikeness(SA, 3)], suppression_limit=0.04)",
    ),
    (
        "enhanced beta-likeness (3)",
        "anonymize(table, hs, [EnhancedBetaLikeness(SA, 3)], suppression_limit=0.04)",
    ),
    (
        "t-closeness equal (0.2)",
        "anonymize(table, hs, [EqualDistanceTCloseness(SA, 0.2)], suppression_limit=0.04)",
    ),
    (
        "t-closeness hierarchical (0.2) + k=5",
        "anonymize(table, hs, [KAnonymity(5), HierarchicalDistanceTCloseness(SA, 0.2, "
        "hs_all[SA])], suppression_limit=0.04)",
    ),
    (
        "population uniqueness (1%, pi=0.01)",
        "anonymize(table, hs, [UniquenessLimit(0.01, Population(sampling_fraction=0.01))], "
        "suppression_limit=0.04)",
    ),
    (
        "delta-presence (0, 0.5), age<=30 sample",
        "anonymize(table.filter(pc.less_equal(table['age'], 30)), hs, [DeltaPresence(0.0, 0.5)], "
        "suppression_limit=0.04, population=table)",
    ),
]


def bench_search(adult: Path, repeat: int, baseline: str | None = None) -> dict:
    """Each model's optimal anonymization on Adult (8 QIs, 4% suppression) in a fresh process
    through the public API, interleaved with the k-anonymity anchor: medians of ``repeat``
    runs of the search's own CPU seconds (reading Adult excluded), the child's CPU and
    peak RSS. ``baseline``: a ``src`` directory of another version of Veil (e.g. from
    ``git archive``), run interleaved with this one (``PYTHONPATH``), its figures under
    ``"baseline"``: a before/after in the same run."""
    from _util import measure as fresh

    prelude = _SEARCH_PRELUDE.format(adult=str(adult), qis=_QIS8)
    versions: dict[str, dict[str, str] | None] = {"current": None}
    if baseline is not None:
        versions["baseline"] = {"PYTHONPATH": str(Path(baseline).resolve())}
    samples: dict[str, dict[str, list[dict]]] = {
        v: {name: [] for name, _ in SEARCH_CASES} for v in versions
    }
    for _ in range(repeat):
        for name, call in SEARCH_CASES:
            code = (
                prelude
                + f"r = {call}\n"
                + "extra = {'cpu': time.process_time() - c0, 'node': list(r.node), "
                "'evaluated': r.nodes_evaluated, 'loss': r.info_loss}\n"
            )
            for v, env in versions.items():
                samples[v][name].append(fresh(code, env=env))
    out = _search_medians(samples["current"])
    if baseline is not None:
        out["baseline"] = _search_medians(samples["baseline"])
    return out


def _search_medians(samples: dict[str, list[dict]]) -> dict:
    out: dict = {}
    for name, runs in samples.items():
        out[name] = {
            "search_cpu_seconds": statistics.median(r["extra"]["cpu"] for r in runs),
            "process_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "node": runs[-1]["extra"]["node"],
            "loss": runs[-1]["extra"]["loss"],
            "evaluated": runs[-1]["extra"]["evaluated"],
            "runs": len(runs),
        }
    return out
