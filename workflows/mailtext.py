"""E-mail text for intake: HTML reduced to readable text, the new text of a reply told apart
from its quoted history and signature, RFC 5322 addresses parsed and validated.

Pure and deterministic: intake runs it inside the workflow sandbox, which passes it through
with the libraries it uses (inscriptis on lxml for HTML; email-validator, with no DNS, on
idna for addresses); their versions are pinned, as workflow code. Bounded time on any
input: HTML is cut to MAX_HTML_CHARS before it is parsed (libxml2 also stops at its nesting
limit, 256 levels: deeper text is dropped); each attribution pattern is anchored at a line
start and bounded to two lines of 400 characters; quoted lines and the signature are found
by single regex and string scans, in C.

A reply (`split_reply`, on text as `intake.normalize_text` leaves it: lines trimmed):
  * quoted history starts at the first attribution line, cased as mail clients write it:
    "On ... wrote:" (also wrapped on two lines), "Am ... schrieb ...:", "Le ... a écrit :",
    "El ... escribió:", "Il giorno ... ha scritto:", "Em ... escreveu:", "Op ... schreef
    ...:", an Outlook "-----Original Message-----" line (or its German, French, Spanish,
    Italian forms, any case) or a "From: ..." line followed by "Sent: ..." (and their
    translations); a line of underscores or dashes right above it goes too;
  * before it, lines quoted with ">" (">", "> text", ">> text") are history too;
  * the signature is what follows the last "-- " delimiter line (RFC 3676) of the rest;
  * sign-offs ("Thanks, Anna"), "Sent from my iPhone" and forwarded messages ("Begin
    forwarded message:", Gmail's "From:"/"Date:" block, anything under a "Fwd:"/"WG:"/
    "TR:"/"RV:" subject) are kept: they are the customer's words or what they want read.
If nothing is left, the text is kept whole (a message that is all quote is still a message).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from inscriptis.model.tag import CustomHtmlTagHandlerMapping
from lxml.etree import LxmlError

# Markup read of an HTML body: about what Gmail shows of a message (it clips at 102 KB).
# Rendering dense markup (a table cell or a <br> per few characters) takes ~2.5 s per
# million characters; this bounds it to ~0.25 s, well inside a workflow task's 2 s.
MAX_HTML_CHARS = 100_000
HTML_SNIFF_CHARS = 4_000  # of a body looked at to tell HTML from text
MIN_HTML_TAGS = 5  # known element tags in that window make a body without <html> HTML
MAX_LINK_CHARS = 500  # of a link's URL kept in the text

# --- HTML ---------------------------------------------------------------------------------

# <!doctype html>, <html>, <head>, <body> anywhere in the window, or a body that starts with
# a block element: markup, not a message about markup.
_HTML_ROOT_RE = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>/]", re.IGNORECASE)
_HTML_START_RE = re.compile(r"<(?:div|p|table|meta|style)[\s>/]", re.IGNORECASE)
_HTML_TAG_RE = re.compile(
    r"</?(?:a|b|blockquote|br|center|div|em|font|h[1-6]|hr|i|img|li|ol|p|span|strong|table"
    r"|tbody|td|th|tr|u|ul)[\s>/]",
    re.IGNORECASE,
)
# lxml refuses C0 controls (but \t \n \r) and lone surrogates in a str.
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]+")


def looks_like_html(text: str) -> bool:
    """Whether `text` is an HTML document or fragment rather than prose that shows a tag."""
    head = text[:HTML_SNIFF_CHARS]
    if _HTML_ROOT_RE.search(head) or _HTML_START_RE.match(head.lstrip()):
        return True
    return len(_HTML_TAG_RE.findall(head)) >= MIN_HTML_TAGS


def html_to_text(html: str, max_chars: int = MAX_HTML_CHARS) -> str:
    """Readable text of the first `max_chars` characters of `html`: blocks and line breaks
    as lines, list items as bullets, table cells side by side, links as "[text](url)";
    scripts, styles, the head and elements hidden with `display:none` dropped."""
    html = _NOT_XML_RE.sub("", html[:max_chars])
    try:
        return get_text(html, _HTML_CONFIG)
    except (ValueError, LxmlError):  # lxml: nothing it can read as a document
        return ""


def _link_start(state, attrs: dict) -> None:  # state: inscriptis' HtmlDocumentState
    href = (attrs.get("href") or "").strip()
    state.link_target = "" if href.startswith("#") else href[:MAX_LINK_CHARS]
    if state.link_target:
        state.tags[-1].write("[")


def _link_end(state) -> None:
    if state.link_target:
        state.tags[-1].write(f"]({state.link_target})")


# "strict": no spaces invented around inline elements (fi<b>rs</b>t stays "first").
_HTML_CONFIG = ParserConfig(
    css=CSS_PROFILES["strict"],
    custom_html_tag_handler_mapping=CustomHtmlTagHandlerMapping(
        {"a": _link_start}, {"a": _link_end}
    ),
)

# --- replies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    text: str  # the new text (or the whole, if nothing else was left)
    quoted_chars: int = 0  # of quoted history cut
    signature_chars: int = 0  # of the signature cut


def _attribution(prefix: str, suffix: str) -> str:
    # A line starting with `prefix`, ending with `suffix` on it or on the next line (mail
    # clients wrap long ones); each line at most 400 characters: linear time.
    return rf"^{prefix} (?=[^\n]{{0,400}}(?:\n[^\n]{{0,400}})?[ \n]{suffix}$)"


def _attribution_verb(prefix: str, verb: str) -> str:
    # "Am <date> schrieb <name> <address>:": the verb on the first line, the colon at the
    # end of it or of the next.
    return (
        rf"^{prefix} (?=[^\n]{{0,400}}(?:\n[^\n]{{0,400}})?:$)"
        rf"(?=[^\n]{{0,400}}?[ \n]{verb}(?:[ :]|$))"
    )


_HISTORY_RE = re.compile(
    "|".join(
        [
            _attribution("On", "wrote:"),
            _attribution_verb("Am", "schrieb"),
            _attribution("Le", "a écrit ?:"),
            _attribution("El", "escribió:"),
            _attribution("Il giorno", "ha scritto:"),
            _attribution("Em", "escreveu:"),
            _attribution_verb("Op", "schreef"),
            r"^-{3,} ?(?i:Original Message|Ursprüngliche Nachricht|Message d'origine"
            r"|Mensaje original|Messaggio originale) ?-{3,}$",
            # Outlook's block; "From:" then "Date:" is Gmail's forward, kept
            r"^\*?(?:From|Von|De|Da) ?:\*? [^\n]{1,400}\n"
            r"\*?(?:Sent|Gesendet|Envoyé|Enviado(?: el)?|Inviato) ?:\*? ",
        ]
    ),
    re.MULTILINE,
)
# "Fwd:", "WG:", "TR:", "RV:" (after any "Re:"): a forward, read whole.
FORWARD_SUBJECT_RE = re.compile(
    r"\s*(?:\[[^\]\n]{0,40}\]\s*)?(?:(?:re|aw|sv|antw)\s*:\s*)*(?:fwd?|wg|tr|rv|enc)\s*:",
    re.IGNORECASE,
)
_QUOTED_LINE_RE = re.compile(r"^>(?:[ >][^\n]*)?(?:\n|\Z)", re.MULTILINE)
_RULE_LINE_RE = re.compile(r"\n[_-]{10,}\Z")  # Outlook's line above its "From:" block
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def split_reply(text: str, subject: str = "") -> Reply:
    """The new text of `text` (normalised: `\\n` line breaks, lines trimmed), without its
    quoted history and signature, as the module docstring describes; all of it for a
    forward (by its `subject`)."""
    if FORWARD_SUBJECT_RE.match(subject):
        return Reply(text)
    found = _HISTORY_RE.search(text)
    head = text[: found.start()] if found else text
    if found:
        head = _RULE_LINE_RE.sub("", head.rstrip()).rstrip()
    new = _QUOTED_LINE_RE.sub("", head)
    quoted = len(text) - len(new)
    signature = 0
    at = ("\n" + new + "\n").rfind("\n--\n")
    if at >= 0:
        signature = len(new) - at
        new = new[:at]
    new = _BLANK_LINES_RE.sub("\n\n", new).strip()
    if not new:
        return Reply(text)
    return Reply(new, quoted, signature)


# --- addresses ----------------------------------------------------------------------------


class AddressError(ValueError):
    """An address that is not valid; the message says why, in a sentence."""


_CONFUSABLE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def parse_address(value: str) -> tuple[str, str]:
    """`(address, display name)` of `addr`, `<addr>`, `Name <addr>` or `"Name" <addr>`.

    The address is checked by email-validator (RFC 5321/5322 with RFC 6531 UTF-8 local
    parts and IDNA 2008 domains, no DNS) and returned as it normalises it (NFC, domain as
    Unicode, lower case), then all lower-cased, as intake always did. A part mixing Latin,
    Cyrillic or Greek letters (a look-alike of another address) is refused too."""
    value = value.strip()
    name = ""
    if value.endswith(">") and "<" in value:
        at = value.rindex("<")
        name, value = value[:at].strip(), value[at + 1 : -1].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
    try:
        checked = validate_email(
            value,
            check_deliverability=False,  # never DNS: this runs in a workflow
            allow_smtputf8=True,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            globally_deliverable=True,
            test_environment=False,
        )
    except EmailNotValidError as err:
        reason = str(err)
        raise AddressError(reason[:1].lower() + reason[1:200]) from None
    address = checked.normalized.lower()
    for part in (checked.local_part, *checked.domain.split(".")):
        scripts = sorted(_scripts(part) & _CONFUSABLE_SCRIPTS)
        if len(scripts) > 1:
            mixed = " and ".join(s.title() for s in scripts)
            raise AddressError(f"it mixes {mixed} letters (a look-alike address).")
    if name.lower() == address:
        name = ""
    return address, name


def _scripts(part: str) -> set[str]:
    if part.isascii():
        return {"LATIN"} if any(c.isalpha() for c in part) else set()
    return {unicodedata.name(c, "?").split(" ", 1)[0] for c in part if c.isalpha()}


def warm_up() -> None:
    """Load what the first call would (idna's tables, inscriptis' CSS, lxml's parser)."""
    parse_address('"Jörg" <jörg@bücher.example>')
    html_to_text("<p>a <a href='https://example.com'>b</a></p>")
