"""Content guard: flags ticket text a model could take as instructions or data, not words.

Pure, deterministic and standard library only: it runs inside the workflow sandbox. The
caller routes any flagged ticket to review, whatever confidence the model reports.

Every check sees the text as intake leaves it (controls, format characters and lone
surrogates dropped; line breaks as "\\n"), so raw and normalised tickets give the same flags.
Phrases are matched on a fold of that text, one character for one, so the excerpt is cut
from the same place: lower case, accents and compatibility forms (fullwidth, math letters)
removed, Cyrillic/Greek look-alikes read as Latin, every space as " ".

Linear time on any input: patterns have bounded repetitions only (no nested unbounded
quantifiers) and start with a literal or a character class, so the regex engine skips
ahead fast; a match that starts with a letter must start a word (checked here, not with
`\\b`, which would defeat that skip); objects are scanned once; only the repetition check
is windowed (REPETITION_WINDOW characters, far above the body limit intake enforces).
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The order flags are reported in.
CODES = (
    "embedded_json",  # a JSON/dict object, string array or schema-shaped lines
    "markup",  # executable HTML, role tags, chat-template tokens, hidden comments
    "code",  # code fences and source constructs
    "sql",  # SQL statements and injection idioms
    "prompt_injection",  # text addressed to the model: ignore instructions, set confidence
    "role_play",  # "you are now ...", "act as ...", developer mode
    "encoded_payload",  # base64/hex that decodes to text, escape runs, data: URIs
    "homoglyph",  # a word mixing Latin with Cyrillic or Greek letters
    "long_token",  # one "word" longer than any a customer types
    "repetition",  # the same phrase stuffed over and over
)
EVIDENCE_CHARS = 60
LONG_TOKEN_CHARS = 160  # German compounds, e-mail addresses and file paths stay well below
LONG_URL_CHARS = 600  # links with tracking or password-reset tokens stay below
BASE64_MIN = 24  # shorter runs are ids, codes and keys
RANDOM_BLOB_CHARS = 200  # a run this long is flagged even when it does not decode to text
HEX_MIN = 32
HEX_BLOB_CHARS = 128  # a SHA-256 (64) passes; longer runs do not
OBJECT_SCAN_CHARS = 4000  # how far a JSON object is followed to its closing brace
REPETITION_WINDOW = 100_000
STUFFING_MIN_WORDS = 200
# An object with one of these keys speaks the model's language (its output schemas, chat
# roles); other objects need three keys or nesting, so a pasted `{"error": "..."}` passes.
SCHEMA_KEYS = frozenset(
    "category categories label labels class classification priority urgency confidence score"
    " probability language lang reasoning reason reply response answer output result decision"
    " verdict action queue route outcome resolved approve approved refund role content"
    " instruction instructions system prompt assistant user".split()
)

Span = tuple[int, int]


@dataclass(frozen=True)
class ContentFlag:
    code: str  # one of CODES
    evidence: str  # a short excerpt for the reviewer: <= 60 chars, non-printables escaped


def content_flags(subject: str, body: str, *, extra: Iterable[str] = ()) -> list[ContentFlag]:
    """Flags for `subject` and `body`, plus `extra` (other text a model sees: the name).

    Ordered as CODES, one per code, each with the first excerpt found.
    """
    text = "\n" + _clean("\n".join([subject or "", body or "", *extra]))
    low = text.translate(_LOW)
    found: list[ContentFlag] = []
    for code, check in _CHECKS:
        hit = check(text, low)
        if hit is not None:
            evidence = _excerpt(text, hit) if isinstance(hit, tuple) else hit
            found.append(ContentFlag(code, evidence))
    return found


# --- text views and helpers -------------------------------------------------------------

_CONFUSABLES = dict(
    zip(
        "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХУІЈЅοαικνρτυχΟΑΒΕΖΗΙΚΜΝΡΤΥΧ",
        "aeopcyxijsdhlqwABEKMHOPCTXYIJSoaikvptuxOABEZHIKMNPTYX",
        strict=True,
    )
)


class _Clean(dict[int, str | None]):
    """str.translate table mirroring intake's character cleaning, filled on first use."""

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        if ch in "\r\u2028\u2029":
            value: str | None = "\n"
        elif ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            value = ch
        else:
            value = None
        self[cp] = value
        return value


