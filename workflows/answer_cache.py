"""The cache tier of a model step, as a workflow building block: look a step's answer up
(exact key, then by meaning), re-validate a hit before serving it, and tell the cache what
a finished run learnt. Deterministic workflow code; the store is reached by local
activities, so a lookup costs no extra workflow task.

A hit is served only when it parses as the step's output schema, every slot of its
template is filled from the current item, the filled answer carries no value of another
customer (the entity guard), and the caller's own checks (a draft's QA) pass. Anything
else is a miss, recorded with its reason, and the model answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError

from contracts import ModelTarget, NormalizedTicket, PromptRef, StepKind
from contracts.cache import (
    CacheHit,
    CacheLookup,
    CacheLookupResult,
    CachePolicy,
    CacheRecordInput,
    CacheWrite,
)
from decisions import answer_cache as ac
from workflows.model_step import input_tokens_estimate
from workflows.policies import CACHE_LOOKUP_LOCAL_ACTIVITY, CACHE_RECORD_LOCAL_ACTIVITY
from workflows.steps import StepRecorder

with workflow.unsafe.imports_passed_through():
    from activities.answer_cache import CacheActivities

S = TypeVar("S", bound=BaseModel)


@dataclass
class Keyed:
    """One step's place in the cache: its exact key, semantic scope and question."""

    step: str
    key: str
    scope: str
    text: str


def saved_usd(target: ModelTarget, variables: dict[str, Any], output: dict[str, Any]) -> float:
    """What the call a hit replaced would have cost at the first model's pinned price."""
    out_tokens = len(str(output)) // 4 + 1
    tokens_in = input_tokens_estimate(variables)
    return round(
        (tokens_in * target.input_per_mtok + out_tokens * target.output_per_mtok) / 1e6, 10
    )


class ItemCache:
    """The cache as one item's run sees it: its slots and question, computed once."""

    def __init__(self, policy: CachePolicy, ticket: NormalizedTicket, rules_version: str) -> None:
        self.policy = policy
        self.rules_version = rules_version
        self.slots = ac.item_slots(ticket)
        self.text = ac.question(ticket, self.slots)
        self.own_text = f"{ticket.subject}\n{ticket.body}"
        self.served: dict[str, CacheHit] = {}  # step -> the hit that settled it
        self.keyed: dict[str, Keyed] = {}
        self._key_args: dict[str, tuple] = {}

    def key(
        self,
        step: str,
        prompt: PromptRef,
        schema: type[BaseModel],
        chain: list[ModelTarget],
        inputs: dict[str, Any],
        scope_extra: dict[str, Any] | None = None,
    ) -> Keyed:
        scope = ac.fingerprint(
            step, prompt, ac.schema_version(schema), chain, self.rules_version, scope_extra
        )
        k = Keyed(step, ac.exact_key(scope, self.text, inputs), scope, self.text)
        self.keyed[step] = k
        self._key_args[step] = (prompt, schema, chain, inputs)
        return k

    def rekey(self, step: str, scope_extra: dict[str, Any]) -> None:
        """Key `step` again with other scope inputs (a reviewer changed the category the
        draft was written for: the corrected reply belongs under the corrected one)."""
        if step in self._key_args:
            prompt, schema, chain, inputs = self._key_args[step]
            self.key(step, prompt, schema, chain, inputs, scope_extra)

    async def serve(
        self,
        rec: StepRecorder,
        k: Keyed,
        schema: type[S],
        cost_of: Callable[[dict[str, Any]], float],
        check: Callable[[S], str | None] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> S | None:
        """The step's answer from the cache, re-validated, or None (a miss, recorded)."""
        if not self.policy.enabled:
            return None
        started = workflow.now()
        try:
            found: CacheLookupResult = await workflow.execute_local_activity_method(
                CacheActivities.cache_lookup,
                CacheLookup(
                    workflow_id=workflow.info().workflow_id,
                    step=k.step,
                    key=k.key,
                    scope=k.scope,
                    text=k.text,
                    semantic=self.policy.semantic,
                    min_similarity=self.policy.min_similarity,
                ),
                summary=f"cache {k.step}",
                **CACHE_LOOKUP_LOCAL_ACTIVITY,
            )
        except ActivityError as err:  # the cache is a fast path: its failure is a miss
            rec.add(k.step, StepKind.CACHE, started, "miss:unavailable", reasoning=str(err)[:200])
            return None
        details: dict[str, Any] = {"key": k.key[:16], "lookup_ms": found.latency_ms}
        if found.skipped:
            details["skipped_corrupt"] = len(found.skipped)
        hit = found.hit
        if hit is None:
            rec.add(k.step, StepKind.CACHE, started, "miss", details=details)
            return None
        details |= {
            "tier": hit.tier,
            "similarity": hit.similarity,
            "entry": hit.key[:16],
            "source_workflow_id": hit.source_workflow_id,
            "approved_by": hit.approved_by,
        }
        refused = None
        output = None
        filled = ac.fill(hit.output, self.slots)
        if filled is None:
            refused = "unfilled_slot"
        else:
            leaks = [
                f
                for v in filled.values()
                if isinstance(v, str)
                for f in ac.foreign_values(v, self.slots, hit.entity_hashes, self.own_text)
            ]
            if leaks:
                refused = "foreign_entity:" + ",".join(sorted(set(leaks)))
        if refused is None:
            try:
                output = schema.model_validate({**filled, **(defaults or {})})
            except ValidationError:
                refused = "schema"
        if refused is None and check is not None:
            refused = check(output)  # type: ignore[arg-type]
        if refused is not None:
            rec.add(k.step, StepKind.CACHE, started, f"rejected:{refused}", details=details)
            return None
        details["saved_usd"] = cost_of(hit.output)
        rec.add(k.step, StepKind.CACHE, started, f"hit:{hit.tier}", details=details)
        self.served[k.step] = hit
        return output

    def write(
        self, step: str, output: dict[str, Any], trust: str, by: str, confidence: float | None
    ) -> CacheWrite | None:
        """An entry for `step` from this run's answer, as a template (no customer data)."""
        k = self.keyed.get(step)
        if k is None:
            return None
        return CacheWrite(
            step=step,
            key=k.key,
            scope=k.scope,
            text=k.text,
            output=ac.templatize(output, self.slots),
            entity_hashes=ac.source_hashes(self.slots, self.own_text),
            trust=trust,  # type: ignore[arg-type]
            approved_by=by,
            confidence=confidence,
        )

    async def record(
        self, writes: list[CacheWrite | None], evict: list[str], reason: str | None = None
    ) -> None:
        """Tell the cache what this run learnt; a failure loses the lesson, not the run."""
        writes_ = [w for w in writes if w is not None]
        if not self.policy.enabled or not (writes_ or evict):
            return
        try:
            await workflow.execute_local_activity_method(
                CacheActivities.cache_record,
                CacheRecordInput(
                    workflow_id=workflow.info().workflow_id,
                    writes=writes_,
                    evict=evict,
                    evict_reason=reason,
                    auto_agreement=self.policy.auto_agreement,
                    ttl_seconds=self.policy.ttl_seconds,
                    semantic=self.policy.semantic,
                    min_similarity=self.policy.min_similarity,
                ),
                summary="cache record",
                **CACHE_RECORD_LOCAL_ACTIVITY,
            )
        except ActivityError as err:
            workflow.logger.warning("cache record failed: %s", err)
