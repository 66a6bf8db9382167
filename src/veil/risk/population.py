"""Population uniqueness: how many people in the *population* a sample's QI values single out.

A released table is usually a sample of a larger population (a bank's customers among a
country's residents). A record that is unique in the sample need not be unique in the
population, and an attacker who links to a population register only succeeds on population
uniques. Statistical offices therefore estimate population uniqueness from the sample's
class-size histogram (``f_j``: the number of classes of size ``j``) and the sampling
fraction ``pi = n / N``:

* :func:`pitman_uniques` (Hoshino 2001): the Pitman (two-parameter Poisson-Dirichlet)
  partition model fitted by maximum likelihood; ``E[uniques] ~ Gamma(theta + 1) /
  Gamma(theta + alpha) * N^alpha``.
* :func:`zayatz_uniques` (Zayatz 1991): the sample uniques, times the conditional
  probability that a sample unique comes from a population unique, under hypergeometric
  sampling, divided by ``pi``.
* :func:`snb_uniques` (Chen & Keller-McNulty 1998): population class sizes are
  ``1 + NegBin(alpha, beta)``; ``alpha, beta`` are solved from the expected numbers of
  sample classes of size 1 and 2, the number of population classes ``K`` from Shlosser's
  estimator (Haas et al. 1995); ``E[uniques] = K beta^alpha``.
* :func:`dankar_uniques`: the decision rule of Dankar, El Emam, Neisa & Roffey (2012) as ARX
  implements it: Pitman when ``pi <= 0.1`` (Zayatz if Pitman does not converge), otherwise
  the smaller of Zayatz and SNB (Zayatz if SNB does not converge).

Every estimate is a number of population records; :class:`PopulationUniqueness` divides it
by ``N``. Formulas, sources and where Veil differs from ARX: ``docs/risk.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from veil.errors import PolicyError
from veil.risk.special import digamma, digamma_trigamma

__all__ = [
    "MODELS",
    "PopulationUniqueness",
    "SizeHistogram",
    "dankar_uniques",
    "pitman_uniques",
    "population_uniqueness",
    "snb_uniques",
    "zayatz_uniques",
]

#: The models a policy may name.
MODELS = ("dankar", "pitman", "zayatz", "snb")
#: Newton iterations before a model is declared not to converge.
MAX_ITERATIONS = 300
#: Convergence: the score (Pitman) or the relative residual (SNB) below this.
ACCURACY = 1e-10


@dataclass(frozen=True)
class SizeHistogram:
    """The class-size histogram of a sample: ``counts[i]`` classes of size ``sizes[i]``."""

    sizes: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_class_sizes(cls, class_sizes: np.ndarray) -> SizeHistogram:
        """From the size of every (non-empty) class (counted in a table of sizes when the
        largest is not far above their number, else sorted)."""
        s = np.asarray(class_sizes)
        s = s[s > 0].astype(np.int64, copy=False)
        if len(s) and int(s.max()) <= 4 * len(s) + 4096:
            table = np.bincount(s)
            sizes = table.nonzero()[0]
            return cls(sizes, table[sizes])
        sizes, counts = np.unique(s, return_counts=True)
        return cls(sizes.astype(np.int64), counts.astype(np.int64))

    @property
    def records(self) -> int:
        return int(np.dot(self.sizes, self.counts))

    @property
    def classes(self) -> int:
        return int(self.counts.sum())

    def of_size(self, size: int) -> int:
        hit = np.flatnonzero(self.sizes == size)
        return int(self.counts[hit[0]]) if len(hit) else 0

    @functools.cached_property
    def pitman_parts(self) -> tuple[int, int, np.ndarray, np.ndarray, float]:
        """What every step of the Pitman fit uses: classes ``u``, records ``n``, the sizes
        ``j > 1`` and their counts ``f_j`` (as floats), and the sum of those counts."""
        big = self.sizes > 1
        js, fs = self.sizes[big].astype(float), self.counts[big].astype(float)
        return self.classes, self.records, js, fs, float(fs.sum())


# ---------------------------------------------------------------------------------------------
# Pitman (Hoshino 2001)
# ---------------------------------------------------------------------------------------------


def _pitman_ll(h: SizeHistogram, theta: float, alpha: float) -> float:
    """Log-likelihood of the Pitman sampling formula in (theta, alpha):
    ``L = sum_{i<u} ln(theta + i alpha) - sum_{i<n} ln(theta + i)
    + sum_j f_j sum_{i<j} ln(i - alpha)`` (Hoshino 2001, eq. 6, without the constant),
    with the sums written through log-gamma functions."""
    u, n, js, fs, f_sum = h.pitman_parts
    x = theta / alpha
    return (
        (u - 1) * math.log(alpha)
        + math.lgamma(x + u)
        - math.lgamma(x + 1)
        - (math.lgamma(theta + n) - math.lgamma(theta + 1))
        + float((fs * np.fromiter(map(math.lgamma, (js - alpha).tolist()), float, len(js))).sum())
        - f_sum * math.lgamma(1 - alpha)
    )


def _pitman_terms(h: SizeHistogram, theta: float, alpha: float, need_hessian: bool) -> Any:
    """Log-likelihood (:func:`_pitman_ll`), score and Hessian of the Pitman sampling
    formula in (theta, alpha), the sums written through (di/tri)gamma functions."""
    return (_pitman_ll(h, theta, alpha), *_pitman_derivatives(h, theta, alpha, need_hessian))


def _pitman_derivatives(h: SizeHistogram, theta: float, alpha: float, need_hessian: bool) -> Any:
    """Score and Hessian (None unless ``need_hessian``) of :func:`_pitman_ll`."""
    u, n, js, fs, _ = h.pitman_parts
    x = theta / alpha
    # the five scalar arguments, then ``j - alpha``: one array, one shift (element-wise, so
    # the same values as two calls)
    args = np.concatenate(([x + u, x + 1, theta + n, theta + 1, 1 - alpha], js - alpha))
    if need_hessian:  # both functions from one shift of the arguments
        d_all, t_all = digamma_trigamma(args)
        t_args, tj = t_all[:5], t_all[5:]
    else:
        d_all = digamma(args)
    d, dj = d_all[:5].tolist(), d_all[5:]
    s1 = (d[0] - d[1]) / alpha  # sum 1/(theta + i alpha)
    s2 = ((u - 1) - theta * s1) / alpha  # sum i/(theta + i alpha)
    p1 = d[2] - d[3]  # sum_{i<n} 1/(theta + i)
    q1 = float((fs * (dj - d[4])).sum()) if len(js) else 0.0
    grad = np.array([s1 - p1, s2 - q1])
    if not need_hessian:
        return grad, None
    t = t_args[[1, 0, 3, 2, 4]].tolist()  # psi' at x + 1, x + u, theta + 1, theta + n, 1 - alpha
    t1 = (t[0] - t[1]) / (alpha * alpha)  # sum 1/(theta + i alpha)^2
    t2 = (s1 - theta * t1) / alpha  # sum i/(theta + i alpha)^2
    t3 = ((u - 1) - 2 * theta * s1 + theta * theta * t1) / (alpha * alpha)
    p2 = t[2] - t[3]
    q2 = float((fs * (t[4] - tj)).sum()) if len(js) else 0.0
    hess = np.array([[p2 - t1, -t2], [-t2, -t3 - q2]])
    return grad, hess


def _pitman_start(h: SizeHistogram) -> tuple[float, float]:
    """ARX's moment-based initial guess (``ModelPitman``)."""
    c1, c2, u, n = float(h.of_size(1)), float(h.of_size(2) or 1), float(h.classes), float(h.records)
    c = c1 * (c1 - 1) / c2
    den = 2 * c1 * u + c1 * c - n * c
    t = (n * u * c - c1 * (n - 1) * (2 * u + c)) / den if den else 1.0
    a = (t * (c1 - n) + (n - 1) * c1) / (n * u)
    return t, a


