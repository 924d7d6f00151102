"""Spam and abuse scoring: a logistic regression over the words of subject and body and over
header/link signals, trained offline (bench/train_spam.py) and scored here in pure Python.

Pure, deterministic and bounded, so workflows and activities can both call it: it reads the
first MAX_BODY_CHARS of the body, at most MAX_HEADERS headers of MAX_HEADER_CHARS each, and
uses only linear-time regular expressions. The lane is the decision: `close` only at or
above the calibrated `close_bar` (held-out legitimate mail closed <= 0.5 %), `likely_spam`
(a cheap review lane, never closed unseen) from `likely_bar`, otherwise `clear`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_SUBJECT_CHARS = 500
MAX_BODY_CHARS = 20_000
MAX_SENDER_CHARS = 500
MAX_HEADERS = 32
MAX_HEADER_CHARS = 500
MAX_LINKS = 200
MAX_TOKEN_CHARS = 30
MAX_REASONS = 3
MIN_REASON = 0.25  # a part that moves the logit less than this is not worth naming
# No resolve(): it touches the disk, which the workflow sandbox refuses; __file__ is absolute.
DEFAULT_MODEL = Path(__file__).parents[1] / "data" / "spam" / "model.json"

LANE_CLOSE = "close"
LANE_LIKELY = "likely_spam"
LANE_CLEAR = "clear"

# Header and link signals, each scaled to [0, 1]; the text is what `reasons` shows.
SIGNALS: dict[str, str] = {
    "links": "many links",
    "foreign_links": "links to domains other than the sender's",
    "ip_url": "a link to a bare IP address",
    "shortener": "a URL-shortener link",
    "userinfo_url": "a link hiding its host behind '@'",
    "click_here": "'click here' wording",
    "html_body": "HTML body",
    "list_unsubscribe": "List-Unsubscribe header (solicited bulk mail)",
    "list_id": "List-Id header (mailing list)",
    "bulk_precedence": "Precedence: bulk/list header",
    "reply_to_differs": "Reply-To domain differs from the sender's",
    "subject_caps": "subject mostly in capitals",
    "subject_exclaim": "'!' in the subject",
    "money": "money amounts",
    "percent": "percentages",
    "body_caps": "body shouting in capitals",
    "exclaim": "many exclamation marks",
    "high_priority": "X-Priority: high",
    "undisclosed": "undisclosed or missing recipients",
    "no_text": "no text",
    "sender_digits": "digit-heavy sender address",
    "no_sender": "no sender address",
}
TEXT_SPAM = "spam-like wording"
TEXT_HAM = "ordinary wording"

SHORTENERS = frozenset(
    "bit.ly tinyurl.com goo.gl t.co ow.ly is.gd buff.ly rebrand.ly cutt.ly shorturl.at "
    "tiny.cc bitly.com s.id rb.gy t.ly v.gd lnkd.in qrco.de".split()
)
_SECOND_LEVEL = frozenset("co com org net ac gov edu ne or".split())

# Every pattern runs in linear time: character classes with bounded repeats, and no repeat
# whose body can match the same text two ways.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]{1,300}", re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.+-]{1,64}@([\w-]{1,63}(?:\.[\w-]{1,63}){1,8})")
_IP_HOST = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|0x[0-9a-f]{1,8}|\d{8,10}")
_HTML = re.compile(r"<(?:html|body|p|div|table|font|br|a|td|img|span|center|b)\b", re.I)
_TAG = re.compile(r"<[^<>]{0,2000}>")
_COMBINING = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
_CLICK = re.compile(r"\bclick\s{1,5}(?:here|below|the\s{1,5}link|this\s{1,5}link)\b", re.I)
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?(?:€|£|usd|eur|dollars?)\b", re.I)
_PERCENT = re.compile(r"\d\s?%")
_PATH = re.compile(r"[/?#]")
_TOKEN = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class SpamScore:
    p_spam: float
    lane: str  # "close" | "likely_spam" | "clear"
    reasons: tuple[str, ...]  # the strongest evidence for the lane, never customer values
    model_version: str


@dataclass(frozen=True)
class Features:
    """What the model sees of one message: a set of word features and the signals."""

    tokens: frozenset[str]
    signals: Mapping[str, float]


def features(
    subject: str, body: str, sender: str = "", headers: Mapping[str, str] | None = None
) -> Features:
    """Word and header/link features of a message, from bounded prefixes of its parts."""
    subject = _clean(subject[:MAX_SUBJECT_CHARS])
    body = _clean(body[:MAX_BODY_CHARS])
    heads = _headers(headers)
    sender = (sender or heads.get("from", ""))[:MAX_SENDER_CHARS]
    sender_domain = _sender_domain(sender)

    urls = _URL.findall(body)[:MAX_LINKS]
    authorities = [_authority(u) for u in urls]
    hosts = [a.rsplit("@", 1)[-1].split(":", 1)[0].lower().strip(".") for a in authorities]
    domains = {_domain(h) for h in hosts if h}
    is_html = bool(_HTML.search(body)) or heads.get("content-type", "").lower().startswith(
        "text/html"
    )
    text = html.unescape(_TAG.sub(" ", body)) if is_html else body
    text = _ADDRESS.sub(" ", _URL.sub(" ", text))
    letters = [c for c in subject if c.isalpha()]
    body_letters = sum(map(str.isalpha, text))
    reply_domain = _sender_domain(heads.get("reply-to", ""))
    to = heads.get("to", "").lower()
    local = sender.rpartition("@")[0].rsplit("<", 1)[-1]

    s = {
        "links": _scaled(len(urls), 20),
        "foreign_links": _scaled(len(domains - {sender_domain}), 10),
        "ip_url": float(any(_IP_HOST.fullmatch(h) for h in hosts if h)),
        "shortener": float(any(h in SHORTENERS for h in hosts)),
        "userinfo_url": float(any("@" in a for a in authorities)),
        "click_here": float(bool(_CLICK.search(text))),
        "html_body": float(is_html),
        "list_unsubscribe": float("list-unsubscribe" in heads),
        "list_id": float("list-id" in heads),
        "bulk_precedence": float(
            heads.get("precedence", "").strip().lower() in ("bulk", "list", "junk")
        ),
        "reply_to_differs": float(bool(reply_domain) and reply_domain != sender_domain),
        "subject_caps": _above(sum(map(str.isupper, letters)) / len(letters), 0.3)
        if len(letters) >= 4
        else 0.0,
        "subject_exclaim": float("!" in subject),
        "money": _scaled(len(_MONEY.findall(text)), 10),
        "percent": _scaled(len(_PERCENT.findall(text)), 10),
        "body_caps": _above(sum(map(str.isupper, text)) / body_letters, 0.15)
        if body_letters >= 20
        else 0.0,
        "exclaim": _scaled(text.count("!"), 20),
        "high_priority": float(
            heads.get("x-priority", "").strip()[:1] in ("1", "2")
            or heads.get("x-msmail-priority", "").strip().lower() == "high"
        ),
        "undisclosed": float(("to" in heads and not to.strip()) or "undisclosed" in to),
        "no_text": float(body_letters + len(letters) < 5),
        "sender_digits": float(len(_DIGIT.findall(local)) >= 4),
        "no_sender": float(not sender_domain),
    }
    return Features(tokens=_tokens(subject, text), signals=s)


class SpamModel:
    """Exported weights (data/spam/model.json) and the two calibrated bars."""

    def __init__(self, spec: Mapping) -> None:
        self.version: str = spec["version"]
        self.intercept: float = float(spec["intercept"])
        self.token_weights: dict[str, float] = dict(spec["tokens"])
        self.signal_weights: dict[str, float] = dict(spec["signals"])
        self.close_bar: float = float(spec["close_bar"])
        self.likely_bar: float = float(spec["likely_bar"])
        self.meta: dict = dict(spec.get("meta", {}))
        if not 0.0 < self.likely_bar <= self.close_bar <= 1.0:
            raise ValueError(f"bars out of order: {self.likely_bar} / {self.close_bar}")
        if unknown := set(self.signal_weights) - set(SIGNALS):
            raise ValueError(f"model has unknown signals: {sorted(unknown)}")

    @classmethod
    def load(cls, path: Path | None = None) -> SpamModel:
        """The model at `path`, by default the shipped data/spam/model.json."""
        return cls(json.loads(Path(path or DEFAULT_MODEL).read_text()))

    def margin(self, f: Features) -> tuple[float, dict[str, float]]:
        """The logit and each part's share of it (`text` for all words together)."""
        weights = self.token_weights
        hits = [weights[t] for t in f.tokens if t in weights]
        # fsum is exact, so the words' (per-process hash) order cannot change the score
        parts = {"text": math.fsum(hits) / math.sqrt(len(hits)) if hits else 0.0}
        for name, w in self.signal_weights.items():
            if x := f.signals.get(name, 0.0):
                parts[name] = w * x
        return self.intercept + sum(parts.values()), parts

    def probability(self, f: Features) -> float:
        return _sigmoid(self.margin(f)[0])

    def score(
        self,
        subject: str,
        body: str,
        sender: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> SpamScore:
        z, parts = self.margin(features(subject, body, sender, headers))
        p = _sigmoid(z)
        lane = (
            LANE_CLOSE
            if p >= self.close_bar
            else LANE_LIKELY
            if p >= self.likely_bar
            else LANE_CLEAR
        )
        sign = -1.0 if lane == LANE_CLEAR else 1.0
        top = sorted((v * sign, k) for k, v in parts.items() if v * sign >= MIN_REASON)
        top = top[::-1][:MAX_REASONS]
        reasons = tuple(
            (TEXT_SPAM if sign > 0 else TEXT_HAM) if k == "text" else SIGNALS[k] for _, k in top
        )
        return SpamScore(p_spam=p, lane=lane, reasons=reasons, model_version=self.version)


def lane_with_rules(score: SpamScore, rule_closes_as_spam: bool) -> str:
    """The lane once the keyword rules had their say. Rules are good at named, multilingual
    schemes the English corpus never showed the model (casino, crypto, SEO offers), not at
    telling a newsletter from spam: a rule's spam close puts a clear item in the likely-spam
    lane, and only the model's calibrated bar closes anything."""
    if rule_closes_as_spam and score.lane == LANE_CLEAR:
        return LANE_LIKELY
    return score.lane


def _tokens(subject: str, text: str) -> frozenset[str]:
    """Lower-cased words of the body, their bigrams, and the subject's words apart (`s:`),
    since spam subjects have a vocabulary of their own. Words with digits are left out: in
    support mail they are order numbers and amounts, customer values, not wording."""
    words = _words(text)
    subj = _words(subject)
    out = set(words)
    out.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    out.update(f"s:{w}" for w in subj)
    return frozenset(out)


def _words(text: str) -> list[str]:
    return [
        w
        for w in _TOKEN.findall(text.lower())
        if 2 <= len(w) <= MAX_TOKEN_CHARS and not _DIGIT.search(w)
    ]


def _clean(text: str) -> str:
    return _COMBINING.sub("", text) if text else ""


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, (k, v) in enumerate((headers or {}).items()):
        if i >= MAX_HEADERS:
            break
        out[str(k).lower()[:100]] = str(v)[:MAX_HEADER_CHARS]
    return out


def _sender_domain(value: str) -> str:
    m = _ADDRESS.search(value[:MAX_SENDER_CHARS])
    return _domain(m.group(1).lower()) if m else ""


def _authority(url: str) -> str:
    rest = url.split("//", 1)[1] if "//" in url else url
    return _PATH.split(rest, maxsplit=1)[0]


def _domain(host: str) -> str:
    """The registrable part of a host, roughly: `mail.shop.co.uk` -> `shop.co.uk`."""
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def _above(ratio: float, normal: float) -> float:
    """How far a share exceeds what ordinary text has, scaled to [0, 1]."""
    return max(0.0, ratio - normal) / (1.0 - normal)


def _scaled(n: int, cap: int) -> float:
    return min(math.log1p(n) / math.log1p(cap), 1.0)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
