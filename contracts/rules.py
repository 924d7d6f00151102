"""Rules as data: conditions, actions and what the rule layer decided.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.common import Wire


class RuleCondition(Wire):
    """All given parts must hold. Text matching is case-insensitive on subject + body."""

    any_keywords: list[str] = Field(default_factory=list)
    any_patterns: list[str] = Field(default_factory=list)  # regular expressions
    metadata: dict[str, list[str]] = Field(default_factory=dict)  # field -> allowed values
    max_body_chars: int | None = None
    min_body_chars: int | None = None


class RuleAction(Wire):
    type: Literal["close", "route", "flag"]
    outcome_reason: str | None = None  # for close: spam, auto_closed, ...
    queue: str | None = None  # for route
    priority: str | None = None
    require_review: bool = False
    reply: str | None = None  # canned reply for close, if any


class Rule(Wire):
    id: str
    description: str = ""
    when: RuleCondition
    action: RuleAction


class RuleSet(Wire):
    version: str
    rules: list[Rule]


class RuleMatch(Wire):
    rule_id: str
    action: RuleAction


class RulesVerdict(Wire):
    """What the rule layer decided; `close` set means no model is called."""

    rules_version: str
    matches: list[RuleMatch] = Field(default_factory=list)
    close: RuleMatch | None = None
    queue: str = "general"
    priority: str | None = None
    require_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)
