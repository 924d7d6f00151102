"""Pure decisions of the content generation workflow: deterministic QA of generated content
against its brief, the high-stakes rules that always send content to a person, the
feedback a regeneration gets, and the deterministic fallbacks (a writing prompt built from
the brief, a template built from its facts). Imports contracts and the standard library
only, so the workflow, the offline provider and the tests share one definition.
"""

from __future__ import annotations

import json
import re
import unicodedata

from contracts.generation import (
    Brief,
    ContentFinding,
    GeneratedContent,
    GenerationPrompt,
    JudgeVerdict,
)

_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?")
_PLACEHOLDER = re.compile(
    r"\{[^{}\n]{1,40}\}|\[\[[^\]\n]{1,40}\]\]|<<[^>\n]{1,40}>>|\b(?:TODO|TBD|XXX)\b"
    r"|lorem ipsum",
    re.IGNORECASE,
)
_STOPWORDS = {
    "en": frozenset("the and is are you your to of it this that with for our we can be".split()),
    "de": frozenset("der die das und ist nicht ich sie ihr mit für ein eine auf wir unser".split()),
    "fr": frozenset("le la les et est je vous votre pour pas une un des que avec sur nous".split()),
    "es": frozenset(
        "el la los las y es yo usted su por para no una un que con del nuestro".split()
    ),
}
LANGUAGE_MIN_HITS = 3  # below this, too little text to tell the language: no finding

# High-stakes rules: content making these claims is checked by a person, however well it
# scored. Legal and guarantee terms count in the brief too (must_include, facts): a brief
# that asks for them will produce them.
HIGH_STAKES = {
    "legal": re.compile(
        r"\b(?:legal(?:ly)?|lawsuit|liab(?:le|ility)|complian(?:t|ce)|certified|patent(?:ed)?"
        r"|clinically|cures?|medical|FDA|approved by|rechtlich|zertifiziert)\b",
        re.IGNORECASE,
    ),
    "guarantee": re.compile(
        r"\b(?:guarantee[ds]?|warrant(?:y|ies|ed)|money[- ]back|risk[- ]free|refunds?"
        r"|garantie\w*|gewährleistung|garantía)\b",
        re.IGNORECASE,
    ),
    "pricing": re.compile(
        r"\b(?:price[ds]?|pricing|discount(?:s|ed)?|save|savings|cheapest|lowest|% off"
        r"|preis\w*|rabatt|prix)\b|[€$£]\s?\d|\d\s?(?:€|EUR|USD|GBP|CHF|\$|£|%)",
        re.IGNORECASE,
    ),
}
BRIEF_RULES = ("legal", "guarantee")


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text))


def word_count(content: GeneratedContent) -> int:
    return len(words(content.body))


def contains(text: str, term: str) -> bool:
    """`term` in `text`, case-insensitive, whole words (so "eco" is not found in "echo")."""
    pattern = r"(?<!\w)" + re.escape(term.strip()) + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def full_text(content: GeneratedContent) -> str:
    return f"{content.title or ''}\n{content.body}"


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", ".")) for n in _NUMBER.findall(text)}


def supported_numbers(brief: Brief) -> set[float]:
    """Every number the brief states: a number in the content must be one of these."""
    parts = [brief.brand, *brief.must_include]
    parts += [f"{k} {v}" for k, v in brief.facts.items()]
    return _numbers(" ".join(parts))