def _in_domain(theta: float, alpha: float) -> bool:
    return 0.0 < alpha < 1.0 and theta > -alpha and math.isfinite(theta)


def pitman_fit(h: SizeHistogram) -> tuple[float, float] | None:
    """Maximum-likelihood (theta, alpha) of the Pitman model; None if it does not converge
    inside ``0 < alpha < 1, theta > -alpha`` (Newton's method with step halving)."""
    if h.classes < 2 or h.of_size(1) == 0:
        return None
    theta, alpha = _pitman_start(h)
    if not _in_domain(theta, alpha):
        theta, alpha = 1.0, 0.5
    ll, grad, hess = _pitman_terms(h, theta, alpha, True)
    classes = h.classes
    for _ in range(MAX_ITERATIONS):
        scale = 1.0 + abs(theta) + classes
        largest = max(abs(g) for g in grad.tolist())
        if largest * max(1.0, abs(theta)) <= ACCURACY * scale:
            return theta, alpha
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = grad
        if float(np.dot(step, grad)) <= 0:  # not an ascent direction: gradient ascent
            step = grad / max(1.0, largest)
        s0, s1 = step.tolist()
        lam = 1.0
        while lam > 1e-12:
            t_new, a_new = theta + lam * s0, alpha + lam * s1
            if _in_domain(t_new, a_new):  # the likelihood alone decides a trial step
                ll_new = _pitman_ll(h, t_new, a_new)
                if ll_new >= ll - 1e-12 * abs(ll):
                    break
            lam /= 2
        else:
            return None
        if abs(t_new - theta) <= 1e-13 * max(1.0, abs(theta)) and abs(a_new - alpha) <= 1e-15:
            return t_new, a_new
        g_new, h_new = _pitman_derivatives(h, t_new, a_new, True)
        theta, alpha, ll, grad, hess = t_new, a_new, ll_new, g_new, h_new
    return None


