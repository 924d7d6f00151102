"""The retention purge's wire types: what the `aiflow-purge` schedule starts and what a
purge reports. Durable contracts: only add optional fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.common import Wire


class Retention(Wire):
    """Days each kind of row is kept; None keeps it forever."""

    runs_days: float | None = Field(None, gt=0)
    steps_days: float | None = Field(None, gt=0)
    feedback_days: float | None = Field(None, gt=0)
    blobs_days: float | None = Field(None, gt=0)


class PurgeInput(Wire):
    retention: Retention
    now: datetime | None = None  # the cutoffs are measured back from it; None: the clock
    dry_run: bool = False


class PurgeResult(Wire):
    now: datetime
    dry_run: bool = False
    removed: dict[str, int] = Field(default_factory=dict)  # rows per table
    cutoffs: dict[str, datetime] = Field(default_factory=dict)  # by retention setting
