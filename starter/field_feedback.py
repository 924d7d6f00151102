"""Field reviews' corrections as data, for every workflow but tickets: each `FieldDelta`
a reviewer made (stored with its run) as one line of `field_corrections.jsonl`, and the
correction counts per workflow and field. Part of `aiflow feedback export` / `stats`."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from activities.store import RunRow, Store


def field_corrections(store: Store, since: datetime | None = None) -> list[dict[str, Any]]:
    """One line per corrected field of every finished run with a field review, oldest
    first: workflow, run, item, field, the AI's value, the reviewer's, who."""
    with Session(store.engine) as session:
        query = select(RunRow).where(RunRow.stage == "done").order_by(RunRow.created_at)
        if since is not None:
            query = query.where(RunRow.created_at >= since)
        rows = session.exec(query).all()
    out = []
    for row in rows:
        result = row.result or {}
        for delta in result.get("deltas") or []:
            out.append(
                {
                    "workflow_type": result.get("workflow_type"),
                    "workflow_id": row.workflow_id,
                    "item_key": row.ticket_id,
                    "field": delta.get("field"),
                    "proposed": delta.get("proposed"),
                    "corrected": delta.get("corrected"),
                    "reviewer": result.get("reviewer"),
                    "outcome": row.outcome,
                }
            )
    return out


def field_summary(lines: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Corrections per workflow type and field: where the machine is wrong most."""
    by_type: dict[str, Counter] = {}
    for line in lines:
        by_type.setdefault(line["workflow_type"] or "?", Counter())[line["field"]] += 1
    return {t: dict(c.most_common()) for t, c in sorted(by_type.items())}