def pitman_uniques(h: SizeHistogram, population_size: float) -> float | None:
    """Estimated population uniques under the Pitman model (Hoshino 2001):
    ``Gamma(theta + 1) / Gamma(theta + alpha) * N^alpha`` at the ML estimate. None when the
    fit fails or the value is outside ``[0, N]`` (as ARX)."""
    if h.of_size(1) == 0:
        return 0.0
    fit = pitman_fit(h)
    if fit is None:
        return None
    theta, alpha = fit
    value = math.exp(
        math.lgamma(theta + 1) - math.lgamma(theta + alpha) + alpha * math.log(population_size)
    )
    return value if 0.0 <= value <= population_size else None


# ---------------------------------------------------------------------------------------------
# Zayatz (1991)
# ---------------------------------------------------------------------------------------------


def _log_choose(a: float, b: np.ndarray) -> np.ndarray:
    lg = np.vectorize(math.lgamma, otypes=[float])
    return math.lgamma(a + 1) - lg(b + 1) - lg(a - b + 1)


def _hypergeometric_one(population: int, successes: np.ndarray, draws: int) -> np.ndarray:
    """P(X = 1) for X ~ Hypergeometric(population, successes, draws)."""
    k = successes.astype(float)
    out = np.zeros(len(k))
    ok = (k >= 1) & (population - k >= draws - 1)
    kk = k[ok]
    lg = np.vectorize(math.lgamma, otypes=[float])
    log_p = (
        np.log(kk)
        + (lg(population - kk + 1) - lg(draws) - lg(population - kk - draws + 2))
        - _log_choose(population, np.array([draws], dtype=float))[0]
    )
    out[ok] = np.exp(log_p)
    return out


def zayatz_uniques(h: SizeHistogram, population_size: float) -> float:
    """Estimated population uniques under Zayatz's model (1991), as ARX computes it: the
    sample's class sizes stand for the population's, ``P_j = P(one of a population class of
    size j is drawn)`` (hypergeometric), and ``uniques = f_1 * (f_1 P_1 / sum_j f_j P_j) /
    pi``."""
    c1 = h.of_size(1)
    if c1 == 0:
        return 0.0
    n = h.records
    big_n = int(population_size)  # ARX truncates the population size to an integer
    p = _hypergeometric_one(big_n, h.sizes, n)
    p1 = _hypergeometric_one(big_n, np.array([1]), n)[0]
    denom = float(np.sum(h.counts * p))
    if denom <= 0:
        return float(c1) / (n / population_size)
    conditional = c1 * p1 / denom
    return c1 * conditional / (n / population_size)


# ---------------------------------------------------------------------------------------------
# SNB (Chen & Keller-McNulty 1998)
# ---------------------------------------------------------------------------------------------


