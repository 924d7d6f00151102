"""Store columns that never keep sensitive values in clear: SQLAlchemy types that mask on
every write and, with a keyring, seal what is left (AIFLOW_STORE_PROTECTION).

Modes: "mask" (card numbers, IBANs, SSNs and credentials replaced by decisions.sensitive's
masks; the rest clear), "encrypt" (mask, then AES-256-GCM under the keyring's active key)
and "redact" (customer free text of the run's records not kept at all, only its length;
what a live run still needs, its large bodies and the response log, is masked and sealed).

A sealed value is self-describing text, `aiflow:sealed:v1:<key id>:<base64url>` (inside a
JSON column, a JSON string), so rows written before encryption still read, and a key
rotated out but still loaded still opens what it sealed. The column's name is the
ciphertext's associated data: a value copied into another column does not open.
Reading a value sealed under a key that is not loaded raises SealedValueError naming the
key id; reads that do not load that column (reports, deferred columns) are unaffected.

The protection in force is the engine's (`attach`, used by `Store(url, protection=...)`)
or else the process's (`use` / `install`, once at start by worker.py and the CLI).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import JSON, Text
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from decisions.sensitive import mask
from protection.keys import BadCiphertext, Keyring, KeySettingError, UnknownKey

Mode = Literal["encrypt", "mask", "redact"]
PREFIX = "aiflow:sealed:v1:"
# A clear value that itself starts with "aiflow:" is stored behind this, so no input can
# pass for a sealed value (and fail every read of its row)
CLEAR = "aiflow:clear:v1:"
PURPOSE = "aiflow-store-v1"
# Keys of the stored JSON (tickets, results, reviews, corrections, step details) whose
# values are customer free text or model text quoting it: dropped by "redact".
FREE_TEXT_KEYS = frozenset(
    {
        "subject",
        "body",
        "reply",
        "reasoning",
        "note",
        "text",
        "message",
        "content",
        "customer_name",
        "customer_email",
        "feedback",
        "qa_feedback",
        "findings",
    }
)
_ATTR = "aiflow_protection"  # where `attach` keeps an engine's protection, on its dialect


class SealedValueError(KeySettingError):
    """A stored value this process cannot open: sealed under a key id that is not loaded,
    or failing authentication. Names the column and key id, never data."""


@dataclass(frozen=True)
class Protection:
    mode: Mode = "mask"
    keyring: Keyring | None = None

    def __post_init__(self) -> None:
        if self.mode == "encrypt" and self.keyring is None:
            raise KeySettingError(
                "AIFLOW_STORE_PROTECTION=encrypt needs a key (AIFLOW_PAYLOAD_KEYS or "
                "AIFLOW_PAYLOAD_KEYS_FILE; `aiflow keys new` makes one)"
            )

    @property
    def seals(self) -> bool:
        return self.keyring is not None and self.mode in ("encrypt", "redact")


def protection_for(settings) -> Protection:  # settings: settings.Settings
    """The settings' protection: AIFLOW_STORE_PROTECTION, else encrypt with keys, else mask."""
    keyring = settings.keyring()
    mode = settings.store_protection or ("encrypt" if keyring else "mask")
    return Protection(mode, keyring)


_default = Protection()


def use(protection: Protection) -> None:
    """Make `protection` the process's default (engines without their own)."""
    global _default
    _default = protection


def install(settings):  # -> settings, for `return install(Settings())`
    """Install the settings' protection as the process default; returns the settings."""
    use(protection_for(settings))
    return settings


def attach(engine: Engine, protection: Protection | None) -> None:
    """Give one engine its own protection (None: follow the process default)."""
    setattr(engine.dialect, _ATTR, protection)


def current(dialect: Any = None) -> Protection:
    return getattr(dialect, _ATTR, None) or _default


def redacted(text: str) -> str:
    return f"[redacted {len(text)} chars]"


def redact_data(value: Any, inside: bool = False) -> Any:
    """Free-text values (under FREE_TEXT_KEYS, at any depth) replaced by their length."""
    if isinstance(value, str):
        return redacted(value) if inside else value
    if isinstance(value, dict):
        return {k: redact_data(v, inside or k in FREE_TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, inside) for v in value]
    return value


def mask_deep(value: Any) -> Any:
    """mask_data, also inside strings that are JSON documents (a model's structured
    answer), which stay valid JSON: a mask never eats a closing quote."""
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                parsed = json.loads(value)
            except ValueError:
                return mask(value)
            masked = mask_deep(parsed)
            return value if masked == parsed else json.dumps(masked, ensure_ascii=False)
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_deep(v) for v in value]
    return value


def seal_text(plain: str, keyring: Keyring, column: str) -> str:
    key_id, sealed = keyring.seal(plain.encode("utf-8"), PURPOSE, column.encode())
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(sealed).decode('ascii').rstrip('=')}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _escape(value: Any) -> Any:
    return CLEAR + value if isinstance(value, str) and value.startswith("aiflow:") else value


def _read(value: Any, dialect: Any, column: str) -> tuple[Any, bool]:
    """(the stored value opened or unescaped, whether it was sealed)."""
    if is_sealed(value):
        return open_text(value, current(dialect).keyring, column), True
    if isinstance(value, str) and value.startswith(CLEAR):
        return value[len(CLEAR) :], False
    return value, False


def open_text(value: str, keyring: Keyring | None, column: str) -> str:
    key_id, _, data = value[len(PREFIX) :].partition(":")
    if keyring is None:
        raise SealedValueError(
            f"{column}: a value sealed under key {key_id!r}, and no key is loaded "
            "(AIFLOW_PAYLOAD_KEYS / AIFLOW_PAYLOAD_KEYS_FILE)"
        )
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        return keyring.open(key_id, raw, PURPOSE, column.encode()).decode("utf-8")
    except UnknownKey:
        raise SealedValueError(
            f"{column}: a value sealed under key {key_id!r}, which is not loaded "
            f"(loaded: {', '.join(keyring.key_ids)}); add it to AIFLOW_PAYLOAD_KEYS to read it"
        ) from None
    except (BadCiphertext, ValueError):
        raise SealedValueError(
            f"{column}: a value sealed under key {key_id!r} failed authentication"
        ) from None


class SealedText(TypeDecorator):
    """Text, masked on write (unless `masked=False`: the caller masks, e.g. base64
    blobs), dropped to its length by redact (if `free_text`), sealed with a key."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str, *, free_text: bool = True, masked: bool = True) -> None:
        super().__init__()
        self.column, self.free_text, self.masked = column, free_text, masked

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        p = current(dialect)
        value = mask_deep(value) if self.masked else value
        if p.mode == "redact" and self.free_text:
            return redacted(value)  # the masked text's length, as SealedJSON keeps
        return seal_text(value, p.keyring, self.column) if p.seals else _escape(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return _read(value, dialect, self.column)[0]


class SealedJSON(TypeDecorator):
    """JSON, masked on write at every depth, its FREE_TEXT_KEYS dropped by redact (if
    `free_text`), and sealed whole, as a JSON string, with a key."""

    impl = JSON
    cache_ok = True

    def __init__(self, column: str, *, free_text: bool = True) -> None:
        super().__init__()
        self.column, self.free_text = column, free_text

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        p = current(dialect)
        value = mask_deep(value)
        if p.mode == "redact" and self.free_text:
            value = redact_data(value)
        if not p.seals:
            return _escape(value)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return seal_text(plain, p.keyring, self.column)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        value, was_sealed = _read(value, dialect, self.column)
        return json.loads(value) if was_sealed else value
