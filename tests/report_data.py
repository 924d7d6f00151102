"""Hand-made runs with exact latencies and costs for the report tests, and the report's
figures worked out by hand from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.store import Store
from contracts import (
    Correction,
    Outcome,
    PersistRunInput,
    ReviewAction,
    ReviewProposal,
    ReviewRequest,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
M, CODE, RESOLVED = StepKind.MODEL, StepKind.CODE, Outcome.RESOLVED


def rec(seq: int, step: str, kind: StepKind, ms: float, outcome: str = "ok", **f) -> StepRecord:
    end = T0 + timedelta(milliseconds=ms)
    return StepRecord(
        seq=seq,
        step=step,
        kind=kind,
        started_at=T0,
        ended_at=end,
        latency_ms=ms,
        outcome=outcome,
        **f,
    )


def call(seq, step, ms, model, provider, tin, tout, cost, attempt=1, **f) -> StepRecord:
    return rec(
        seq,
        step,
        M,
        ms,
        model=model,
        provider=provider,
        input_tokens=tin,
        output_tokens=tout,
        cost_usd=cost,
        attempt=attempt,
        **f,
    )


def head(*rules: tuple[str, float]) -> list[StepRecord]:
    steps = [rec(1, "intake", StepKind.CODE, 0.0)]
    return steps + [rec(2, "rules", StepKind.RULE, ms, out) for out, ms in rules]


def review(wid: str, minutes: float) -> tuple[ReviewRequest, datetime]:
    proposal = ReviewProposal(category="billing", priority="normal", reply="Hello, done.")
    r = ReviewRequest(
        review_id=f"rv-{wid}",
        version=1,
        workflow_id=wid,
        ticket_id=wid,
        queue="general",
        proposal=proposal,
        reasons=["low_confidence"],
        requested_at=T0,
        sla_deadline=T0 + timedelta(hours=24),
    )
    return r, T0 + timedelta(minutes=minutes)


def save(
    store: Store,
    wid: str,
    steps: list[StepRecord],
    outcome: Outcome | None = None,
    latency: float = 0.0,
    review_status: str | None = None,
    action: ReviewAction | None = None,
    minutes: float = 0.0,
) -> None:
    result = None
    if outcome is not None:
        result = TriageResult(
            workflow_id=wid,
            ticket_id=wid,
            outcome=outcome,
            route="general",
            cost_usd=round(sum(s.cost_usd for s in steps), 10),
            latency_ms=latency,
            model_calls=sum(1 for s in steps if s.kind == M and s.outcome == "ok"),
        )
    req, decided = review(wid, minutes) if review_status else (None, None)
    correction = None
    if action is not None:
        final = req.proposal.model_copy(update={"category": "account"})
        correction = Correction(
            decision_id=f"d-{wid}",
            review_id=req.review_id,
            action=action,
            reviewer="ana",
            requested_at=T0,
            decided_at=decided,
            proposal=req.proposal,
            final=None
            if action == ReviewAction.REJECT
            else final
            if action == ReviewAction.EDIT
            else req.proposal,
        )
    store.save_run(
        PersistRunInput(
            workflow_id=wid,
            run_id="r1",
            ticket_id=wid,
            stage=Stage.DONE if result else Stage.REVIEW,
            result=result,
            steps=steps,
            review_reasons=["low_confidence"] if review_status else [],
            review=req,
            review_status=review_status,
            correction=correction,
        )
    )


def save_mixed(store: Store, tag: str) -> None:
    """Eight runs: resolved, edited (retries, a fallback, QA regeneration, over budget),
    closed by a rule, rejected at intake, waiting for review, failed, rejected and approved
    by a reviewer."""
    small, large, alt = ("m-small", "p1"), ("m-large", "p1"), ("m-alt", "p2")
    qa, dec, hum, fin = StepKind.QA, StepKind.CODE, StepKind.HUMAN, StepKind.CODE
    r1 = head(("route:general", 0.5)) + [
        call(3, "classify", 1200.0, *small, 300, 40, 0.0001, attempt=2),
        call(4, "draft", 4000.0, *large, 500, 200, 0.0004, details={"repairs": ["x"], "reasks": 1}),
        rec(5, "qa", qa, 1.0, "pass"),
        rec(6, "decide", dec, 0.0, "auto"),
        rec(7, "finalize", fin, 2.0, "resolved"),
    ]
    r2 = head(("route:billing", 0.5)) + [
        call(
            3,
            "classify",
            3500.0,
            *small,
            300,
            40,
            0.0001,
            details={"latency_budget_ms": 3000.0, "over_budget": True},
        ),
        rec(
            4,
            "draft",
            M,
            900.0,
            "error",
            model="m-large",
            provider="p1",
            reasoning="RateLimited: 429 slow down",
        ),
        call(5, "draft", 7000.0, *alt, 450, 180, 0.0006, details={"fallbacks": 1}),
        rec(6, "qa", qa, 1.0, "fail"),
        call(7, "draft", 2000.0, *large, 520, 210, 0.0004, attempt=3, details={"reused": True}),
        rec(8, "qa", qa, 1.0, "pass"),
        rec(9, "decide", dec, 0.0, "review"),
        rec(10, "review", hum, 3_600_000.0, "edit"),
        rec(11, "finalize", fin, 2.0, "edited", details={"run_over_budget": True}),
    ]
    r5 = head(("route:security", 0.5)) + [
        call(3, "classify", 800.0, *small, 200, 30, 0.00005),
        call(4, "draft", 3000.0, *large, 400, 150, 0.0003),
        rec(5, "qa", qa, 1.0, "pass"),
        rec(6, "decide", dec, 0.0, "review"),
    ]
    r6 = head(("route:general", 0.5)) + [
        rec(3, "classify", M, 0.2, "skipped:breaker_open", model="m-small", provider="p1"),
        rec(
            4,
            "classify",
            M,
            60000.0,
            "error",
            model="m-alt",
            provider="p2",
            reasoning="timeout: START_TO_CLOSE",
        ),
        rec(5, "finalize", fin, 1.0, "failed"),
    ]

    def reviewed(ms_classify, ms_draft, ms_review, action):
        return head(("route:general", 0.5)) + [
            call(3, "classify", ms_classify, *small, 300, 40, 0.0001),
            call(4, "draft", ms_draft, *large, 500, 200, 0.0004),
            rec(5, "qa", qa, 1.0, "pass"),
            rec(6, "decide", dec, 0.0, "review"),
            rec(7, "review", hum, ms_review, action),
            rec(8, "finalize", fin, 1.0, "done"),
        ]

    save(store, f"{tag}-r1", r1, Outcome.RESOLVED, 5300.0)
    save(store, f"{tag}-r2", r2, Outcome.EDITED, 3_616_500.0, "decided", ReviewAction.EDIT, 60)
    save(
        store,
        f"{tag}-r3",
        head(("close:spam", 1.0)) + [rec(3, "finalize", fin, 1.0, "closed")],
        Outcome.CLOSED,
        3.0,
    )
    save(
        store,
        f"{tag}-r4",
        [rec(1, "intake", dec, 0.0, "rejected"), rec(2, "finalize", fin, 1.0, "rejected")],
        Outcome.REJECTED,
        1.5,
    )
    save(store, f"{tag}-r5", r5, None, 0.0, "pending")
    save(store, f"{tag}-r6", r6, Outcome.FAILED, 60010.0)
    save(
        store,
        f"{tag}-r7",
        reviewed(1000.0, 5000.0, 60000.0, "reject"),
        Outcome.REJECTED,
        67000.0,
        "decided",
        ReviewAction.REJECT,
        2,
    )
    save(
        store,
        f"{tag}-r8",
        reviewed(2500.0, 6500.0, 120000.0, "approve"),
        Outcome.APPROVED,
        130000.0,
        "decided",
        ReviewAction.APPROVE,
        1,
    )


def lat(step, n, p50, p95, p99, mx, budget=None, over=0, flagged=0) -> dict:
    return {
        "step": step,
        "records": n,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": mx,
        "budget_ms": budget,
        "over_budget": over,
        "flagged": flagged,
    }


def usage(label_key, label, calls, tin, tout, cost, **more) -> dict:
    return {
        label_key: label,
        "calls": calls,
        **more,
        "tokens_in": tin,
        "tokens_out": tout,
        "cost_usd": cost,
    }


# The figures of save_mixed, worked out by hand from the rows above.
MIXED = {
    "runs": {
        "total": 8,
        "by_outcome": {
            "approved": 1,
            "closed": 1,
            "edited": 1,
            "failed": 1,
            "open:review": 1,
            "rejected": 2,
            "resolved": 1,
        },
        "by_workflow": {  # every run of the fixture is a ticket's
            "TicketTriage": {
                "approved": 1,
                "closed": 1,
                "edited": 1,
                "failed": 1,
                "open:review": 1,
                "rejected": 2,
                "resolved": 1,
            }
        },
    },
    "latency": [
        lat("intake", 8, 0.0, 0.0, 0.0, 0.0),
        lat("rules", 7, 0.5, 1.0, 1.0, 1.0),  # six 0.5 and one 1.0: rank 4 of 7, rank 7
        lat("classify", 7, 1200.0, 60000.0, 60000.0, 60000.0, 3000.0, 2, 1),
        lat("draft", 7, 4000.0, 7000.0, 7000.0, 7000.0, 6000.0, 2, 0),  # r8's 6500: old row
        lat("qa", 6, 1.0, 1.0, 1.0, 1.0),
        lat("decide", 5, 0.0, 0.0, 0.0, 0.0),
        lat("review", 3, 120000.0, 3600000.0, 3600000.0, 3600000.0),
        lat("finalize", 7, 1.0, 2.0, 2.0, 2.0),
        # decision latency = wall time - review wait: 5300, 16500, 3, 1.5, 60010, 7000, 10000
        lat("run", 7, 7000.0, 60010.0, 60010.0, 60010.0, 15000.0, 2, 1),
    ],
    "cost": {
        "total_usd": 0.00295,
        "per_run": {
            "runs": 8,
            "mean_usd": 0.00036875,
            "p50_usd": 0.00035,
            "p95_usd": 0.0011,
            "max_usd": 0.0011,
        },
        "by_step": [usage("step", s, 0, 0, 0, 0.0) for s in ("intake", "rules")]
        + [
            usage("step", "classify", 5, 1400, 190, 0.00045),
            usage("step", "draft", 6, 2870, 1140, 0.0025),
        ]
        + [usage("step", s, 0, 0, 0, 0.0) for s in ("qa", "decide", "review", "finalize")],
        "by_model": [
            usage("model", "p1/m-large", 5, 2420, 960, 0.0019, errors=1),
            usage("model", "p1/m-small", 5, 1400, 190, 0.00045, errors=0),
            usage("model", "p2/m-alt", 1, 450, 180, 0.0006, errors=1),
        ],
        "by_outcome": [
            {"outcome": o, "runs": n, "cost_usd": c, "mean_usd": m}
            for o, n, c, m in [
                ("approved", 1, 0.0005, 0.0005),
                ("closed", 1, 0.0, 0.0),
                ("edited", 1, 0.0011, 0.0011),
                ("failed", 1, 0.0, 0.0),
                ("open:review", 1, 0.00035, 0.00035),
                ("rejected", 2, 0.0005, 0.00025),
                ("resolved", 1, 0.0005, 0.0005),
            ]
        ],
    },
    # 11 calls by 5 runs (r6 called none that answered): 2.2 a run; r4 and r3 avoided them
    "avoided": {
        "model_calls": 11,
        "runs_with_model_calls": 5,
        "calls_per_model_run": 2.2,
        "layers": [
            {"layer": "intake", "runs": 1, "calls_avoided": 2.2},
            {"layer": "rules", "runs": 1, "calls_avoided": 2.2},
            {"layer": "cache", "runs": 0, "calls_avoided": 0.0, "note": "one call per step served"},
        ],
        "calls_avoided": 4.4,
    },
    "tiers": {
        "runs": 0,
        "by_tier": [],
        "steps": [],
        "cost_per_answered_usd": None,
    },  # none of these runs was on the layered config
    "reviews": {
        "runs": 8,
        "reviewed_runs": 4,
        "review_rate": 0.5,
        "pending": 1,
        "decided": 3,
        "expired": 0,
        "by_route": [{"name": "general", "runs": 4, "share": 0.5}],
        "by_reason": [{"name": "low_confidence", "runs": 4, "share": 0.5}],
        "decisions": 3,
        "approved": 1,
        "edited": 1,
        "rejected": 1,
        "spam": 0,
        "overrides": 2,
        "override_rate": 0.6667,
        "mean_reply_edit_ratio": 0.0,
        "median_time_to_review_s": 120.0,
    },
    "problems": {
        "counts": {
            "error:RateLimited": 1,
            "error:timeout": 1,
            "fallback": 1,
            "qa_fail": 1,
            "reask": 1,
            "repair": 1,
            "retry": 3,
            "reused": 1,
            "run_failed": 1,
            "skipped:breaker_open": 1,
            "truncated": 0,
        }
    },
}
