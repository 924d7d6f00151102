"""The triage workflow's cache steps, as a mixin: the reply served from the cache (filled
for this customer, passed by the same QA as a fresh draft) and what a finished run
teaches the cache. Deterministic workflow code (workflows/answer_cache.py does the I/O).
"""

from __future__ import annotations

from temporalio import workflow

from contracts import (
    Classification,
    Correction,
    Draft,
    NormalizedTicket,
    Outcome,
    QaReport,
    RunConfig,
    StepKind,
)
from workflows.answer_cache import ItemCache, saved_usd
from workflows.qa import check_reply
from workflows.steps import StepRecorder


class TriageCacheSteps:
    """Host contract: the triage workflow's recorder, cache, answers and settled tiers."""

    rec: StepRecorder
    cache: ItemCache | None
    classification: Classification | None
    draft: Draft | None
    qa: QaReport | None
    settled: dict[str, str]

    async def cached_draft(
        self, cfg: RunConfig, ticket: NormalizedTicket, c: Classification, chain: list
    ) -> tuple[Draft, QaReport] | None:
        """The reply from the cache, filled for this customer and passed by the same QA a
        fresh draft gets; None on a miss."""
        assert self.cache is not None
        variables = {"subject": ticket.subject, "body": ticket.body, "category": c.category}
        k = self.cache.key(
            "draft",
            cfg.prompts["triage.draft"],
            Draft,
            chain,
            {},
            {"category": c.category, "priority": c.priority, "language": c.language},
        )

        def qa_refuses(d: Draft) -> str | None:
            report = check_reply(d.reply, ticket, c.language)
            return None if report.passed else "qa:" + ",".join(f.check for f in report.findings)

        draft = await self.cache.serve(
            self.rec,
            k,
            Draft,
            cost_of=lambda out: saved_usd(chain[0], variables, out),
            check=qa_refuses,
            defaults={"reasoning": "cached reply"},
        )
        if draft is None:
            return None
        self.settled["draft"] = self.cache.served["draft"].tier
        self.draft = draft
        self.qa = check_reply(draft.reply, ticket, c.language)
        self.rec.add("qa", StepKind.QA, workflow.now(), "pass", details={"draft_attempt": "cache"})
        return draft, self.qa

    async def learn(self, outcome: Outcome, correction: Correction | None) -> None:
        """What this run teaches the cache: a reviewer's approved or corrected answer, or an
        auto-resolved one (entered once enough runs agree); a rejection evicts."""
        cache, c, d = self.cache, self.classification, self.draft
        if cache is None or c is None:
            return
        p = cache.policy
        fresh = {s for s in ("classify", "draft") if s not in cache.served}
        writes, evict, reason = [], [], None
        if outcome == Outcome.RESOLVED and c.confidence >= p.auto_min_confidence:
            answer = {"category": c.category, "priority": c.priority, "language": c.language}
            if "classify" in fresh:
                writes.append(
                    cache.write("classify", answer, "auto", "auto:agreement", c.confidence)
                )
            if d is not None and "draft" in fresh:
                writes.append(
                    cache.write("draft", {"reply": d.reply}, "auto", "auto:agreement", c.confidence)
                )
        elif correction is not None and correction.action in ("approve", "edit"):
            f = correction.final
            by = f"reviewer:{correction.reviewer}"
            category = (f.category if f else None) or c.category
            priority = (f.priority if f else None) or c.priority
            answer = {"category": category, "priority": priority, "language": c.language}
            writes.append(cache.write("classify", answer, "human", by, None))
            reply = (f.reply if f else None) or (d.reply if d else None)
            if reply:
                # the reply belongs under the category the reviewer settled on (the run's
                # classification already carries the reviewer's fields by now)
                scope = {"category": category, "priority": priority, "language": c.language}
                cache.rekey("draft", scope)
                writes.append(cache.write("draft", {"reply": reply}, "human", by, None))
            if correction.action == "edit":  # the served answers were not right as they were
                evict = [h.key for h in cache.served.values()]
                reason = f"corrected by {by}"
        elif correction is not None and correction.action in ("reject", "spam"):
            evict = [h.key for h in cache.served.values()] + [k.key for k in cache.keyed.values()]
            reason = f"rejected by reviewer:{correction.reviewer}"
        await cache.record(writes, evict, reason)
