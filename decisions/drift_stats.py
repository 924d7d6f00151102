"""Drift statistics: PSI and two-sample Kolmogorov-Smirnov on counts. Pure and deterministic
(stdlib `math` only), so the drift workflow computes them in workflow code.

Both windows arrive as counts per label: a category (language, channel, outcome, ...) or
a bin of a numeric feature (body length, confidence) cut at the fixed bounds below, so
payloads stay small whatever the traffic.

PSI = Σ (r_i - b_i) · ln(r_i / b_i) over the labels of either window, with r_i and b_i
the recent and baseline shares. An empty label's share is taken as PSI_EPSILON (not
renormalised), so a category seen in one window only adds a large but finite term.
Read it as: < 0.1 stable, 0.1-0.2 watch, > 0.2 drift.

KS on ordered bins: D = max |F_recent - F_baseline| over the bin bounds (the sample
statistic evaluated on the grid: exact when values sit on it, a lower bound otherwise).
Its p-value is the asymptotic Kolmogorov distribution with Stephens' small-sample
correction, λ = (√nₑ + 0.12 + 0.11/√nₑ) · D with nₑ = n·m/(n+m), as in Numerical
Recipes' `probks`. A numeric feature drifts on KS when the shift is both significant
(p < KS_P_DRIFT) and material (D ≥ KS_D_DRIFT): on a busy stream p alone flags shifts
of a point or two that nobody should be paged for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

PSI_EPSILON = 1e-4  # share used for a label with no observations in a window
PSI_WATCH = 0.1  # PSI at or above this: watch
PSI_DRIFT = 0.2  # PSI above this: drift
KS_P_DRIFT = 0.01  # KS p-value below this ...
KS_D_DRIFT = 0.1  # ... and D at or above this (ten points of CDF): drift

# Upper bounds of numeric bins (a value goes to the first bin whose bound exceeds it;
# the last bin is open). Body length doubles per bin; confidence is cut in tenths.
BODY_CHARS_BOUNDS = (50, 100, 200, 400, 800, 1600, 3200, 6400, 12800)
CONFIDENCE_BOUNDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

STABLE, WATCH, DRIFT, INSUFFICIENT = "stable", "watch", "drift", "insufficient"


def bin_labels(bounds: Sequence[float]) -> list[str]:
    """`<50`, `50-100`, ..., `>=12800`: one label per bin of `bin_counts`."""
    fmt = lambda v: f"{v:g}"  # noqa: E731
    inner = [f"{fmt(lo)}-{fmt(hi)}" for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return [f"<{fmt(bounds[0])}", *inner, f">={fmt(bounds[-1])}"]


def bin_counts(values: Iterable[float], bounds: Sequence[float]) -> list[int]:
    """How many values fall in each of the len(bounds)+1 bins."""
    counts = [0] * (len(bounds) + 1)
    for v in values:
        i = 0
        while i < len(bounds) and v >= bounds[i]:
            i += 1
        counts[i] += 1
    return counts


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def psi(baseline: Sequence[int], recent: Sequence[int], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of `recent` against `baseline` (counts per label, in
    the same order). Both windows must hold at least one observation."""
    if not sum(baseline) or not sum(recent):
        raise ValueError("psi: a window without observations")
    total = 0.0
    for b, r in zip(shares(baseline), shares(recent), strict=True):
        b, r = b or epsilon, r or epsilon
        total += (r - b) * math.log(r / b)
    return total


def ks_statistic(baseline: Sequence[int], recent: Sequence[int]) -> float:
    """Largest distance between the two empirical CDFs, at the bin bounds."""
    nb, nr = sum(baseline), sum(recent)
    if not nb or not nr:
        raise ValueError("ks: a window without observations")
    d = cb = cr = 0
    for b, r in zip(baseline, recent, strict=True):
        cb, cr = cb + b, cr + r
        d = max(d, abs(cb / nb - cr / nr))
    return d


def kolmogorov_q(lam: float) -> float:
    """P(K > λ) for the Kolmogorov distribution: 2 Σ_{j≥1} (-1)^(j-1) e^(-2 j² λ²)."""
    if lam < 0.2:  # the series converges slowly here, and the value is 1 to 1e-11
        return 1.0
    total, sign = 0.0, 1.0
    for j in range(1, 101):
        term = sign * math.exp(-2.0 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-16:
            break
        sign = -sign
    return min(1.0, max(0.0, 2.0 * total))


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sided p-value of KS statistic `d` for samples of n and m."""
    ne = math.sqrt(n * m / (n + m))
    return kolmogorov_q((ne + 0.12 + 0.11 / ne) * d)


def status(psi_value: float, ks_d: float | None = None, ks_p: float | None = None) -> str:
    """stable | watch | drift, from PSI and (numeric features) KS."""
    ks_drift = ks_d is not None and ks_p is not None and ks_p < KS_P_DRIFT and ks_d >= KS_D_DRIFT
    if psi_value > PSI_DRIFT or ks_drift:
        return DRIFT
    return WATCH if psi_value >= PSI_WATCH else STABLE


def biggest_change(labels: Sequence[str], baseline: Sequence[int], recent: Sequence[int]) -> str:
    """The label whose share moved most, as `de 10% → 60%` ("" with an empty window)."""
    if not sum(baseline) or not sum(recent) or not labels:
        return ""
    b, r = shares(baseline), shares(recent)
    i = max(range(len(labels)), key=lambda k: (abs(r[k] - b[k]), -k))
    return f"{labels[i]} {b[i]:.0%} → {r[i]:.0%}"
