"""The offline model provider: aiflow's keyless, networkless default behind `ModelProvider`.

It is deterministic code, not a language model, but it answers like one, in two tiers for
a small-to-large cascade, chosen by `request.model` (TIERS; `tier_of`):

* large (`offline-knn-v1`, `offline-template-v1`; aliases offline-classify, offline-draft):
  - classify (`CLASSIFY_TASK`): k-nearest-neighbour vote (k=5, similarity-weighted) over
    the labelled examples in `data/offline/examples.jsonl`, using TF-IDF over character
    3-5-grams of word-padded, lower-cased NFC text and cosine similarity. Confidence is
    the winning vote share times a factor that falls when even the nearest example is not
    very similar and one that falls for tickets of fewer than six content words, so a vague
    or unfamiliar ticket gets a low confidence. Priority comes from urgency keywords
    (en/de/fr/es), else the neighbours' priority; language from the hint, else stopwords.
    On `data/offline/eval.jsonl` it is right on 48 of 49 tickets.
  - draft (`DRAFT_TASK`): a reply assembled from the per-category, per-language templates
    in `data/offline/templates.json` and the ticket's facts.
* small (`offline-knn-lite-v1`, `offline-template-lite-v1`; aliases offline-classify-small,
  offline-draft-small), in `offline_lite.py`: faster and rougher. Classify uses whole words
  instead of character n-grams, k=3 and each category's usual priority; it is right on 42
  of 49 eval tickets but its confidence is the same vote share x fit x evidence and stays
  calibrated (27 of 27 right at 0.7 or more). Draft is a shorter reply (no urgency,
  reference or closing sentence) that ignores `qa_feedback`. Its simulated latency is
  LITE_LATENCY_FACTOR (0.25) x the large tier's, and data/models.toml prices it lower.

Any other model id is the large tier, as before there were tiers, except one that says
"lite" or names the other triage task's model: that is a BadRequest.

Deliberate model-like mistake, so the workflow's QA loop has something to catch: when the
draft request carries no `qa_feedback` (a first attempt) and the ticket body contains a run
of 13-19 digits (possibly grouped by spaces or dashes, i.e. a card number), the reply quotes
the customer's sentence containing it (`You wrote: "..."`), echoing the number. With any
`qa_feedback` the large drafter quotes nothing of the customer's text; the small one quotes
it again, so QA fails on every attempt and a cascade must escalate to the large drafter.

Simulated latency and injected faults are deterministic functions of
`sha256(f"{seed}:{request_key}:{attempt}")`, so benchmarks and chaos tests are repeatable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, Field

from activities.errors import BadRequest, ProviderTimeout, ProviderUnavailable, RateLimited
from activities.providers.base import CLASSIFY_TASK, DRAFT_TASK, ModelRequest, ModelResponse
from contracts import CATEGORIES, PRIORITIES, Usage

FaultKind = Literal["timeout", "rate_limit", "server_error", "malformed", "bad_request"]

LANGUAGES = ("en", "de", "fr", "es")
K_NEIGHBOURS = 5
NGRAM_SIZES = (3, 4, 5)
# Confidence = winning vote share x fit x evidence. `fit` is 1.0 when the nearest example is
# at least SIM_FULL similar and falls linearly to 0 at SIM_FLOOR (measured on eval.jsonl:
# best cosines of clear tickets are about 0.17-0.56, of gibberish below 0.05). `evidence`
# falls below 1.0 under EVIDENCE_WORDS distinct content words, because one-line tickets
# ("I have a question") can sit close to a few examples by chance.
SIM_FULL = 0.22
SIM_FLOOR = 0.10
EVIDENCE_WORDS = 6

# Which tier answers a triage task, by request.model (data/models.toml names these ids).
LARGE, LITE = "large", "lite"
TIERS = {
    CLASSIFY_TASK: {"offline-knn-v1": LARGE, "offline-knn-lite-v1": LITE},
    DRAFT_TASK: {"offline-template-v1": LARGE, "offline-template-lite-v1": LITE},
}
LITE_LATENCY_FACTOR = 0.25  # the small tier's share of the simulated latency (and jitter)

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_REFERENCE = re.compile(
    r"(?:\b(?:order|invoice|bestellung|bestellnummer|rechnung|commande|facture|pedido|factura)"
    r"\b[^\w\n]{0,3}(?:(?:(?:no|nr|number|num)\b|n°|nº)\.?\s*)?[#:]?\s*"
    r"|#)([A-Z]{0,4}-?\d[\dA-Z-]{2,18})\b"
    r"|\b((?:INV|RE|FA|ORD)-\d[\d-]{2,15})\b",
    re.IGNORECASE,
)
_URGENT = re.compile(
    r"\b(?:urgent|urgently|asap|immediately|emergency|outage|down|critical"
    r"|dringend|sofort|umgehend|notfall|ausfall|ausgefallen|störung"
    r"|urgente|urgence|immédiatement|panne"
    r"|inmediato|inmediata|inmediatamente|caído|caída|urgencia)\b",
    re.IGNORECASE,
)
_STOPWORDS = {
    "en": "the and is are you your my i to of it this that with for not have was can please",
    "de": "der die das und ist nicht ich mein meine sie ihr bitte mit für ein eine auf wurde"
    " kann habe noch",
    "fr": "le la les et est je mon ma mes vous votre pour pas une un des que avec sur merci ne ai",
    "es": "el la los las y es yo mi mis usted su por para no una un que con del se me pueden"
    " gracias",
}
_STOPWORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
_ANY_STOPWORD = frozenset().union(*_STOPWORD_SETS.values())


def _default_data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "offline"


class OfflineConfig(BaseModel):
    """How the offline provider behaves; the lead maps settings onto it."""

    latency_ms: float = Field(default=0.0, ge=0.0)
    latency_jitter_ms: float = Field(default=0.0, ge=0.0)  # adds [0, jitter) ms per request
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_kinds: list[FaultKind] = Field(default_factory=lambda: ["rate_limit", "server_error"])
    fault_max_attempt: int | None = None  # inject only while request.attempt <= this
    timeout_seconds: float = Field(default=30.0, ge=0.0)
    rate_limit_retry_after: float = Field(default=0.2, ge=0.0)
    seed: str = "aiflow"
    data_dir: Path = Field(default_factory=_default_data_dir)


def _ngrams(text: str) -> Counter[str]:
    """Character 3-5-grams of each word padded with spaces (digit runs folded to '0')."""
    text = _DIGITS.sub("0", unicodedata.normalize("NFC", text).lower())
    grams: Counter[str] = Counter()
    for word in _WORD.findall(text):
        padded = f" {word} "
        for n in NGRAM_SIZES:
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


def detect_language(text: str) -> str:
    """The language in LANGUAGES with most stopwords in the text; 'en' when none or tied."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORD_SETS.items()}
    best = max(LANGUAGES, key=lambda lang: counts[lang])  # max keeps the first on ties
    return best if counts[best] > 0 else "en"