class _Fold(dict[int, str]):
    """One character for one: the matching view described in the module docstring."""

    def __missing__(self, cp: int) -> str:
        ch = _CONFUSABLES.get(chr(cp), chr(cp))
        if ch.isspace() and ch not in "\n\t":
            ch = " "
        parts = unicodedata.normalize("NFKD", ch)
        if parts and parts[0].isascii() and all(map(unicodedata.combining, parts[1:])):
            ch = parts[0]
        lower = ch.lower()
        self[cp] = value = lower if len(lower) == 1 else ch
        return value


_CLEAN = _Clean()
_LOW = _Fold()


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").translate(_CLEAN)


def _excerpt(text: str, span: Span) -> str:
    """The match, widened to the end of its line when short, escaped, cut to EVIDENCE_CHARS."""
    start, end = span
    line_end = text.find("\n", end, start + EVIDENCE_CHARS)
    wide = max(end, start + EVIDENCE_CHARS if line_end < 0 else line_end)
    raw = text[start:wide][: EVIDENCE_CHARS + 1].strip()
    out: list[str] = []
    for ch in raw:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    shown = "".join(out)
    return shown if len(shown) <= EVIDENCE_CHARS else shown[: EVIDENCE_CHARS - 3] + "..."


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find(pattern: re.Pattern[str], s: str) -> Span | None:
    """The first match that, if it starts with a letter or digit, starts a word."""
    pos = 0
    while (m := pattern.search(s, pos)) is not None:
        i = m.start()
        if not (_is_word(s[i]) and i and _is_word(s[i - 1])):
            return m.span()
        pos = i + 1
    return None


Check = Callable[[str, str], "Span | str | None"]


def _first(*patterns: re.Pattern[str], cased: bool = False) -> Check:
    """A check: the first match of any pattern, on the text (cased) or its fold."""

    def check(text: str, low: str) -> Span | None:
        for pattern in patterns:
            if (span := _find(pattern, text if cased else low)) is not None:
                return span
        return None

    return check


def _any(*checks: Check) -> Check:
    def check(text: str, low: str) -> Span | str | None:
        for one in checks:
            if (hit := one(text, low)) is not None:
                return hit
        return None

    return check


