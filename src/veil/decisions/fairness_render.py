"""A fairness report as pictures and a page: one PNG per protected attribute (matplotlib's Agg
renderer, no display, no global pyplot state) and a self-contained HTML page (figures embedded;
every text escaped)."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.fairness import AttributeFairness, FairnessReport

__all__ = ["plot_attribute", "report_html"]


def _err(values: list[float | None], cis: list[tuple[Any, Any]]) -> list[list[float]]:
    lo = [max(0.0, (v or 0.0) - (c[0] if c[0] is not None else (v or 0.0)))
          for v, c in zip(values, cis, strict=True)]
    hi = [max(0.0, (c[1] if c[1] is not None else (v or 0.0)) - (v or 0.0))
          for v, c in zip(values, cis, strict=True)]
    return [lo, hi]


def plot_attribute(a: AttributeFairness) -> bytes:
    """PNG: selection rate per group (with intervals); beside it, false positive and false
    negative rates per group when actual outcomes are known."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [g.group for g in a.groups]
    errors = a.equalized_odds_difference is not None
    fig = Figure(figsize=(9 if errors else 5, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if errors else 1, squeeze=False)[0]
    sel = [g.selection_rate or 0.0 for g in a.groups]
    axes[0].bar(names, sel, yerr=_err(sel, [g.selection_ci for g in a.groups]), capsize=4,
                color="#4c72b0")
    axes[0].set_ylim(0, 1)
    axes[0].set_title(f"Selection rate by {a.attribute}")
    if errors:
        import numpy as np

        x = np.arange(len(names))
        fpr = [g.false_positive_rate or 0.0 for g in a.groups]
        fnr = [g.false_negative_rate or 0.0 for g in a.groups]
        axes[1].bar(x - 0.2, fpr, 0.4, label="false positive rate", color="#dd8452",
                    yerr=_err(fpr, [g.false_positive_ci for g in a.groups]), capsize=3)
        axes[1].bar(x + 0.2, fnr, 0.4, label="false negative rate", color="#55a868",
                    yerr=_err(fnr, [g.false_negative_ci for g in a.groups]), capsize=3)
        axes[1].set_xticks(x, names)
        axes[1].set_ylim(0, 1)
        axes[1].legend(fontsize=8)
        axes[1].set_title(f"Error rates by {a.attribute}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _ci(ci: tuple[float | None, float | None]) -> str:
    return "" if ci[0] is None else f" [{_num(ci[0])}, {_num(ci[1])}]"


def _attribute_html(a: AttributeFairness, png: bytes | None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(g.group)}</td><td>{g.decisions}</td>"
        f"<td>{_num(g.selection_rate)}{_ci(g.selection_ci)}</td><td>{g.with_actual}</td>"
        f"<td>{_num(g.false_positive_rate)}{_ci(g.false_positive_ci)}</td>"
        f"<td>{_num(g.false_negative_rate)}{_ci(g.false_negative_ci)}</td></tr>"
        for g in a.groups)
    img = ("" if png is None else
           f'<img alt="{e(a.attribute)} figures" src="data:image/png;base64,'
           f'{base64.b64encode(png).decode()}">')
    return (f"<h2>{e(a.attribute)}</h2>"
            f"<p>Demographic-parity difference: {_num(a.demographic_parity_difference)}"
            f"{_ci(a.demographic_parity_ci)}. Equalized-odds difference: "
            f"{_num(a.equalized_odds_difference)}{_ci(a.equalized_odds_ci)}.</p>"
            "<table><tr><th>group</th><th>decisions</th><th>selection rate</th>"
            "<th>with actual outcome</th><th>false positive rate</th>"
            f"<th>false negative rate</th></tr>{rows}</table>{img}")


def report_html(r: FairnessReport) -> str:
    e = html.escape
    b = r.bootstrap
    period = f"{r.since.isoformat() if r.since else 'the start'} to " \
             f"{r.until.isoformat() if r.until else 'now'}"
    head = (f"<h1>Fairness report: {e(r.purpose)}</h1>"
            f"<p>Automated decisions from {e(period)}: {r.decisions}; with protected attributes: "
            f"{r.matched}; with a known actual outcome: {r.with_actual}. Selected means the "
            f"outcome {e(r.positive)!r}. Figures as Fairlearn defines them; intervals: "
            f"{int(b.get('level', 0.95) * 100)}% from {b.get('resamples')} bootstrap resamples "
            f"(seed {b.get('seed')}; {e(str(b.get('method', '')))}).</p>"
            f"<p>{e(r.protected_data)}</p>")
    body = "".join(_attribute_html(a, r.plots.get(a.attribute)) for a in r.attributes)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e('Fairness report ' + r.purpose)}</title>"
            "<style>table{border-collapse:collapse}td,th{border:1px solid #999;"
            "padding:2px 6px}</style></head><body>\n"
            f"{head}\n{body}\n<p>Generated {e(r.generated_at.isoformat())}.</p>"
            "</body></html>\n")
