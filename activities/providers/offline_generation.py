"""The offline provider's answers for the content generation workflow's three tasks.

* brief (`generate.brief`): the brief rewritten as writing instructions.
* write (`generate.write`): content built from the facts, in the brand's voice, in English
  or German. Like a real model it sometimes misses a requirement on the first try, chosen
  by a hash of the brief id: it drops the last required phrase, or forgets to speak to the
  audience, or leaves a `{customer_name}` placeholder in an e-mail; and it cannot resist
  working out a saving when the facts give a price and a previous price (a number the
  brief never stated). Each slip is fixed once the QA feedback names it.
* judge (`generate.judge`): checks the content against the brief (brand named, phrases
  present, forbidden ones absent, length, audience addressed) and scores it: 1.0 when all
  pass, else the share passed, at most 0.5, with a feedback line per failure.

No randomness beyond hashing: the same variables give the same answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from activities.errors import BadRequest
from contracts.generation import Brief, GeneratedContent
from decisions.generation_checks import contains, prompt_from_brief, word_count, words

PHRASES = {
    "en": {
        "meet": "Meet the {product} from {brand}.",
        "for": "Made for {audience}, it keeps things simple.",
        "price": "Available now for {price}.",
        "save": "Save {saving} compared with the old price!",
        "highlights": "Highlights: {terms}.",
        "cta": "Discover it today.",
        "dear": "Dear {name},",
        "hello": "Hello,",
        "email_for": "As one of our {audience}, you are the first to hear from us.",
        "regards": "Best regards,\n{brand}",
        "news": "News from {brand}",
    },
    "de": {
        "meet": "Entdecken Sie {product} von {brand}.",
        "for": "Gemacht für {audience}, einfach und gut.",
        "price": "Jetzt für {price} erhältlich.",
        "save": "Sie sparen {saving} gegenüber dem alten Preis!",
        "highlights": "Das Wichtigste: {terms}.",
        "cta": "Probieren Sie es aus.",
        "dear": "Liebe/r {name},",
        "hello": "Hallo,",
        "email_for": "Als eine/r unserer {audience} erfahren Sie es zuerst.",
        "regards": "Viele Grüße\n{brand}",
        "news": "Neues von {brand}",
    },
}
SPECIAL_FACTS = ("product", "name", "price", "previous_price", "subject", "customer_name")


def _slip(brief_id: str) -> int:
    """Which slip the writer makes on a first try: 0 drop a phrase, 1 forget the audience,
    2 leave a placeholder (e-mails), 3 none."""
    return hashlib.sha256(f"writer:{brief_id}".encode()).digest()[0] % 4


def _brief(variables: dict[str, Any]) -> Brief:
    try:
        return Brief.model_validate(
            {
                **{k: variables.get(k) for k in Brief.model_fields if k != "facts"},
                "facts": json.loads(str(variables.get("facts_json") or "{}")),
            }
        )
    except ValueError as err:
        raise BadRequest(f"offline provider: not a brief: {str(err)[:200]}") from None


def _amount(value: object) -> tuple[float, str] | None:
    """A price fact as (number, unit): "49.00 EUR" -> (49.0, "EUR")."""
    parts = str(value).split()
    try:
        return float(parts[0].replace(",", ".")), " ".join(parts[1:])
    except (IndexError, ValueError):
        return None


def write_prompt(variables: dict[str, Any]) -> dict[str, Any]:
    return prompt_from_brief(_brief(variables)).model_dump()


def write_content(variables: dict[str, Any]) -> dict[str, Any]:
    b = _brief(variables)
    feedback = " ".join(str(f) for f in variables.get("qa_feedback") or []).lower()
    slip = _slip(b.brief_id)
    lang = b.language if b.language in PHRASES else "en"
    p = PHRASES[lang]
    notes = [f"voice {b.voice}", f"language {lang}"]
    terms = list(b.must_include)
    if slip == 0 and terms and terms[-1].lower() not in feedback:
        terms.pop()
        notes.append("dropped a phrase")
    elif slip == 0 and terms:
        notes.append(f"fixed: included '{b.must_include[-1]}' after QA feedback")
    audience = slip != 1 or "audience" in feedback
    if slip == 1:
        notes.append("fixed: addressed the audience" if audience else "forgot the audience")
    product = str(b.facts.get("product") or b.facts.get("name") or b.brand)
    core: list[str] = []
    if b.kind == "product_description":
        title = f"{b.brand} {product}" if product != b.brand else b.brand
        head = [p["meet"].format(product=product, brand=b.brand)]
        if audience:
            head.append(p["for"].format(audience=b.audience))
    else:
        title = str(b.facts.get("subject") or p["news"].format(brand=b.brand))
        name = b.facts.get("customer_name")
        if name:
            head = [p["dear"].format(name=name)]
        elif b.kind == "customer_email" and slip == 2 and "placeholder" not in feedback:
            head = [p["dear"].format(name="{customer_name}")]
            notes.append("left a placeholder")
        else:
            head = [p["hello"]]
        if audience:
            head.append(p["email_for"].format(audience=b.audience))
    facts = [
        f"{k.replace('_', ' ').capitalize()}: {v}."
        for k, v in b.facts.items()
        if k not in SPECIAL_FACTS
    ]
    if "price" in b.facts:
        core.append(p["price"].format(price=b.facts["price"]))
        now, before = _amount(b.facts["price"]), _amount(b.facts.get("previous_price", ""))
        if now and before and before[0] > now[0] and "unsupported" not in feedback:
            saving = f"{before[0] - now[0]:g} {now[1]}".strip()
            core.append(p["save"].format(saving=saving))
            notes.append("claimed a saving")
    if terms:
        core.append(p["highlights"].format(terms=", ".join(terms)))
    tail = [p["cta"]] if b.kind == "product_description" else [p["regards"].format(brand=b.brand)]

    def body_of(fact_lines: list[str]) -> str:
        return "\n".join([" ".join(head), " ".join(fact_lines + core), *tail])

    while facts and len(words(body_of(facts))) > b.max_words:  # facts go first, not phrases
        facts.pop()
    body = body_of(facts)
    if len(words(body)) > b.max_words and "too long" in feedback:
        body = " ".join(body.split()[: b.max_words])
        notes.append("cut to length")
    return {"title": title[:200], "body": body, "reasoning": "; ".join(notes)}


def judge_content(variables: dict[str, Any]) -> dict[str, Any]:
    b = _brief(variables)
    content = GeneratedContent(title=variables.get("title"), body=str(variables.get("body")))
    text = f"{content.title or ''}\n{content.body}"
    checks: list[tuple[str, bool, str]] = [
        (f"names the brand {b.brand}", contains(text, b.brand), f"Name the brand {b.brand}.")
    ]
    checks += [
        (f"includes '{t}'", contains(text, t), f"Include the phrase '{t}'.") for t in b.must_include
    ]
    checks += [(f"avoids '{t}'", not contains(text, t), f"Remove '{t}'.") for t in b.must_avoid]
    n = word_count(content)
    checks.append(
        (f"at most {b.max_words} words", n <= b.max_words, f"Too long: cut {n} words to ")
    )
    cue = [w for w in words(b.audience) if len(w) > 3] or words(b.audience)
    checks.append(
        (
            f"speaks to {b.audience}",
            any(contains(text, w) for w in cue),
            f"Address the audience ({b.audience}) directly.",
        )
    )
    passed = sum(ok for _, ok, _ in checks)
    score = 1.0 if passed == len(checks) else min(passed / len(checks), 0.5)
    feedback = [
        fix + (f"{b.max_words}." if fix.endswith("to ") else "") for _, ok, fix in checks if not ok
    ]
    return {
        "score": round(score, 3),
        "requirements": [{"requirement": r, "passed": ok} for r, ok, _ in checks],
        "feedback": feedback,
        "reasoning": f"{passed}/{len(checks)} requirements met",
    }


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate.brief": write_prompt,
    "generate.write": write_content,
    "generate.judge": judge_content,
}
