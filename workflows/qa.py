"""Deterministic QA of an AI-drafted support reply, run before it can reach a customer.

Called from the triage workflow, so it is pure (stdlib `re`/`unicodedata` plus `contracts`).
Findings name what is wrong but never repeat a secret or personal data: reports are kept in
workflow history, shown in the UI and fed back to the drafting model.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

from contracts import NormalizedTicket, QaFinding, QaReport
from decisions import sensitive
from decisions.sensitive import SECRET_PATTERNS

DEFAULT_LANGUAGE = "en"
SIGN_OFF_WINDOW = 3  # a sign-off may be followed by a name and a team line

# The first entry of each language is the example named in messages and feedback.
GREETINGS: dict[str, list[str]] = {
    "en": ["Hello", "Hi", "Dear"],
    "de": ["Hallo", "Guten Tag", "Liebe", "Lieber", "Sehr geehrte", "Sehr geehrter"],
    "fr": ["Bonjour", "Cher", "Chère", "Madame", "Monsieur"],
    "es": ["Hola", "Estimado", "Estimada", "Buenos días"],
}
SIGN_OFFS: dict[str, list[str]] = {
    "en": ["Best regards", "Kind regards", "Regards", "Best", "Thanks", "Thank you"],
    "de": ["Viele Grüße", "Beste Grüße", "Mit freundlichen Grüßen", "Freundliche Grüße"],
    "fr": ["Cordialement", "Bien à vous", "Bien cordialement"],
    "es": ["Saludos", "Un saludo", "Atentamente", "Cordialmente"],
}
# Case-insensitive. Bare "do not send" is left out: "please do not send us your password" is
# ordinary advice, so only marker-like spellings count.
INTERNAL_MARKERS = ["[internal]", "internal note", "note to agent", "[do not send]", "do not send:"]
# Case-sensitive: "todo" is Spanish for "all".
INTERNAL_TOKENS = ["TODO", "FIXME", "XXX", "DO NOT SEND"]
FORBIDDEN_PROMISES = [
    *["guarantee", "guaranteed", "we will refund", "full refund", "refund within"],
    *["compensation", "legal advice", "100%", "never happen again"],
    *["garantieren", "garantiert", "volle Erstattung", "Entschädigung"],
    *["garantir", "garanti", "remboursement intégral", "dédommagement"],
    *["garantizamos", "garantizado", "reembolso completo", "indemnización"],
]
ALLOWED_EMAIL_DOMAINS = ["aiflow.example"]

_PLACEHOLDER = re.compile(
    r"\{\{[^{}\n]{0,60}\}\}"  # {{customer_name}}
    r"|\{[^{}\s][^{}\n]{0,40}\}"  # {name}
    r"|<[A-Za-z_][\w .-]{0,40}>"  # <placeholder>, <order number>
    r"|\[(?:your|insert|customer|agent)\b[^\]\n]{0,40}\]",  # [Your Name]
    re.IGNORECASE,
)
_HTML_COMMENT = "<!--"
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")

_PII_FEEDBACK = {
    "payment card number": "Remove the payment card number; never repeat card numbers.",
    "IBAN": "Remove the IBAN; never repeat bank account numbers.",
    "Social Security number": "Remove the Social Security number; never repeat it.",
    "third-party email address": "Remove email addresses other than the customer's and ours.",
}


class QaPolicy(BaseModel):
    """What a reply must satisfy; the defaults are the production policy."""

    min_chars: int = 80
    max_chars: int = 2000
    greetings: dict[str, list[str]] = GREETINGS
    sign_offs: dict[str, list[str]] = SIGN_OFFS
    internal_markers: list[str] = INTERNAL_MARKERS
    internal_tokens: list[str] = INTERNAL_TOKENS
    forbidden_promises: list[str] = FORBIDDEN_PROMISES  # case-insensitive, whole words
    allowed_email_domains: list[str] = ALLOWED_EMAIL_DOMAINS


DEFAULT_POLICY = QaPolicy()


def check_reply(
    reply: str, ticket: NormalizedTicket, language: str, policy: QaPolicy | None = None
) -> QaReport:
    """Run every check on `reply`; the report passes iff there are no findings."""
    policy = policy or DEFAULT_POLICY
    text = unicodedata.normalize("NFKC", reply)
    lang = _language(language, policy)
    findings = [
        *_length(reply.strip(), policy),
        *_greeting_and_sign_off(text, lang, policy),
        *_internal_notes(text, policy),
        *_secrets(text),
        *_pii(text, ticket, policy),
        *_promises(text, policy),
    ]
    unique = list({(f.check, f.message): f for f in findings}.values())
    return QaReport(passed=not unique, findings=unique)


def feedback_lines(report: QaReport) -> list[str]:
    """One instruction per distinct problem, for the drafting model's next attempt."""
    lines = [_feedback(f) for f in report.findings]
    return list(dict.fromkeys(lines))


