"""Drift checks: the features recorded per run, the windows compared and the report.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.common import Wire


class RunFeaturesInput(Wire):
    """What `record_run_features` stores for one run: shapes of the input, no text."""

    workflow_id: str
    ticket_id: str
    body_chars: int
    language: str | None = None  # the normalised hint; None when the channel sent none
    channel: str
    customer_tier: str
    metadata_keys: int = 0


class DriftInput(Wire):
    """One drift check: the recent window against the baseline window just before it."""

    recent_seconds: float = Field(86400.0, gt=0)
    baseline_seconds: float = Field(7 * 86400.0, gt=0)
    min_samples: int = Field(50, ge=1)  # fewer in either window: "insufficient", no alert
    end: datetime | None = None  # end of the recent window; None: when the check runs


class DriftWindows(Wire):
    baseline_start: datetime
    recent_start: datetime  # the end of the baseline window
    recent_end: datetime


class FeatureCounts(Wire):
    """One feature's counts in both windows, per label (a category or a numeric bin)."""

    name: str
    group: str  # input | output
    ordered: bool = False  # numeric bins, in order: KS applies
    labels: list[str]
    baseline: list[int]
    recent: list[int]


class DriftSnapshot(Wire):
    windows: DriftWindows
    features: list[FeatureCounts]


class FeatureDrift(Wire):
    name: str
    group: str
    status: str  # stable | watch | drift | insufficient
    baseline_n: int
    recent_n: int
    psi: float | None = None
    ks_d: float | None = None
    ks_p: float | None = None
    change: str = ""  # the label whose share moved most, e.g. "de 10% → 60%"


class DriftReport(Wire):
    workflow_id: str
    windows: DriftWindows
    features: list[FeatureDrift]
    drifted: list[str] = Field(default_factory=list)
    alerted: bool = False


class DriftAlert(Wire):
    workflow_id: str
    windows: DriftWindows
    features: list[FeatureDrift]  # the drifted ones
