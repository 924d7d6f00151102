"""The answer cache: trusted answers looked up before a model step, and what a finished
run writes back (decisions/answer_cache.py keys them, activities/answer_cache.py stores).

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from contracts.common import Wire

Tier = Literal["rules", "exact", "semantic", "small", "large", "human"]
TIERS: tuple[str, ...] = ("rules", "exact", "semantic", "small", "large", "human")


class CachePolicy(Wire):
    """How a run uses the cache; pinned in its RunConfig when it starts."""

    enabled: bool = False
    semantic: bool = True  # nearest-neighbour lookup after an exact miss
    # Cosine similarity a semantic hit needs (data/cache/threshold.json: STS-B calibration).
    min_similarity: float = Field(0.9, ge=0.0, le=1.0)
    # Auto-resolved runs enter only at this confidence, and once this many runs agreed.
    auto_min_confidence: float = Field(0.85, ge=0.0, le=1.0)
    auto_agreement: int = Field(3, ge=1)
    ttl_seconds: float = Field(30 * 86400.0, gt=0)
    # The classification confidence a cache hit carries into the decide step: a human's
    # answer to the same question is as good as the model's best.
    hit_confidence: float = Field(0.95, ge=0.0, le=1.0)


class CacheLookup(Wire):
    workflow_id: str
    step: str
    key: str  # exact key: sha256 of the normalised inputs and everything that shapes them
    scope: str  # semantic scope: the same, without the question text
    text: str  # the masked, normalised question (no customer data): embedded for search
    semantic: bool = True
    min_similarity: float = 0.9


class CacheHit(Wire):
    key: str
    tier: Literal["exact", "semantic"]
    similarity: float = 1.0
    output: dict[str, Any]  # a template: slots {{name}} are filled from the current item
    source_workflow_id: str
    approved_by: str  # reviewer:<id> | auto:agreement
    entity_hashes: list[str] = Field(default_factory=list)  # the source item's values
    created_at: datetime
    hits: int = 0


class CacheLookupResult(Wire):
    hit: CacheHit | None = None
    skipped: list[str] = Field(default_factory=list)  # corrupt rows passed over
    latency_ms: float = 0.0


class CacheWrite(Wire):
    step: str
    key: str
    scope: str
    text: str
    output: dict[str, Any]
    entity_hashes: list[str] = Field(default_factory=list)
    trust: Literal["human", "auto"]
    approved_by: str
    confidence: float | None = None


class CacheRecordInput(Wire):
    """What a finished run teaches the cache: entries to add or replace, keys to evict."""

    workflow_id: str
    writes: list[CacheWrite] = Field(default_factory=list)
    evict: list[str] = Field(default_factory=list)  # keys; a reviewer rejected their answer
    evict_reason: str | None = None
    auto_agreement: int = 3
    ttl_seconds: float = 30 * 86400.0
    semantic: bool = True  # embed new entries for lookups by meaning
    # Auto entries agree by meaning at the serving threshold (paraphrases count as repeats).
    min_similarity: float = Field(0.9, ge=0.0, le=1.0)


class CacheRecordResult(Wire):
    written: int = 0
    trusted: int = 0  # entries that became servable by this write
    evicted: int = 0
