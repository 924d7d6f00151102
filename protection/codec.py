"""aiflow's Temporal payload codecs and the data converter every client and worker uses.

`build_codec(settings)` chains two codecs, applied to every payload the SDK sends to the
server (workflow and activity inputs and results, signals, updates, queries, memos, and
failure messages and stack traces through the encoded-attributes failure converter):

1. **EncryptionCodec** (when keys are configured): the whole serialized payload sealed
   with AES-256-GCM under the active key, the key id in the metadata. Payloads without
   aiflow's encryption encoding pass through decode untouched, so histories recorded
   before encryption was switched on still replay.
2. **ClaimCheckCodec** (always): a payload, already encrypted, larger than
   `AIFLOW_CLAIM_CHECK_BYTES` is written once to the blob store and travels as a small
   reference, so input size can never reach the server's 2 MiB payload limit.

Search attributes are not payloads the codec sees: aiflow puts no customer data in them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from protection.blobs import BlobStore, S3BlobStore, SqlBlobStore
from protection.keys import BadCiphertext, Keyring, UnknownKey

ENCRYPTED = b"binary/encrypted"  # the encoding Temporal's samples and tools use
CLAIM_CHECK = b"json/aiflow-claim-check"
KEY_ID = "encryption-key-id"
PURPOSE = "aiflow-payload-v1"
UNENCRYPTED_NOTICE = (
    "payloads are NOT encrypted: anyone with access to this Temporal namespace or its Web UI "
    "reads ticket text in clear (set AIFLOW_PAYLOAD_KEYS; `aiflow keys new` makes a key)"
)


class PayloadDecodeError(ValueError):
    """A payload this process cannot decode: its key id is not loaded, it was tampered
    with, or its claim-checked blob is gone. Names the key id or reference, never data."""


class EncryptionCodec(PayloadCodec):
    """Every payload sealed whole (metadata and data) under the keyring's active key."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            key_id, sealed = self.keyring.seal(p.SerializeToString(), PURPOSE)
            out.append(
                Payload(metadata={"encoding": ENCRYPTED, KEY_ID: key_id.encode()}, data=sealed)
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def decode_one(self, p: Payload) -> Payload:
        if p.metadata.get("encoding") != ENCRYPTED:
            return p  # written before encryption was on (or by a codec-less client)
        key_id = p.metadata.get(KEY_ID, b"").decode("utf-8", "replace")[:64]
        try:
            plain = self.keyring.open(key_id, p.data, PURPOSE)
        except UnknownKey:
            raise PayloadDecodeError(
                f"payload encrypted under key {key_id!r}, which is not loaded "
                f"(loaded: {', '.join(self.keyring.key_ids)})"
            ) from None
        except BadCiphertext as err:
            raise PayloadDecodeError(f"payload under key {key_id!r}: {err}") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


class ClaimCheckCodec(PayloadCodec, WithSerializationContext):
    """Payloads over `threshold` bytes go to the blob store; a reference travels instead."""

    def __init__(self, blobs: BlobStore, threshold: int, workflow_id: str | None = None) -> None:
        self.blobs, self.threshold, self.workflow_id = blobs, threshold, workflow_id

    def with_context(self, context: SerializationContext) -> Self:
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            return type(self)(self.blobs, self.threshold, context.workflow_id)
        return self

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.ByteSize() <= self.threshold:
                out.append(p)
                continue
            data = p.SerializeToString()
            ref = await self.blobs.put(data, self.workflow_id)
            reference = json.dumps({"ref": ref, "size": len(data)}).encode()
            out.append(Payload(metadata={"encoding": CLAIM_CHECK}, data=reference))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != CLAIM_CHECK:
                out.append(p)
                continue
            try:
                ref = str(json.loads(p.data)["ref"])[:80]
            except (ValueError, KeyError, TypeError):
                raise PayloadDecodeError("malformed claim-check reference") from None
            try:
                data = await self.blobs.get(ref)
            except LookupError:
                raise PayloadDecodeError(
                    f"claim-checked payload {ref} is not in the blob store"
                ) from None
            decoded = Payload()
            decoded.ParseFromString(data)
            out.append(decoded)
        return out


class ChainCodec(PayloadCodec, WithSerializationContext):
    """Codecs applied in order on encode and in reverse on decode."""

    def __init__(self, codecs: list[PayloadCodec]) -> None:
        self.codecs = codecs

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(
            [
                c.with_context(context) if isinstance(c, WithSerializationContext) else c
                for c in self.codecs
            ]
        )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out

    @property
    def encrypts(self) -> bool:
        return any(isinstance(c, EncryptionCodec) for c in self.codecs)


_blob_stores: dict[tuple[str, str | None], BlobStore] = {}  # one engine / client per process


def blob_store(settings) -> BlobStore:  # settings: settings.Settings
    """The blob store AIFLOW_BLOB_STORE names (the SQL store by default), built once."""
    where = settings.blob_store
    key = (settings.store_url if where == "store" else where, settings.s3_endpoint_url)
    if key not in _blob_stores:
        if where == "store":
            from activities.store import make_engine

            _blob_stores[key] = SqlBlobStore(make_engine(settings.store_url))
        elif where.startswith("s3://"):
            _blob_stores[key] = S3BlobStore(where, settings.s3_endpoint_url)
        else:
            raise ValueError(f"AIFLOW_BLOB_STORE {where!r}: use 'store' or s3://bucket/prefix")
    return _blob_stores[key]


def build_codec(settings) -> ChainCodec:
    """Encryption (if keys are configured) then the claim check, for these settings."""
    keyring = settings.keyring()
    codecs: list[PayloadCodec] = [EncryptionCodec(keyring)] if keyring else []
    codecs.append(ClaimCheckCodec(blob_store(settings), settings.claim_check_bytes))
    return ChainCodec(codecs)


def data_converter(settings) -> DataConverter:
    """pydantic's converter with aiflow's codecs; failure messages and stack traces are
    moved into the (encoded) attributes so they are encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=build_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def encrypts(converter: DataConverter) -> bool:
    codec = converter.payload_codec
    return isinstance(codec, ChainCodec) and codec.encrypts
