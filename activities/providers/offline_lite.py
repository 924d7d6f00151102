"""The offline provider's small tier: faster, rougher triage answers, honestly calibrated.

The first stage of a small-to-large cascade (`OfflineProvider` dispatches to it by model id;
`activities/providers/offline.py` is the large tier and describes both):

* classify (`offline-knn-lite-v1`): the large tier's kNN, cheapened. TF-IDF over whole
  words (lower-cased NFC, digit runs folded to '0') instead of character 3-5-grams, so a
  German compound or a French plural no longer meets its relatives; k=3 instead of 5; and
  priority is the urgency keywords, else the winning category's usual priority in the
  examples, not the neighbours' vote. Its confidence is the same vote share x fit x
  evidence with the large tier's constants (not tuned to it), and stays honest: on
  `data/offline/eval.jsonl` it is right on 42 of 49 tickets (the large tier 48), yet all
  27 tickets it gives 0.7 or more are right (its surest mistake scores 0.692). So a
  cascade can keep its answers at 0.7 or more (55% of tickets) and escalate the rest.
* draft (`offline-template-lite-v1`): the same templates, shorter: greeting, opening with
  the ticket id, the category's paragraph, sign-off; no urgency or reference sentence and
  no closing line. It passes QA on ordinary tickets. Its slip is the large drafter's
  (it quotes the customer's sentence holding a 13-19 digit run, i.e. a card number) but,
  unlike the large drafter, it does not act on `qa_feedback`: it quotes the card number on
  every attempt, so QA fails each time and a cascade must escalate to the large drafter.

Simulated latency is LITE_LATENCY_FACTOR (0.25) x the large tier's (`latency_ms` + jitter).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Any

from activities.providers.offline import (
    _DIGITS,
    _URGENT,
    _WORD,
    _card_sentence,
    _Index,
    classification,
    draft_facts,
    ticket_text,
    vote,
)
from contracts import CATEGORIES, PRIORITIES

K_NEIGHBOURS = 3


def word_grams(text: str) -> Counter[str]:
    """Whole words of lower-cased NFC text, digit runs folded to '0'."""
    return Counter(_WORD.findall(_DIGITS.sub("0", unicodedata.normalize("NFC", text).lower())))


class LiteTier:
    """The small tier's classify and draft, over the large tier's examples and templates."""

    def __init__(self, examples: list[dict[str, str]], templates: dict[str, Any]) -> None:
        self._examples = examples
        self._templates = templates
        self._index = _Index([e["text"] for e in examples], features=word_grams)
        # Each category's most frequent priority; ties go to the more severe one.
        self._usual_priority: dict[str, str] = {}
        for category in CATEGORIES:
            counts = Counter(e["priority"] for e in examples if e["category"] == category)
            self._usual_priority[category] = max(reversed(PRIORITIES), key=counts.__getitem__)

    def classify(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The small tier's classification, as a JSON-ready dict."""
        text = ticket_text(variables)
        neighbours = self._index.nearest(text, K_NEIGHBOURS)
        category, confidence = vote(neighbours, self._examples, text)
        priority = "urgent" if _URGENT.search(text) else self._usual_priority[category]
        return classification(
            variables, text, category, priority, confidence, neighbours, self._examples
        )

    def draft(self, variables: dict[str, Any]) -> dict[str, str]:
        """The small tier's draft reply, as a JSON-ready dict."""
        t = self._templates
        f = draft_facts(t, variables)
        lines = [f.greeting, t["opening"][f.lang].format(ticket_id=f.ticket_id[:40])]
        quoted = _card_sentence(f.body)  # qa_feedback or not: the small model's blind spot
        if quoted:
            lines.append(t["quote"][f.lang].format(sentence=quoted))
        lines += [t["categories"][f.category][f.lang], t["signoff"][f.lang]]
        notes = [f"lite template {f.category}/{f.lang}"]
        if quoted:
            notes.append("quoted the customer's sentence")
        if f.feedback:
            notes.append(f"given {len(f.feedback)} QA finding(s)")
        return {"reply": "\n\n".join(lines), "reasoning": "; ".join(notes)}
