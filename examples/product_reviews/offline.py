"""The offline provider's answer for `reviews.sentiment`: a small lexicon, deterministic,
so the example runs with no key. (Activity-side code: the worker loads it.)"""

from __future__ import annotations

import re
from typing import Any

POSITIVE = {"love", "great", "excellent", "perfect", "comfortable", "recommend", "happy"}
NEGATIVE = {"broken", "refund", "terrible", "disappointed", "leaks", "worst", "return"}
TOPICS = {"size": "fit", "fit": "fit", "delivery": "delivery", "price": "price", "zip": "quality"}


def sentiment(variables: dict[str, Any]) -> dict[str, Any]:
    words = re.findall(r"[a-z]+", str(variables.get("text", "")).lower())
    pos, neg = sum(w in POSITIVE for w in words), sum(w in NEGATIVE for w in words)
    label = "positive" if pos > neg else "negative" if neg > pos else "neutral"
    topics = sorted({TOPICS[w] for w in words if w in TOPICS})
    return {
        "sentiment": label,
        "topics": topics,
        "confidence": round(0.5 + 0.1 * abs(pos - neg), 2),
    }


TASKS = {"reviews.sentiment": sentiment}