def _feedback(finding: QaFinding) -> str:
    msg = finding.message
    quoted = re.search(r"'(.*)'", msg)
    detail = quoted.group(1) if quoted else ""
    if finding.check == "length":
        limit = re.findall(r"\d+", msg)[-1]
        if "minimum" in msg:
            return f"Write a fuller reply of at least {limit} characters."
        return f"Shorten the reply to at most {limit} characters."
    if finding.check in ("greeting", "sign_off"):
        example = re.search(r"e\.g\. '(.*)'", msg)
        where = "Start with a greeting" if finding.check == "greeting" else "End with a sign-off"
        return f"{where} such as '{example.group(1) if example else ''}'."
    if finding.check == "internal_note":
        if "placeholder" in msg:
            return f"Replace the placeholder '{detail}' with real content or remove it."
        return f"Remove '{detail}'; write only text meant for the customer."
    if finding.check == "secret":
        noun = msg.removeprefix("contains what looks like ").split(" ", 1)[-1]
        return f"Remove the {noun}; never include credentials in a reply."
    if finding.check == "pii":
        return next(line for key, line in _PII_FEEDBACK.items() if key in msg)
    if finding.check == "forbidden_promise":
        return f"Do not promise: '{detail}'."
    return f"Fix this problem: {msg}."


def _language(language: str, policy: QaPolicy) -> str:
    lang = re.split(r"[-_]", (language or "").strip().lower())[0]
    return lang if lang in policy.greetings else DEFAULT_LANGUAGE


def _phrase(phrase: str) -> re.Pattern[str]:
    """Whole-phrase, case-insensitive; boundaries by hand so that "100%" works too."""
    body = re.escape(unicodedata.normalize("NFKC", phrase))
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _starts_with(line: str, phrases: dict[str, list[str]]) -> bool:
    return any(_phrase(p).match(line) for group in phrases.values() for p in group)


def _length(stripped: str, policy: QaPolicy) -> list[QaFinding]:
    n = len(stripped)
    if n < policy.min_chars:
        message = f"reply is {n} characters; minimum is {policy.min_chars}"
    elif n > policy.max_chars:
        message = f"reply is {n} characters; maximum is {policy.max_chars}"
    else:
        return []
    return [QaFinding(check="length", message=message)]


def _greeting_and_sign_off(text: str, lang: str, policy: QaPolicy) -> list[QaFinding]:
    """Any language's phrases count; the message names an example for `lang`."""
    lines = [line.strip().lstrip("*_#> \t") for line in text.splitlines() if line.strip()]
    findings = []
    if not (lines and _starts_with(lines[0], policy.greetings)):
        problem = "first line does not start with a greeting"
        findings.append(_expected("greeting", problem, lang, policy.greetings))
    if not any(_starts_with(line, policy.sign_offs) for line in lines[-SIGN_OFF_WINDOW:]):
        problem = f"none of the last {SIGN_OFF_WINDOW} lines starts with a sign-off"
        findings.append(_expected("sign_off", problem, lang, policy.sign_offs))
    return findings


def _expected(check: str, problem: str, lang: str, phrases: dict[str, list[str]]) -> QaFinding:
    example = (phrases.get(lang) or [""])[0]
    message = f"{problem} (expected language '{lang}', e.g. '{example}')"
    return QaFinding(check=check, message=message)


def _internal_notes(text: str, policy: QaPolicy) -> list[QaFinding]:
    lowered = text.lower()
    found = [m for m in policy.internal_markers if m.lower() in lowered]
    found += [t for t in policy.internal_tokens if re.search(rf"\b{re.escape(t)}\b", text)]
    found += [_HTML_COMMENT] if _HTML_COMMENT in text else []
    findings = [
        QaFinding(check="internal_note", message=f"contains internal text '{m}'") for m in found
    ]
    for m in _PLACEHOLDER.finditer(text):
        findings.append(
            QaFinding(check="internal_note", message=f"contains unfilled placeholder '{m.group()}'")
        )
    return findings


def _secrets(text: str) -> list[QaFinding]:
    return [
        QaFinding(check="secret", message=f"contains what looks like {label}")
        for label, pattern in SECRET_PATTERNS
        if pattern.search(text)
    ]


def _promises(text: str, policy: QaPolicy) -> list[QaFinding]:
    return [
        QaFinding(check="forbidden_promise", message=f"promises '{phrase}', which policy forbids")
        for phrase in policy.forbidden_promises
        if _phrase(phrase).search(text)
    ]


def _pii(text: str, ticket: NormalizedTicket, policy: QaPolicy) -> list[QaFinding]:
    found: list[str] = []
    found += [f"contains {f.label}" for f in sensitive.cards(text)]
    found += [f"contains {f.label}" for f in sensitive.ibans(text)]
    if sensitive.SSN.search(text):
        found.append("contains what looks like a US Social Security number")
    own = ticket.customer_email.strip().lower()
    allowed = [d.lower() for d in policy.allowed_email_domains]
    for m in _EMAIL.finditer(text):
        address = m.group().lower()
        domain = address.rsplit("@", 1)[1]
        if address != own and not any(domain == d or domain.endswith("." + d) for d in allowed):
            found.append(f"contains a third-party email address ({address[0]}***@{domain})")
    return [QaFinding(check="pii", message=message) for message in found]
