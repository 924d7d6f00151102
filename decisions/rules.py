"""Rule engine: a versioned `RuleSet` (data) applied to a `NormalizedTicket`.

Pure and deterministic: it runs inside the workflow sandbox, so stdlib `re` only.

Semantics:
  * Rules are evaluated in order and every rule is evaluated; each matching rule is
    listed in `matches`, in rule order.
  * A rule matches when ALL given parts of its `when` hold; a condition with no parts
    never matches. The text is `subject + "\\n" + body` (the subject is one line).
      - `any_keywords`: some keyword occurs case-insensitively (Unicode case folding)
        as a whole word or phrase: not preceded or followed by a letter, digit or "_";
        a space inside a keyword matches any whitespace run.
      - `any_patterns`: some regular expression matches (`re.IGNORECASE`, searched).
      - `metadata`: for each field, the ticket's value is one of the allowed values
        (case-insensitive). `channel`, `customer_tier` and `language` are read from the
        ticket, any other field from `ticket.metadata`; a missing value never matches.
      - `max_body_chars` / `min_body_chars`: inclusive bounds on `len(body)`.
  * The first matching `close` sets `close`: the run ends early and no model is called.
  * The first matching `route` with a `queue` sets `queue` (default "general"); the first
    matching `route` with a `priority` sets `priority`.
  * `flag` only records the match.
  * Any matching rule whose action has `require_review` sets `require_review` and adds
    `"rule:<rule_id>"` to `review_reasons`, whatever its type (close included: the
    workflow decides whether a review still matters once a rule closed the ticket).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from contracts import NormalizedTicket, RuleCondition, RuleMatch, RuleSet, RulesVerdict

DEFAULT_QUEUE = "general"
TICKET_FIELDS = ("channel", "customer_tier", "language")


def evaluate_rules(rules: RuleSet, ticket: NormalizedTicket) -> RulesVerdict:
    """Apply every rule of `rules` to `ticket`; see the module docstring."""
    text = f"{ticket.subject}\n{ticket.body}"
    folded = _fold(text)
    matches: list[RuleMatch] = []
    close: RuleMatch | None = None
    queue: str | None = None
    priority: str | None = None
    reasons: list[str] = []
    for rule in rules.rules:
        try:
            matched = _holds(rule.when, ticket, text, folded)
        except re.error as exc:
            raise ValueError(f"rule {rule.id!r} has an invalid pattern: {exc}") from exc
        if not matched:
            continue
        action = rule.action
        match = RuleMatch(rule_id=rule.id, action=action)
        matches.append(match)
        if action.type == "close" and close is None:
            close = match
        if action.type == "route":
            queue = queue or action.queue
            priority = priority or action.priority
        if action.require_review:
            reasons.append(f"rule:{rule.id}")
    return RulesVerdict(
        rules_version=rules.version,
        matches=matches,
        close=close,
        queue=queue or DEFAULT_QUEUE,
        priority=priority,
        require_review=bool(reasons),
        review_reasons=reasons,
    )


def check_rules(rules: RuleSet) -> list[str]:
    """Problems that would make `rules` misbehave; meant for load time, not the workflow."""
    problems: list[str] = []
    seen: set[str] = set()
    for rule in rules.rules:
        if rule.id in seen:
            problems.append(f"rule {rule.id!r}: duplicate id")
        seen.add(rule.id)
        if _is_empty(rule.when):
            problems.append(f"rule {rule.id!r}: empty condition never matches")
        for pattern in rule.when.any_patterns:
            try:
                _pattern(pattern)
            except re.error as exc:
                problems.append(f"rule {rule.id!r}: invalid pattern {pattern!r}: {exc}")
        action = rule.action
        if action.type == "close" and not action.outcome_reason:
            problems.append(f"rule {rule.id!r}: close needs an outcome_reason")
        if action.type == "route" and not (action.queue or action.priority):
            problems.append(f"rule {rule.id!r}: route needs a queue or a priority")
    return problems


def _holds(when: RuleCondition, ticket: NormalizedTicket, text: str, folded: str) -> bool:
    # Cheap parts first, so length bounds keep regexes off long bodies.
    if _is_empty(when):
        return False
    size = len(ticket.body)
    if when.max_body_chars is not None and size > when.max_body_chars:
        return False
    if when.min_body_chars is not None and size < when.min_body_chars:
        return False
    for field, allowed in when.metadata.items():
        value = getattr(ticket, field) if field in TICKET_FIELDS else ticket.metadata.get(field)
        if value is None or _fold(value) not in {_fold(a) for a in allowed}:
            return False
    if when.any_keywords:
        keywords = _keywords(tuple(when.any_keywords))
        if keywords is None or keywords.search(folded) is None:
            return False
    if when.any_patterns:
        if not any(_pattern(p).search(text) for p in when.any_patterns):
            return False
    return True


def _is_empty(when: RuleCondition) -> bool:
    return not (
        when.any_keywords
        or when.any_patterns
        or when.metadata
        or when.max_body_chars is not None
        or when.min_body_chars is not None
    )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text.casefold())


@functools.lru_cache(maxsize=512)
def _keywords(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = [
        r"\s+".join(re.escape(word) for word in _fold(keyword).split())
        for keyword in keywords
        if keyword.strip()
    ]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)