def shlosser_classes(h: SizeHistogram, f: float) -> float:
    """Shlosser's estimator of the number of non-empty population classes (the third form in
    Haas, Naughton, Seshadri & Stokes 1995)."""
    i, ni = h.sizes.astype(float), h.counts.astype(float)
    num1 = float(np.sum(i * f * f * (1 - f * f) ** (i - 1) * ni))
    den1 = float(np.sum((1 - f) ** i * ((1 + f) ** i - 1) * ni))
    num2 = float(np.sum((1 - f) ** i * ni))
    den2 = float(np.sum(i * f * (1 - f) ** (i - 1) * ni))
    if den1 <= 0 or den2 <= 0:
        return float(h.classes)
    return h.classes + h.of_size(1) * (num1 / den1) * (num2 / den2) ** 2


def _snb_expected(k: float, f: float, a: float, b: float) -> tuple[float, float]:
    """Expected sample classes of size 1 and 2 when population class sizes are
    ``1 + NegBin(a, b)`` and records are sampled with probability ``f``."""
    d = (1 - f) * (1 - b)
    e1 = k * f * (b / (1 - d)) ** a * (1 + a * d / (1 - d))
    e2 = k * a * b**a * f * f * (1 - b) / 2 * (1 - d) ** (-(a + 2)) * (2 - (1 - a) * d)
    return e1, e2


def snb_fit(h: SizeHistogram, f: float) -> tuple[float, float, float] | None:
    """(K, alpha, beta) of the SNB model, or None when the moment equations have no solution
    with ``alpha > 0, 0 < beta < 1`` (Newton's method on ``ln alpha, logit beta`` from a few
    starting points)."""
    c1, c2 = float(h.of_size(1)), float(h.of_size(2))
    if c1 == 0 or c2 == 0 or not 0 < f < 1:
        return None
    k = shlosser_classes(h, f)

    def residual(z: np.ndarray) -> np.ndarray:
        a, b = math.exp(z[0]), 1 / (1 + math.exp(-z[1]))
        e1, e2 = _snb_expected(k, f, a, b)
        return np.array([e1 / c1 - 1, e2 / c2 - 1])

    for start in ((0.0, 0.0), (-2.0, -2.0), (1.0, 2.0), (-1.0, 1.0), (2.0, -3.0)):
        z = np.array(start, dtype=float)
        found = _newton(residual, z)
        if found is not None:
            return k, math.exp(found[0]), 1 / (1 + math.exp(-found[1]))
    return None


def _newton(residual: Callable[[np.ndarray], np.ndarray], z: np.ndarray) -> np.ndarray | None:
    """Damped Newton's method with a forward-difference Jacobian."""
    try:
        r = residual(z)
        for _ in range(MAX_ITERATIONS):
            norm = float(np.max(np.abs(r)))
            if not math.isfinite(norm):
                return None
            if norm < ACCURACY:
                return z
            jac = np.empty((2, 2))
            for c in range(2):
                dz = np.zeros(2)
                dz[c] = 1e-7 * max(1.0, abs(z[c]))
                jac[:, c] = (residual(z + dz) - r) / dz[c]
            step = -np.linalg.solve(jac, r)
            lam = 1.0
            while lam > 1e-10:
                z_new = z + lam * step
                r_new = residual(z_new)
                if np.all(np.isfinite(r_new)) and np.max(np.abs(r_new)) < norm:
                    break
                lam /= 2
            else:
                return None
            z, r = z_new, r_new
    except (OverflowError, ZeroDivisionError, ValueError, np.linalg.LinAlgError):
        return None
    return None


def snb_uniques(h: SizeHistogram, population_size: float) -> float | None:
    """Estimated population uniques under the SNB model: ``K beta^alpha`` (None: no fit)."""
    if h.of_size(1) == 0:
        return 0.0
    fit = snb_fit(h, h.records / population_size)
    if fit is None:
        return None
    k, a, b = fit
    value = k * b**a
    return value if 0.0 <= value <= population_size else None


# ---------------------------------------------------------------------------------------------
# Dankar et al.'s decision rule, and the result
# ---------------------------------------------------------------------------------------------