def _content_words(text: str) -> int:
    """Distinct words of 3+ letters that are not stopwords in any supported language."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    return len({w for w in words if len(w) > 2 and not w.isdigit() and w not in _ANY_STOPWORD})


class _Index:
    """An inverted TF-IDF index (sublinear tf, smoothed idf, L2-normalised rows) over the
    terms `features` gives a text (by default `_ngrams`; the lite tier passes word unigrams).

    Each n-gram's postings are two arrays (documents, weights); a query's scores are one
    `np.bincount` over its n-grams' postings, which adds the same products in the same
    order as a loop over the postings would (bit-identical scores) at a fraction of the
    CPU: the offline model runs inside the worker's event loop.
    """

    def __init__(self, texts: list[str], features: Callable[[str], Counter[str]] = _ngrams) -> None:
        self.features = features
        doc_grams = [features(t) for t in texts]
        df: Counter[str] = Counter()
        for grams in doc_grams:
            df.update(grams.keys())
        n = len(texts)
        self.size = n
        self.idf = {g: math.log((1 + n) / (1 + c)) + 1.0 for g, c in df.items()}
        self.unseen_idf = math.log(1 + n) + 1.0
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for doc, grams in enumerate(doc_grams):
            for g, w in self._weigh(grams).items():
                docs, weights = postings[g]
                docs.append(doc)
                weights.append(w)
        self.postings = {
            g: (np.array(docs, dtype=np.intp), np.array(weights, dtype=np.float64))
            for g, (docs, weights) in postings.items()
        }

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        vec = {g: (1.0 + math.log(c)) * self.idf.get(g, self.unseen_idf) for g, c in grams.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {g: w / norm for g, w in vec.items()}

    def nearest(self, text: str, k: int) -> list[tuple[int, float]]:
        """The k most similar documents as (index, cosine), best first, ties by index.

        Unseen n-grams count in the query's norm, so text unlike every example scores low.
        """
        docs, weights, query, counts = [], [], [], []
        for g, w in self._weigh(self.features(text)).items():
            hit = self.postings.get(g)
            if hit is not None:
                docs.append(hit[0])
                weights.append(hit[1])
                query.append(w)
                counts.append(len(hit[0]))
        if not docs:
            return []
        scores = np.bincount(
            np.concatenate(docs),
            np.concatenate(weights) * np.repeat(query, counts),
            minlength=self.size,
        )
        order = np.argsort(-scores, kind="stable")[:k]  # stable: ties keep index order
        return [(int(d), float(scores[d])) for d in order if scores[d] > 0]


class OfflineProvider:
    """Deterministic stand-in for a model API; built once per worker."""

    name = "offline"

    def __init__(self, config: OfflineConfig, tasks: dict[str, Any] | None = None) -> None:
        self.config = config
        # the other workflows' tasks, from their specs (`WorkflowSpec.offline_tasks`)
        self.tasks = dict(tasks or {})
        self._examples = _load_examples(config.data_dir / "examples.jsonl")
        self._index = _Index([e["text"] for e in self._examples])
        with (config.data_dir / "templates.json").open(encoding="utf-8") as f:
            self._templates: dict[str, Any] = json.load(f)
        from activities.providers.offline_lite import LiteTier  # here: it builds on this module

        lite = LiteTier(self._examples, self._templates)
        self._triage = {
            (CLASSIFY_TASK, LARGE): self.classify,
            (DRAFT_TASK, LARGE): self.draft,
            (CLASSIFY_TASK, LITE): lite.classify,
            (DRAFT_TASK, LITE): lite.draft,
        }

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        cfg = self.config
        tier = tier_of(request.task, request.model)  # an unknown model fails before any fault
        digest = hashlib.sha256(
            f"{cfg.seed}:{request.request_key}:{request.attempt}".encode()
        ).digest()
        fault = self._fault(request.attempt, digest)
        if fault == "timeout":
            await asyncio.sleep(cfg.timeout_seconds)
            raise ProviderTimeout(f"offline provider timed out after {cfg.timeout_seconds}s")
        jitter = int.from_bytes(digest[12:16], "big") / 2**32 * cfg.latency_jitter_ms
        latency = (cfg.latency_ms + jitter) * (LITE_LATENCY_FACTOR if tier == LITE else 1.0)
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        if fault == "rate_limit":
            raise RateLimited(
                "offline provider: rate limited", retry_after=cfg.rate_limit_retry_after
            )
        if fault == "server_error":
            raise ProviderUnavailable("offline provider: injected server error", status=500)
        if fault == "bad_request":
            raise BadRequest("offline provider: injected bad request", status=400)

        if (request.task, tier) in self._triage:
            answer = self._triage[request.task, tier](request.variables)
            text = json.dumps(answer, ensure_ascii=False)
        elif request.task in self.tasks:  # the other workflows' tasks
            text = json.dumps(self.tasks[request.task](request.variables), ensure_ascii=False)
        else:
            raise BadRequest(f"offline provider: unknown task {request.task!r}")
        if fault == "malformed":
            text = text[: len(text) // 2]  # an object cut in half never parses

        input_chars = sum(len(m.content) for m in request.messages)
        usage = Usage(
            input_tokens=max(1, math.ceil(input_chars / 4)),
            output_tokens=max(1, math.ceil(len(text) / 4)),
            estimated=True,
        )
        return ModelResponse(
            text=text,
            usage=usage,
            model=request.model,
            provider=self.name,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _fault(self, attempt: int, digest: bytes) -> str | None:
        cfg = self.config
        if not cfg.fault_kinds or cfg.fault_rate <= 0:
            return None
        if cfg.fault_max_attempt is not None and attempt > cfg.fault_max_attempt:
            return None
        if int.from_bytes(digest[:8], "big") / 2**64 >= cfg.fault_rate:
            return None
        return cfg.fault_kinds[int.from_bytes(digest[8:12], "big") % len(cfg.fault_kinds)]

    # --- classify ---------------------------------------------------------------------

    def classify(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The large tier's classification, as a JSON-ready dict."""
        text = ticket_text(variables)
        neighbours = self._index.nearest(text, K_NEIGHBOURS)
        category, confidence = vote(neighbours, self._examples, text)

        if _URGENT.search(text):
            priority = "urgent"
        else:
            prio_votes: dict[str, float] = defaultdict(float)
            for doc, sim in neighbours:
                if self._examples[doc]["category"] == category:
                    prio_votes[self._examples[doc]["priority"]] += sim
            # Ties go to the more severe priority, as a cautious triager would.
            priority = max(reversed(PRIORITIES), key=lambda p: prio_votes.get(p, 0.0))
            if not prio_votes:
                priority = "normal"
        return classification(
            variables, text, category, priority, confidence, neighbours, self._examples
        )

    # --- draft ------------------------------------------------------------------------

    def draft(self, variables: dict[str, Any]) -> dict[str, str]:
        """The large tier's draft reply, as a JSON-ready dict."""
        t = self._templates
        f = draft_facts(t, variables)
        lines = [f.greeting]
        opening = [t["opening"][f.lang].format(ticket_id=f.ticket_id[:40])]
        if variables.get("priority") == "urgent":
            opening.append(t["urgent"][f.lang])
        reference = _find_reference(f.body)
        if reference:
            opening.append(t["reference"][f.lang].format(reference=reference))
        lines.append(" ".join(opening))
        quoted = None if f.feedback else _card_sentence(f.body)
        if quoted:
            lines.append(t["quote"][f.lang].format(sentence=quoted))
        lines.append(f"{t['categories'][f.category][f.lang]} {t['closing'][f.lang]}")
        lines.append(t["signoff"][f.lang])
        reply = "\n\n".join(lines)

        notes = [f"template {f.category}/{f.lang}", f"reference {reference or 'none'}"]
        if quoted:
            notes.append("quoted the customer's sentence")
        elif f.feedback:
            notes.append(f"no quotes of customer text after {len(f.feedback)} QA finding(s)")
        return {"reply": reply, "reasoning": "; ".join(notes)}


