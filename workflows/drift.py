"""The drift check: compare a recent window of runs with the baseline window before it,
feature by feature (PSI, and KS for numeric features), and alert on drift.

Started by the `aiflow-drift` Temporal Schedule (`aiflow drift schedule`) or by hand
(`aiflow drift run`). Also home of `record_run_features`, the one call the triage
workflow makes so that every run's input features reach the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from contracts import (
    DriftAlert,
    DriftInput,
    DriftReport,
    DriftWindows,
    FeatureCounts,
    FeatureDrift,
    NormalizedTicket,
)
from decisions import drift_stats as stats
from decisions.features import features_of
from workflows.policies import ALERT_ACTIVITY, RUN_FEATURES_LOCAL_ACTIVITY, SNAPSHOT_ACTIVITY

with workflow.unsafe.imports_passed_through():
    from activities.drift import DriftActivities

# Histories recorded before the features step have no marker for it: replay skips it.


def windows_for(inp: DriftInput, end: datetime) -> DriftWindows:
    recent_start = end - timedelta(seconds=inp.recent_seconds)
    return DriftWindows(
        baseline_start=recent_start - timedelta(seconds=inp.baseline_seconds),
        recent_start=recent_start,
        recent_end=end,
    )


def compare(c: FeatureCounts, min_samples: int) -> FeatureDrift:
    """PSI (and KS for ordered bins) of one feature; `insufficient` below min_samples."""
    nb, nr = sum(c.baseline), sum(c.recent)
    out = FeatureDrift(
        name=c.name,
        group=c.group,
        status=stats.INSUFFICIENT,
        baseline_n=nb,
        recent_n=nr,
        change=stats.biggest_change(c.labels, c.baseline, c.recent),
    )
    if not nb or not nr:
        return out
    psi = stats.psi(c.baseline, c.recent)
    d = p = None
    if c.ordered:
        d = stats.ks_statistic(c.baseline, c.recent)
        p = stats.ks_pvalue(d, nb, nr)
        out.ks_d, out.ks_p = round(d, 4), float(f"{p:.4g}")
    out.psi = round(psi, 4)
    if min(nb, nr) >= min_samples:
        out.status = stats.status(psi, d, p)
    return out


@workflow.defn(name="DriftCheck", failure_exception_types=[Exception])
class DriftWorkflow:
    @workflow.run
    async def run(self, inp: DriftInput) -> DriftReport:
        windows = windows_for(inp, inp.end or workflow.now())
        snapshot = await workflow.execute_activity_method(
            DriftActivities.snapshot, windows, summary="count both windows", **SNAPSHOT_ACTIVITY
        )
        features = [compare(c, inp.min_samples) for c in snapshot.features]
        gauge = workflow.metric_meter().create_gauge_float(
            "aiflow_drift_psi", "PSI of each feature, recent window against baseline"
        )
        for f in features:
            if f.status != stats.INSUFFICIENT:  # a PSI of a handful of runs is noise
                gauge.set(f.psi, {"feature": f.name})
        drifted = [f for f in features if f.status == stats.DRIFT]
        report = DriftReport(
            workflow_id=workflow.info().workflow_id,
            windows=windows,
            features=features,
            drifted=[f.name for f in drifted],
        )
        if drifted:
            try:
                await workflow.execute_activity_method(
                    DriftActivities.alert,
                    DriftAlert(workflow_id=report.workflow_id, windows=windows, features=drifted),
                    summary=f"alert: {', '.join(report.drifted)}",
                    **ALERT_ACTIVITY,
                )
                report.alerted = True
            except ActivityError as err:
                workflow.logger.warning("drift alert not delivered: %s", err.cause or err)
        return report


async def record_run_features(ticket: NormalizedTicket) -> None:
    """Store the run's input features for drift checks (a local activity). Never fails
    the run: features that cannot be written are logged and skipped."""
    try:
        await workflow.execute_local_activity_method(
            DriftActivities.record_features,
            features_of(workflow.info().workflow_id, ticket),
            summary="record run features",
            **RUN_FEATURES_LOCAL_ACTIVITY,
        )
    except (ActivityError, ApplicationError) as err:
        workflow.logger.warning("run features not recorded: %s", err)
