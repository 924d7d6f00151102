"""Drift activities: record a run's input features, count both windows of a drift check,
and raise the alert (a log event, a metric, an optional webhook POST).

Snapshots carry counts per label, never rows or text, so a busy week stays a few KB.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import structlog
from temporalio import activity

from activities.drift_store import DriftStore, RunOutputs
from activities.store import Store
from activities.webhook import Webhook
from contracts import (
    DriftAlert,
    DriftSnapshot,
    DriftWindows,
    FeatureCounts,
    Notification,
    RunFeaturesInput,
)
from decisions.drift_stats import (
    BODY_CHARS_BOUNDS,
    CONFIDENCE_BOUNDS,
    bin_counts,
    bin_labels,
)

OVERRIDE_ACTIONS = frozenset({"edit", "reject", "spam"})  # the reviewer did not send the AI reply


def categorical(
    name: str,
    group: str,
    base: Iterable[str],
    recent: Iterable[str],
    labels: list[str] | None = None,
) -> FeatureCounts:
    """Counts per label over the labels of either window (sorted), or the given ones."""
    b, r = Counter(base), Counter(recent)
    labels = list(labels or sorted(set(b) | set(r)))
    return FeatureCounts(
        name=name,
        group=group,
        labels=labels,
        baseline=[b[k] for k in labels],
        recent=[r[k] for k in labels],
    )


def numeric(
    name: str, group: str, base: Iterable[float], recent: Iterable[float], bounds: Sequence[float]
) -> FeatureCounts:
    return FeatureCounts(
        name=name,
        group=group,
        ordered=True,
        labels=bin_labels(bounds),
        baseline=bin_counts(base, bounds),
        recent=bin_counts(recent, bounds),
    )


def outcome_label(run: RunOutputs) -> str:
    """What the automation decided: a review counts as `review` whatever the reviewer did
    later, so a recent window full of still-pending reviews compares fairly."""
    if run.reviewed:
        return "review"
    return run.outcome or "in_progress"


def features(store: DriftStore, windows: DriftWindows) -> list[FeatureCounts]:
    spans = {
        "baseline": (windows.baseline_start, windows.recent_start),
        "recent": (windows.recent_start, windows.recent_end),
    }
    ins = {w: store.features(*span) for w, span in spans.items()}
    outs = {w: store.outputs(*span) for w, span in spans.items()}
    acts = {w: store.review_actions(*span) for w, span in spans.items()}

    def pair(rows: dict, fn) -> tuple[list, list]:
        return [fn(x) for x in rows["baseline"]], [fn(x) for x in rows["recent"]]

    def present(rows: dict, fn) -> tuple[list, list]:
        b, r = pair(rows, fn)
        return [v for v in b if v is not None], [v for v in r if v is not None]

    return [
        categorical("language", "input", *pair(ins, lambda f: f.language or "unknown")),
        categorical("channel", "input", *pair(ins, lambda f: f.channel)),
        categorical("customer_tier", "input", *pair(ins, lambda f: f.customer_tier)),
        categorical(
            "metadata_keys",
            "input",
            *pair(ins, lambda f: str(f.metadata_keys) if f.metadata_keys < 3 else "3+"),
            labels=["0", "1", "2", "3+"],
        ),
        numeric("body_chars", "input", *pair(ins, lambda f: f.body_chars), BODY_CHARS_BOUNDS),
        categorical("category", "input", *pair(outs, lambda o: o.category or "none")),
        categorical("outcome", "output", *pair(outs, outcome_label)),
        numeric("confidence", "output", *present(outs, lambda o: o.confidence), CONFIDENCE_BOUNDS),
        categorical(
            "review_rate",
            "output",
            *pair(outs, lambda o: "review" if o.reviewed else "auto"),
            labels=["auto", "review"],
        ),
        categorical(
            "override_rate",
            "output",
            *pair(acts, lambda a: "override" if a in OVERRIDE_ACTIONS else "approve"),
            labels=["approve", "override"],
        ),
    ]


def alert_message(alert: DriftAlert) -> str:
    """One line per drifted feature: numbers and labels only, never ticket text."""
    lines = [f"aiflow drift: {len(alert.features)} feature(s) drifted ({alert.workflow_id})"]
    for f in alert.features:
        ks = f", KS D {f.ks_d:.3f} p {f.ks_p:.2g}" if f.ks_d is not None else ""
        lines.append(f"- {f.name}: PSI {f.psi:.3f}{ks}; {f.change}")
    return "\n".join(lines)


class DriftActivities:
    """Bound to the store and the optional drift webhook once per worker."""

    def __init__(self, store: Store, webhook: Webhook | None = None) -> None:
        self.drift_store = DriftStore(store.engine)
        self.drift_store.create_schema()
        self.webhook = webhook

    @activity.defn(name="record_run_features")
    def record_features(self, inp: RunFeaturesInput) -> None:
        self.drift_store.put_features(inp)

    @activity.defn(name="drift_snapshot")
    def snapshot(self, windows: DriftWindows) -> DriftSnapshot:
        return DriftSnapshot(windows=windows, features=features(self.drift_store, windows))

    @activity.defn(name="drift_alert")
    def alert(self, alert: DriftAlert) -> None:
        """Log and count on the first attempt only (a retry is for the webhook), then
        POST; a failed POST raises so Temporal retries it under the alert policy."""
        if activity.info().attempt == 1:
            # fetched here, not cached at import: it follows the current structlog config
            log = structlog.get_logger("aiflow.drift")
            counter = activity.metric_meter().create_counter(
                "aiflow_drift_alerts", "Features found drifting by a drift check"
            )
            for f in alert.features:
                log.warning(
                    "drift.detected",
                    feature=f.name,
                    group=f.group,
                    psi=f.psi,
                    ks_d=f.ks_d,
                    ks_p=f.ks_p,
                    change=f.change,
                    baseline_n=f.baseline_n,
                    recent_n=f.recent_n,
                    workflow_id=alert.workflow_id,
                )
                counter.add(1, {"feature": f.name})
        if self.webhook is not None:
            self.webhook.post(
                Notification(
                    key=f"{alert.workflow_id}:drift",
                    kind="drift",
                    workflow_id=alert.workflow_id,
                    ticket_id="",
                    message=alert_message(alert),
                )
            )