# --- parts both tiers share ---------------------------------------------------------------


def tier_of(task: str, model: str) -> str:
    """The tier that answers `model` for `task`: the ids in TIERS name theirs. An id that
    says "lite" but is not the task's lite model, or that is the other triage task's model,
    is a BadRequest: answering it with the large tier would hide a miswired cascade. Any
    other id is the large tier, as before there were tiers (catalogues may name their own
    offline targets). The other workflows' tasks have one tier."""
    known = TIERS.get(task)
    if known is None:
        return LARGE
    if model in known:
        return known[model]
    other_task = any(model in ids for ids in TIERS.values())
    if other_task or "lite" in re.split(r"[-_.]", model.lower()):
        raise BadRequest(
            f"offline provider: unknown model {model!r} for {task} "
            f"(offline models for it: {', '.join(known)})"
        )
    return LARGE


def ticket_text(variables: dict[str, Any]) -> str:
    """Subject and body as one text to classify; BadRequest when both are blank."""
    subject = str(variables.get("subject") or "")
    body = str(variables.get("body") or "")
    if not subject.strip() and not body.strip():
        raise BadRequest("offline provider: classify needs a subject or a body")
    return f"{subject}\n{body}"


def vote(
    neighbours: list[tuple[int, float]], examples: list[dict[str, str]], text: str
) -> tuple[str, float]:
    """The similarity-weighted winning category, and confidence = vote share x fit x
    evidence (see SIM_FULL, SIM_FLOOR and EVIDENCE_WORDS); ("other", 0.0) with no votes."""
    votes: dict[str, float] = defaultdict(float)
    for doc, sim in neighbours:
        votes[examples[doc]["category"]] += sim
    total = sum(votes.values())
    if total <= 0:
        return "other", 0.0
    category = max(CATEGORIES, key=lambda c: votes.get(c, 0.0))
    best = neighbours[0][1]
    fit = min(1.0, max(0.0, (best - SIM_FLOOR) / (SIM_FULL - SIM_FLOOR)))
    evidence = min(1.0, _content_words(text) / EVIDENCE_WORDS)
    return category, votes[category] / total * fit * evidence


