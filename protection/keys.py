"""The keyring: AES-256-GCM keys by id, one active for encrypting and every one loaded for
decrypting, so a key rotated out still opens the histories and rows it sealed.

Keys come from `AIFLOW_PAYLOAD_KEYS` (JSON `{"<key id>": "<base64 of 32 bytes>"}`) or from
the file `AIFLOW_PAYLOAD_KEYS_FILE` (the same JSON), never from code; `aiflow keys new`
makes one. Each purpose (Temporal payloads, store columns, blobs) encrypts under its own
subkey derived with HKDF, so a ciphertext of one purpose never opens as another's.
Key material is never logged or printed: errors name key ids only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce, random per message
MAX_KEYS = 64


class KeySettingError(ValueError):
    """A key setting that cannot be used (named by key id, never by value)."""


class UnknownKey(LookupError):
    """Ciphertext sealed under a key id this keyring does not hold."""


class BadCiphertext(ValueError):
    """Ciphertext that fails authentication: tampered, truncated or of another purpose."""


def new_key() -> str:
    """A fresh random key, as the base64 text AIFLOW_PAYLOAD_KEYS takes."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _decode_key(key_id: str, text: str) -> bytes:
    if not KEY_ID.fullmatch(key_id):
        raise KeySettingError(f"key id {key_id[:40]!r}: use 1-32 letters, digits, '.', '_' or '-'")
    try:
        raw = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeySettingError(
            f"key {key_id!r} is not base64 of {KEY_BYTES} bytes (aiflow keys new)"
        )
    return raw


def parse_keys(text: str, source: str) -> dict[str, bytes]:
    """Key id -> key bytes from JSON text; KeySettingError names `source` and the key id."""
    try:
        data = json.loads(text)
    except ValueError:
        raise KeySettingError(f'{source}: not JSON of the form {{"<key id>": "<key>"}}') from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise KeySettingError(f'{source}: not JSON of the form {{"<key id>": "<key>"}}')
    if len(data) > MAX_KEYS:
        raise KeySettingError(f"{source}: more than {MAX_KEYS} keys")
    return {str(k): _decode_key(str(k), v) for k, v in data.items()}


class Keyring:
    """Keys by id; `active` seals, all open."""

    def __init__(self, keys: dict[str, bytes], active: str | None = None) -> None:
        if not keys:
            raise KeySettingError("no keys")
        active = active or next(reversed(keys))  # the newest listed, unless named
        if active not in keys:
            raise KeySettingError(f"the active key id {active!r} is not among the loaded keys")
        self._keys = dict(keys)
        self.active = active
        self._aead: dict[tuple[str, str], AESGCM] = {}

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(active={self.active!r}, ids={self.key_ids!r})"

    def _cipher(self, key_id: str, purpose: str) -> AESGCM:
        found = self._aead.get((key_id, purpose))
        if found is None:
            if key_id not in self._keys:
                raise UnknownKey(key_id)
            sub = HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()
            ).derive(self._keys[key_id])
            found = self._aead[(key_id, purpose)] = AESGCM(sub)
        return found

    def seal(self, plaintext: bytes, purpose: str, aad: bytes = b"") -> tuple[str, bytes]:
        """(key id, nonce + ciphertext + tag) under the active key's `purpose` subkey."""
        nonce = os.urandom(NONCE_BYTES)
        return self.active, nonce + self._cipher(self.active, purpose).encrypt(
            nonce, plaintext, aad
        )

    def open(self, key_id: str, sealed: bytes, purpose: str, aad: bytes = b"") -> bytes:
        """The plaintext; UnknownKey for a key id not loaded, BadCiphertext if it fails
        authentication."""
        cipher = self._cipher(key_id, purpose)
        if len(sealed) < NONCE_BYTES + 16:
            raise BadCiphertext("ciphertext too short")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise BadCiphertext("ciphertext failed authentication") from None


def keyring_from(
    keys_json: str | None, keys_file: Path | None, active: str | None
) -> Keyring | None:
    """The keyring the settings describe (AIFLOW_PAYLOAD_KEYS and/or AIFLOW_PAYLOAD_KEYS_FILE,
    AIFLOW_PAYLOAD_KEY_ID), or None when neither names a key: payloads stay unencrypted."""
    keys: dict[str, bytes] = {}
    if keys_file is not None:
        try:
            text = Path(keys_file).read_text(encoding="utf-8")
        except OSError as err:
            raise KeySettingError(f"AIFLOW_PAYLOAD_KEYS_FILE {keys_file}: {err.strerror}") from None
        keys |= parse_keys(text, f"AIFLOW_PAYLOAD_KEYS_FILE {keys_file}")
    if keys_json:
        keys |= parse_keys(keys_json, "AIFLOW_PAYLOAD_KEYS")
    if not keys:
        if active:
            raise KeySettingError("AIFLOW_PAYLOAD_KEY_ID is set but no key is loaded")
        return None
    return Keyring(keys, active)