def detect_language(text: str) -> str | None:
    found = [w.lower() for w in words(text)]
    hits = {lang: sum(w in stop for w in found) for lang, stop in _STOPWORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    return best if hits[best] >= LANGUAGE_MIN_HITS else None


def check_content(content: GeneratedContent, brief: Brief) -> list[ContentFinding]:
    """The deterministic QA findings of `content` against `brief`, in a fixed order."""
    text = full_text(content)
    found: list[ContentFinding] = []
    n = word_count(content)
    if n > brief.max_words:
        found.append(ContentFinding(check="too_long", detail=f"{n} words > {brief.max_words}"))
    for term in brief.must_include:
        if not contains(text, term):
            found.append(ContentFinding(check="missing", detail=term))
    for term in brief.must_avoid:
        if contains(text, term):
            found.append(ContentFinding(check="avoided", detail=term))
    allowed = supported_numbers(brief)
    for raw in sorted(set(_NUMBER.findall(text))):
        if float(raw.replace(",", ".")) not in allowed:
            found.append(ContentFinding(check="unsupported_claim", detail=raw))
    for m in sorted({m.group(0) for m in _PLACEHOLDER.finditer(text)}):
        found.append(ContentFinding(check="placeholder", detail=m))
    lang = detect_language(content.body)
    if brief.language in _STOPWORDS and lang is not None and lang != brief.language:
        found.append(ContentFinding(check="language", detail=f"{lang} != {brief.language}"))
    return found


def feedback_lines(findings: list[ContentFinding], verdict: JudgeVerdict | None) -> list[str]:
    """What the next generation is told to fix: the checks' findings, then the judge's."""
    say = {
        "too_long": "Too long ({detail}): shorten it.",
        "missing": "Missing required phrase '{detail}': include it verbatim.",
        "avoided": "Remove the phrase '{detail}': the brief forbids it.",
        "unsupported_claim": "Unsupported number '{detail}': use only numbers from the facts.",
        "placeholder": "Placeholder '{detail}' left in: write the real text.",
        "language": "Wrong language ({detail}): write in the brief's language.",
    }
    lines = [say[f.check].format(detail=f.detail) for f in findings]
    if verdict is not None:
        lines += [line for line in verdict.feedback if line not in lines]
    return lines[:20]


def high_stakes(brief: Brief, content: GeneratedContent | None) -> list[str]:
    """The high-stakes claims in the brief (legal, guarantees) or the content (those and
    pricing), as sorted review reasons like "high_stakes:pricing"."""
    asked = " \n".join([*brief.must_include, *(f"{k} {v}" for k, v in brief.facts.items())])
    hits = {name for name in BRIEF_RULES if HIGH_STAKES[name].search(asked)}
    if content is not None:
        text = full_text(content)
        hits |= {name for name, rule in HIGH_STAKES.items() if rule.search(text)}
    return [f"high_stakes:{name}" for name in sorted(hits)]


# --- deterministic fallbacks ------------------------------------------------------------

OUTLINES = {
    "product_description": [
        "a headline naming the product",
        "what it is and who it is for",
        "the key facts",
        "a short call to action",
    ],
    "customer_email": [
        "a subject line",
        "a greeting",
        "the message, from the facts",
        "a sign-off with the brand's name",
    ],
}


def prompt_from_brief(brief: Brief) -> GenerationPrompt:
    """The writing instructions a brief implies, without a model (and the offline answer)."""
    what = brief.kind.replace("_", " ")
    requirements = [f"Include verbatim: {t}" for t in brief.must_include]
    requirements += [f"Never use: {t}" for t in brief.must_avoid]
    requirements += [
        f"At most {brief.max_words} words",
        "Use only numbers and claims that are in the facts",
    ]
    return GenerationPrompt(
        instructions=(
            f"Write a {what} for {brief.brand} in a {brief.voice} voice, for {brief.audience}, "
            f"in language '{brief.language}'."
        ),
        outline=OUTLINES[brief.kind],
        requirements=requirements,
        reasoning="derived from the brief's fields",
    )


def _fact_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def template_content(brief: Brief) -> GeneratedContent:
    """Content assembled from the brief's facts alone: always supported, never clever,
    always reviewed (the fallback when no model can generate)."""
    product = brief.facts.get("product") or brief.facts.get("name")
    title = f"{brief.brand}: {_fact_text(product)}" if product else brief.brand
    lines = [
        f"{k.replace('_', ' ').capitalize()}: {_fact_text(v)}."
        for k, v in brief.facts.items()
        if k not in ("product", "name")
    ]
    if brief.must_include:
        lines.append("; ".join(brief.must_include) + ".")
    lines.append(brief.brand)
    body = "\n".join(lines)
    kept = words(body)
    if len(kept) > brief.max_words:
        body = " ".join(kept[: brief.max_words])
    return GeneratedContent(title=title[:200], body=body, reasoning="template from the facts")