def classification(
    variables: dict[str, Any],
    text: str,
    category: str,
    priority: str,
    confidence: float,
    neighbours: list[tuple[int, float]],
    examples: list[dict[str, str]],
) -> dict[str, Any]:
    """The classify answer: language from the hint, else stopwords; the nearest 3 cited."""
    hint = str(variables.get("language_hint") or "").strip().lower()
    language = re.split(r"[-_]", hint)[0] if hint else detect_language(text)
    listed = ", ".join(f"{examples[d]['category']} {s:.2f}" for d, s in neighbours[:3])
    return {
        "category": category,
        "priority": priority,
        "confidence": round(confidence, 3),
        "language": language,
        "reasoning": f"nearest examples: {listed}" if listed else "no similar examples",
    }


class DraftFacts(NamedTuple):
    """A draft request's variables, checked and normalised against the templates."""

    ticket_id: str
    body: str
    lang: str
    category: str
    feedback: list[str]
    greeting: str  # the first line: named, or anonymous when there is no name


def draft_facts(templates: dict[str, Any], variables: dict[str, Any]) -> DraftFacts:
    ticket_id = str(variables.get("ticket_id") or "").strip()
    if not ticket_id:
        raise BadRequest("offline provider: draft needs a ticket_id")
    lang = str(variables.get("language") or "en").strip().lower()[:2]
    lang = lang if lang in templates["greeting"] else "en"
    category = str(variables.get("category") or "other")
    category = category if category in templates["categories"] else "other"
    name = " ".join(str(variables.get("customer_name") or "").split())[:40]
    greeting = templates["greeting"][lang]
    return DraftFacts(
        ticket_id=ticket_id,
        body=str(variables.get("body") or ""),
        lang=lang,
        category=category,
        feedback=[str(f) for f in variables.get("qa_feedback") or []],
        greeting=greeting["named"].format(name=name) if name else greeting["anonymous"],
    )


def _load_examples(path: Path) -> list[dict[str, str]]:
    examples = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("category") not in CATEGORIES or row.get("priority") not in PRIORITIES:
                raise ValueError(f"{path}:{line_no}: unknown category or priority")
            examples.append(row)
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def _find_reference(body: str) -> str | None:
    """An order or invoice number in the body (never a card-length digit run)."""
    for m in _REFERENCE.finditer(body):
        ref = m.group(1) or m.group(2)
        if sum(ch.isdigit() for ch in ref) < 13:
            return ref
    return None


def _card_sentence(body: str) -> str | None:
    """The body's sentence containing a 13-19 digit run, cut to a window around it."""
    match = _CARD.search(body)
    if not match:
        return None
    for sentence in _SENTENCE_END.split(body):
        pos = sentence.find(match.group(0))
        if pos >= 0:
            start, end = max(0, pos - 80), min(len(sentence), pos + len(match.group(0)) + 80)
            return sentence[start:end].strip()
    return match.group(0)