def dankar_uniques(
    h: SizeHistogram, population_size: float
) -> tuple[float, str, dict[str, float | None]]:
    """(uniques, model used, every estimate computed) by Dankar et al.'s rule (as ARX)."""
    if h.of_size(1) == 0:
        return 0.0, "none", {}
    pi = h.records / population_size
    if pi <= 0.1:
        pitman = pitman_uniques(h, population_size)
        if pitman is not None and pitman != 0:
            return pitman, "pitman", {"pitman": pitman}
        zayatz = zayatz_uniques(h, population_size)
        return zayatz, "zayatz", {"pitman": pitman, "zayatz": zayatz}
    zayatz = zayatz_uniques(h, population_size)
    snb = snb_uniques(h, population_size)
    seen = {"zayatz": zayatz, "snb": snb}
    if snb is not None and snb != 0 and snb < zayatz:
        return snb, "snb", seen
    return zayatz, "zayatz", seen


@dataclass(frozen=True)
class PopulationUniqueness:
    """Estimated share of the population's records that are unique on the QIs.

    ``uniqueness`` is the estimate of ``model`` (for ``dankar``: of the model its rule
    chose, in ``chosen``); ``estimates`` holds every model's figure computed on the way
    (None: the model did not converge). Shares are of the population (``N`` records).
    """

    model: str
    chosen: str
    uniqueness: float
    uniques: float
    sampling_fraction: float
    population_size: float
    sample_uniqueness: float
    estimates: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "chosen": self.chosen,
            "uniqueness": self.uniqueness,
            "uniques": self.uniques,
            "sampling_fraction": self.sampling_fraction,
            "population_size": self.population_size,
            "sample_uniqueness": self.sample_uniqueness,
            "estimates": dict(self.estimates),
        }


def population_uniqueness(
    class_sizes: np.ndarray | SizeHistogram,
    *,
    sampling_fraction: float | None = None,
    population_size: float | None = None,
    model: str = "dankar",
) -> PopulationUniqueness:
    """Population uniqueness of a table whose equivalence classes have ``class_sizes`` (or
    of their :class:`SizeHistogram`).

    Give the sampling fraction ``pi`` (the table's share of the population) or the
    population size ``N``; ``N = n / pi`` as in ARX. ``model``: ``dankar`` (default),
    ``pitman``, ``zayatz`` or ``snb``. A model that does not converge counts 0 uniques (as
    ARX) and says so in ``estimates`` (None).
    """
    h = (
        class_sizes
        if isinstance(class_sizes, SizeHistogram)
        else SizeHistogram.from_class_sizes(class_sizes)
    )
    n = h.records
    if n == 0:
        raise PolicyError("population uniqueness needs a non-empty table")
    big_n = _population_size(n, sampling_fraction, population_size)
    pi = n / big_n
    if model == "dankar":
        uniques, chosen, seen = dankar_uniques(h, big_n)
    elif model in ("pitman", "zayatz", "snb"):
        estimate = {"pitman": pitman_uniques, "zayatz": zayatz_uniques, "snb": snb_uniques}[
            model
        ](h, big_n)
        seen = {model: estimate}
        uniques, chosen = (estimate or 0.0), model
    else:
        raise PolicyError(f"unknown population model '{model}' (one of {', '.join(MODELS)})")
    if pi >= 1.0:  # the table is the population: its uniques are the population's
        uniques, chosen = float(h.of_size(1)), "census"
    return PopulationUniqueness(
        model=model,
        chosen=chosen,
        uniqueness=uniques / big_n,
        uniques=uniques,
        sampling_fraction=pi,
        population_size=big_n,
        sample_uniqueness=h.of_size(1) / n,
        estimates={k: (None if v is None else v / big_n) for k, v in seen.items()},
    )


def _population_size(
    n: int, sampling_fraction: float | None, population_size: float | None
) -> float:
    if (sampling_fraction is None) == (population_size is None):
        raise PolicyError("give the sampling fraction or the population size (one of them)")
    if sampling_fraction is not None:
        if not 0 < sampling_fraction <= 1:
            raise PolicyError(f"the sampling fraction must be in (0, 1], got {sampling_fraction}")
        return 1.0 / sampling_fraction * n
    assert population_size is not None
    if population_size < n:
        raise PolicyError(
            f"the population ({population_size:,.0f}) is smaller than the table ({n:,} records)"
        )
    return float(population_size)