def _c(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile, reading " " as a whitespace run of at most 10 (ticket text wraps anywhere)."""
    return re.compile(pattern.replace(" ", r"\s{1,10}"), flags)


def _alt(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# --- embedded_json ----------------------------------------------------------------------

_KEY = r"(?:\"[^\"\n{}]{1,80}\"|'[^'\n{}]{1,80}'|[A-Za-z_][\w-]{0,40})"
_OBJECT_START = re.compile(r"\{\s{0,20}" + _KEY + r"\s{0,20}:")
_KEYS = re.compile(r"[{,]\s{0,20}(" + _KEY + r")\s{0,20}:")
_BRACES = re.compile(r"[{}]")
_STRING_ARRAY = re.compile(
    r"\[\s{0,20}\"[^\"\n]{0,80}\"\s{0,20}(?:,\s{0,20}\"[^\"\n]{0,80}\"\s{0,20}){2,}[\],]"
)
_SCHEMA_LINE = re.compile(
    r"\n[ \t]{0,20}-?[ \t]{0,4}[\"']?(category|priority|confidence|language|reasoning|reply"
    r"|label)[\"']?[ \t]{0,4}[:=][ \t]{0,4}\S"
)


def _json_object(text: str, low: str) -> Span | None:
    """An object with a schema key, three or more keys, or nesting; each char scanned once."""
    pos = 0
    while (start := _OBJECT_START.search(text, pos)) is not None:
        i = start.start()
        limit = min(len(text), i + OBJECT_SCAN_CHARS)
        depth = deepest = 0
        end = limit
        for brace in _BRACES.finditer(text, i, limit):
            depth += 1 if brace.group() == "{" else -1
            deepest = max(deepest, depth)
            if depth == 0:
                end = brace.end()
                break
        keys = [k.strip("\"'").strip().lower() for k in _KEYS.findall(text, i, end)]
        if deepest > 1 or len(keys) >= 3 or any(k in SCHEMA_KEYS for k in keys):
            return i, end
        pos = max(end, i + 1)
    return None


def _schema_lines(text: str, low: str) -> Span | None:
    """YAML-ish `category: billing` / `confidence: 1.0` lines: two keys, one a giveaway."""
    keys: dict[str, Span] = {}
    for m in _SCHEMA_LINE.finditer(low):
        keys.setdefault(m.group(1), m.span())
    if len(keys) >= 2 and keys.keys() & {"category", "confidence", "reasoning", "label", "reply"}:
        return min(keys.values())
    return None


# --- markup, code, sql ------------------------------------------------------------------

_ROLE_TAGS = "system|instructions?|prompt|assistant|user|human|developer|admin|context|tools?"
_MARKUP = (
    _c(
        r"<\s{0,5}/?\s{0,5}(?:script|iframe|object|embed|svg|style|meta|link|base|form|frame"
        r"|applet|math|template|noscript|function_call|" + _ROLE_TAGS + r")(?![\w-])"
    ),
    _c(r"<[a-z][^<>\n]{0,200}?\son[a-z]{3,20}\s{0,5}="),
    _c(r"[=(\n][\s\"']{0,12}javascript:\S"),
    _c(r"<\|[a-z_]{2,30}\|>|\[/?inst\]|<<\s?/?sys\s?>>|\[/?(?:system|sys)\]"),
    _c(r"\n[\x20\t]{0,10}#{1,6}[\x20\t]{0,5}(?:" + _ROLE_TAGS + r"|response)(?!\w)"),
    _c(r"\n[\x20\t]{0,10}(?:human|assistant)[\x20\t]{0,5}:"),
    _c(r"<!--|<!\[cdata\[|<!doctype|<\?xml|<!entity"),
    _c(r"!\[[^\]\n]{0,100}\]\(\s{0,5}(?:https?:|data:|//)"),
)
_CODE_CASED = (
    re.compile(r"\n[ \t]{0,10}(?:```|~~~)"),
    re.compile(r"\n[ \t]{0,20}(?:async )?def [A-Za-z_]\w{0,60} ?\("),
    re.compile(r"\n[ \t]{0,20}class [A-Z]\w{0,60}(?:\([^)\n]{0,80}\))?:[ \t]*$", re.M),
    re.compile(r"function(?: [A-Za-z_$][\w$]{0,60})? ?\([^()\n]{0,80}\) ?\{|function\("),
    re.compile(r"\n[ \t]{0,20}import [a-z_][\w.]{0,60}(?: as \w{1,40})?;?[ \t]*$", re.M),
    re.compile(r"\n[ \t]{0,20}from [a-z_][\w.]{0,60} import \w"),
    re.compile(r"#include ?[<\"]|<\?php|\$_(?:GET|POST|REQUEST|COOKIE)(?!\w)"),
    re.compile(
        r"eval\(|exec\(|os\.system\(|subprocess\.\w{1,20}\(|__import__\(|console\.log\("
        r"|require\(|popen\(|document\.write\(|document\.cookie(?!\w)|window\.location(?!\w)"
    ),
    re.compile(r"(?:var|let|const) [A-Za-z_$][\w$]{0,40} ?= ?\S"),
    re.compile(r"\) ?=> ?\{"),
)
_CODE = (
    _c(r"rm -rf(?!\w)|curl \S{1,300}\s{0,5}\|\s{0,5}(?:ba|z)?sh(?!\w)"),
    _c(r"wget \S{1,300}\s{0,5}\|\s{0,5}(?:ba|z)?sh(?!\w)"),
    _c(r"\{\{[^{}\n]{0,80}(?:__|\(|\*|\[)[^{}\n]{0,80}\}\}|\{%[^%\n]{0,80}%\}"),
)
_TABLE = r"[\w.`\"\[\]]{1,64}"
_SQL = (
    _c(
        r"select (?:\*|distinct\s|count\s{0,5}\(|top \d|[\w.]{1,40}\s{0,5},\s{0,5}[\w.]{1,40})"
        r"[^;\n]{0,120}?(?<!\w)from " + _TABLE
    ),
    _c(r"from " + _TABLE + r" where [\w.`\"]{1,64}\s{0,5}(?:=|like(?!\w)|in\s?\()"),
    _c(r"union (?:all )?select(?!\w)"),
    _c(
        r"(?:drop|truncate) (?:table|database|schema) (?:if exists )?"
        + _TABLE
        + r"\s{0,5}(?:;|--|$|\))",
        re.M,
    ),
    _c(r"insert into " + _TABLE + r"\s{0,10}(?:\(|values(?!\w)|select(?!\w))"),
    _c(r"update " + _TABLE + r" set [\w.`\"]{1,64}\s{0,5}="),
    _c(r"delete from " + _TABLE + r"\s{0,10}(?:where(?!\w)|;|$)", re.M),
    _c(r"['\"]\s{0,5}\)?\s{0,5}(?:or|and) ['\"]?(\w{1,20})['\"]?\s{0,5}=\s{0,5}['\"]?\1(?!\w)"),
    _c(r"(?:or|and) (\d{1,5})\s{0,5}=\s{0,5}\1(?!\w)"),
    _c(r"['\")]\s{0,5};\s{0,5}(?:--|#|/\*)"),
    _c(r";\s{0,5}(?:drop|shutdown|exec|declare)\s"),
    _c(
        r"waitfor delay(?!\w)|sleep\s{0,5}\(\s{0,5}\d{1,3}\s{0,5}\)|benchmark\s{0,5}\("
        r"|xp_cmdshell|information_schema|@@version|load_file\s{0,5}\(|into (?:out|dump)file"
    ),
)

# --- prompt_injection, role_play --------------------------------------------------------

# "verb, fillers, object", where a filler must be a qualifier: "ignore the instructions on
# the box" is a customer, "ignore all previous instructions" is not.
_IGNORE = _c(
    _alt(
        *"ignore ignoring disregard forget override bypass".split(),
        *"ignoriere ignorier ignorieren vergiss vergessen missachte".split(),
        *"ignorez ignorer oublie oubliez oublier".split(),
        *"ignora ignorar olvida olvide olvidar omite omita".split(),
    )
    + r"(?P<fill>(?:\s{1,10}[\w'-]{1,20}){0,4}?) "
    + _alt(
        *"instructions? prompts? rules directives? guidelines guardrails programming".split(),
        *"anweisungen instruktionen regeln vorgaben befehle richtlinien".split(),
        *"consignes regles instrucciones reglas indicaciones ordenes directrices".split(),
    )
    + r"(?P<tail>(?:\s{1,10}[\w'-]{1,20}){0,2})"
)
_QUALIFIERS = frozenset(
    "all any every your previous prior above earlier preceding former initial original system"
    " alle deine samtliche jegliche vorherigen bisherigen obigen fruheren vorigen ursprunglichen"
    " toutes tous tes vos precedentes anterieures ci-dessus initiales systeme"
    " todas todos tus anteriores previas iniciales sistema".split()
)


def _ignore_instructions(text: str, low: str) -> Span | None:
    for m in _IGNORE.finditer(low):
        i = m.start()
        if i and _is_word(low[i - 1]):
            continue
        if set((m.group("fill") + " " + m.group("tail")).split()) & _QUALIFIERS:
            return m.span()
    return None


_CATEGORY = _alt(
    *"billing technical account shipping returns? feedback other spam urgent high low".split(),
    *"normal resolved priority vip safe".split(),
)
_WHAT = r"(?:this|it|the ticket|this ticket|this message|this email|this request)"
_INJECTION = (
    _c(
        _alt(
            "system prompts?(?!\\w)",
            "system-prompts?(?!\\w)",
            "new instructions?\\s{0,5}:",
            "updated instructions(?!\\w)",
            *(
                f"{verb} (?:me )?(?:your |the )?(?:system |initial |original |hidden )?"
                "(?:prompt|instructions)(?!\\w)"
                for verb in "reveal show print repeat output leak display include".split()
            ),
            "what are your (?:system )?(?:instructions|rules)(?!\\w)",
            *(
                f"{verb} (?:only|just|exclusively) (?:with|in)(?!\\w)"
                for verb in "respond reply answer output return".split()
            ),
            "only (?:respond|reply|answer|output|return) (?:with|in)(?!\\w)",
            *(f"{verb} (?:only )?in json" for verb in "respond reply answer".split()),
            "begin your (?:reply|response|answer) with",
            "start your (?:reply|response|answer) with",
            "set (?:the |your )?(?:confidence|category|classification)(?!\\w)",
            *(f"{verb} (?:the )?(?:human )?review" for verb in "skip bypass avoid".split()),
            "no (?:human )?review needed",
            "do not (?:flag|escalate) (?:this|it)(?!\\w)",
            "end of (?:ticket|user input|prompt)(?!\\w)",
            *(
                f"{verb} {_WHAT}(?: ticket)? as (?:an? )?[\"'(]?{_CATEGORY}(?!\\w)"
                for verb in "classify categorize categorise label tag".split()
            ),
            # de
            "system-?anweisung",
            "neue anweisungen\\s{0,5}:",
            "antworte (?:nur|ausschlie(?:ß|ss)lich|lediglich) (?:mit|in)(?!\\w)",
            "antworten sie (?:nur|ausschlie(?:ß|ss)lich|lediglich) (?:mit|in)(?!\\w)",
            "setze (?:die |den )?(?:konfidenz|zuversicht|kategorie|confidence)(?!\\w)",
            "setzen sie (?:die |den )?(?:konfidenz|zuversicht|kategorie|confidence)(?!\\w)",
            "klassifiziere (?:dies|das|dieses ticket|diese nachricht|diese anfrage|es) als",
            "kategorisiere (?:dies|das|dieses ticket|diese nachricht|diese anfrage|es) als",
            # fr
            "prompt (?:du )?systeme",
            "invite systeme",
            "instructions (?:du )?systeme",
            "repon(?:ds|dez|dre) (?:uniquement|seulement|exclusivement) (?:par|avec|en)(?!\\w)",
            "ne repon(?:ds|dez) qu",
            *(
                f"{verb} (?:la |le )?(?:niveau de )?(?:confiance|categorie) (?:a|sur)(?!\\w)"
                for verb in "fixe fixez mets mettez regle reglez".split()
            ),
            *(
                f"{verb} (?:ce|cette|ceci)(?: ticket| message| demande)? (?:comme|en tant que)"
                for verb in "classe classez classer categorise categorisez".split()
            ),
            # es
            "prompt del sistema",
            "instrucciones del sistema",
            *(
                f"{verb} (?:solo|solamente|unicamente|exclusivamente) (?:con|en)(?!\\w)"
                for verb in "responde responda contesta conteste".split()
            ),
            *(
                f"{verb} (?:la )?(?:confianza|categoria) (?:en|a)(?!\\w)"
                for verb in "establece establezca fija fije pon ponga".split()
            ),
            *(
                f"{verb} (?:esto|este ticket|este mensaje|esta solicitud|el ticket) como"
                for verb in "clasifica clasifique categoriza categorice".split()
            ),
        )
    ),
    # "confidence: 1.0" as words (a quoted JSON key is embedded_json's business)
    _c(
        r"(?:confidence|konfidenz|confiance|confianza)(?: score| level| value)?\s{0,5}"
        r"(?:to|=|:|auf|a|en)\s{0,5}[\"']?(?:1(?:\.0{1,5})?|100\s{0,3}%|0?\.\d{1,5}|max"
        r"(?:imum)?|high(?:est)?)(?![\w.])"
    ),
)
_ROLE_PLAY = (
    _c(
        _alt(
            "you are now (?:a|an|the|my) (?:[\\w-]{1,20} ){0,2}(?:assistant|bot|ai|agent|model"
            "|system|administrator|admin|developer|hacker|character|persona|employee|manager"
            "|human)(?!\\w)",
            "you are now (?:in [\\w-]{1,20} mode|called|named|no longer|free from|unrestricted"
            "|jailbroken|dan|[a-z]{1,20}bot)(?!\\w)",
            "from now on,? you (?:are|will|must)(?!\\w)",
            "pretend (?:that )?(?:you are|you're|to be)(?!\\w)",
            "imagine (?:that )?(?:you are|you're)(?!\\w)",
            "role-?play",
            "stay in character",
            *(f"{w} mode" for w in "developer god dan jailbreak debug unrestricted sudo".split()),
            "jailbreak",
            "do anything now",
            *(
                f"{who} act as (?:a|an|if|my|the|though)(?!\\w)"
                for who in ("please", "now", "you will", "you must", "you should", "you can")
            ),
            "i want you to act as",
            "du bist (?:jetzt|nun|ab sofort|ab jetzt) (?:ein|eine|der|die|mein|meine)(?!\\w)",
            "ab (?:jetzt|sofort) bist du",
            "tue? so,? als (?:ob|warst|waerst)(?!\\w)",
            "verhalte dich (?:wie|als)(?!\\w)",
            "spiel(?:e|st)? die rolle",
            "tu es (?:maintenant|desormais) (?:un|une|le|la|mon|ma)(?!\\w)",
            "vous etes (?:maintenant|desormais) (?:un|une|le|la|mon|ma)(?!\\w)",
            "fais comme si",
            "faites comme si",
            "agis(?:sez)? (?:comme|en tant que)(?!\\w)",
            "joue(?:z)? le role",
            "ahora (?:eres|seras|actuas)(?!\\w)",
            "a partir de ahora (?:eres|seras|actuas)(?!\\w)",
            "desde ahora (?:eres|seras|actuas)(?!\\w)",
            "actua como",
            "actue como",
            "comportate como",
            "finge (?:que eres|ser)(?!\\w)",
            "juega el (?:papel|rol)(?!\\w)",
            "interpreta el (?:papel|rol)(?!\\w)",
            "haz como si",
        )
    ),
    _c(r"[\n.!?:;][\x20\t]{0,10}act as (?:a|an|if|my|the|though)(?!\w)"),
)

# --- encoded_payload, homoglyph, long_token, repetition ---------------------------------

_BASE64 = re.compile(rf"(?<![\w+/-])[A-Za-z0-9+/_-]{{{BASE64_MIN},}}={{0,2}}")
_HEX = re.compile(rf"(?<![0-9A-Za-z])[0-9a-fA-F]{{{HEX_MIN},}}(?![0-9A-Za-z])")
_ESCAPES = re.compile(
    r"%[0-9a-f]{2}(?:%[0-9a-f]{2}){7,}|\\x[0-9a-f]{2}(?:\\x[0-9a-f]{2}){7,}"
    r"|\\u[0-9a-f]{4}(?:\\u[0-9a-f]{4}){5,}|&#x?[0-9a-f]{1,6};(?:&#x?[0-9a-f]{1,6};){5,}"
    r"|data:[\w/+.-]{0,40};base64,"
)
_URL = re.compile(r"(?:https?://|www\.)\S")
_TOKEN = re.compile(rf"(?<!\S)\S{{{LONG_TOKEN_CHARS},}}")
_WORD = re.compile(r"\w+")
_GREEK_CYRILLIC = re.compile(r"[\u0370-\u03ff\u0400-\u052f]+")


def _text_share(data: bytes) -> float:
    """How much of `data` is printable UTF-8 text (0.0 when it does not decode)."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return 0.0
    return sum(ch.isprintable() or ch in "\n\t" for ch in decoded) / max(1, len(decoded))


def _in_url(text: str, i: int) -> bool:
    """Whether position `i` lies in a URL (looking back at most LONG_URL_CHARS: longer
    "URLs" are long tokens anyway, and an unbounded look-back would be quadratic)."""
    lo = max(0, i - LONG_URL_CHARS)
    start = max(text.rfind(" ", lo, i), text.rfind("\n", lo, i), text.rfind("\t", lo, i))
    return start >= 0 and _URL.match(text, start + 1) is not None


def _random_blob(run: str, min_chars: int, min_distinct: int) -> bool:
    """Long and varied, as encoded random bytes are ("x1x1x1..." is neither)."""
    return len(run) >= min_chars and len(set(run)) >= min_distinct


def _encoded(text: str, low: str) -> Span | None:
    if (span := _find(_ESCAPES, low)) is not None:
        return span
    for m in _BASE64.finditer(text):
        run = m.group()
        if run.isalpha() and (run.isupper() or run.islower()):
            continue  # one letter case and nothing else: a long word, not base64
        if run.isdigit() or _in_url(text, m.start()):
            continue
        if _random_blob(run, RANDOM_BLOB_CHARS, 32):
            return m.span()
        chunk = run.rstrip("=").replace("-", "+").replace("_", "/")
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        try:
            data = binascii.a2b_base64(chunk)
        except binascii.Error:
            continue
        if len(data) >= 16 and _text_share(data) >= 0.9:
            return m.span()
    for m in _HEX.finditer(text):
        run = m.group()
        if run.isdigit() or run.isalpha() or _in_url(text, m.start()):
            continue
        if _random_blob(run, HEX_BLOB_CHARS, 12):
            return m.span()
        if _text_share(binascii.unhexlify(run[: len(run) - len(run) % 2])) >= 0.9:
            return m.span()
    return None


def _homoglyph(text: str, low: str) -> Span | None:
    for m in _GREEK_CYRILLIC.finditer(text):
        a, b = m.span()
        if _latin(text[a - 1]) or (b < len(text) and _latin(text[b])):
            start = a
            while start > 0 and a - start < 20 and not text[start - 1].isspace():
                start -= 1
            return start, b
    return None


def _latin(ch: str) -> bool:
    return ch.isalpha() and (ch.isascii() or "\u00c0" <= ch <= "\u024f")


def _long_token(text: str, low: str) -> Span | None:
    """A token no customer types: not a URL (unless huge), not flagged as encoded already."""
    for m in _TOKEN.finditer(text):
        token = m.group()
        if _URL.match(token) and len(token) < LONG_URL_CHARS:
            continue
        if _encoded(token, token.translate(_LOW)) is None:
            return m.span()
    return None


def _repetition(text: str, low: str) -> str | None:
    """Stuffing: three-word phrases seen 5+ times cover half of a text of 30+ words, or a
    text of 200+ words uses under one distinct word in five (prose that long: one in three)."""
    words = _WORD.findall(low, 0, REPETITION_WINDOW)
    if len(words) < 30:
        return None
    distinct = len(set(words))
    if len(words) >= STUFFING_MIN_WORDS and distinct * 5 < len(words):
        return f"{distinct} distinct words in {len(words)}"
    shingles = list(zip(words, words[1:], words[2:], strict=False))
    counts = Counter(shingles)
    if sum(counts[s] >= 5 for s in shingles) * 2 < len(shingles):
        return None
    top, times = counts.most_common(1)[0]
    return _excerpt(f'{times}x "{" ".join(top)}"', (0, EVIDENCE_CHARS))


_CHECKS: tuple[tuple[str, Check], ...] = (
    ("embedded_json", _any(_json_object, _first(_STRING_ARRAY, cased=True), _schema_lines)),
    ("markup", _first(*_MARKUP)),
    ("code", _any(_first(*_CODE_CASED, cased=True), _first(*_CODE))),
    ("sql", _first(*_SQL)),
    ("prompt_injection", _any(_ignore_instructions, _first(*_INJECTION))),
    ("role_play", _first(*_ROLE_PLAY)),
    ("encoded_payload", _encoded),
    ("homoglyph", _homoglyph),
    ("long_token", _long_token),
    ("repetition", _repetition),
)
