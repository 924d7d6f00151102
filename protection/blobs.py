"""Where claim-checked payloads live: a table of the SQL store by default
(`AIFLOW_BLOB_STORE=store`), or an S3-compatible bucket (`AIFLOW_BLOB_STORE=s3://bucket/prefix`).

A blob is the already encrypted payload, named by the SHA-256 of its bytes, with the
workflow id it belongs to, so erasure and retention (activities/erasure.py, purge.py) find
it with its run.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import Column, LargeBinary
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

MAX_BLOB_BYTES = 64 * 1024 * 1024  # larger than any input aiflow accepts; a hard stop


def _now() -> datetime:
    return datetime.now(UTC)


class PayloadBlobRow(SQLModel, table=True):
    __tablename__ = "payload_blobs"

    ref: str = Field(primary_key=True, max_length=80)  # sha256:<hex>
    workflow_id: str | None = Field(default=None, index=True, max_length=256)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=_now, index=True)


class BlobMissing(LookupError):
    """A reference whose blob is gone (purged, erased, or another store configured)."""


class BlobStore(Protocol):
    async def put(self, data: bytes, workflow_id: str | None) -> str: ...
    async def get(self, ref: str) -> bytes: ...


def blob_ref(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class SqlBlobStore:
    """Blobs in the store's `payload_blobs` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        from activities.store import create_schema  # its retries: processes racing on one file

        self.engine = engine
        create_schema(engine, tables=[PayloadBlobRow.__table__])

    def put_sync(self, data: bytes, workflow_id: str | None) -> str:
        ref = blob_ref(data)
        with Session(self.engine) as session:
            if session.get(PayloadBlobRow, ref) is None:
                session.add(
                    PayloadBlobRow(ref=ref, workflow_id=workflow_id, size=len(data), data=data)
                )
                try:
                    session.commit()
                except Exception:  # a concurrent writer stored the same bytes first
                    session.rollback()
                    if session.get(PayloadBlobRow, ref) is None:
                        raise
        return ref

    def get_sync(self, ref: str) -> bytes:
        with Session(self.engine) as session:
            row = session.get(PayloadBlobRow, ref)
        if row is None:
            raise BlobMissing(ref)
        return row.data

    async def put(self, data: bytes, workflow_id: str | None) -> str:
        return await asyncio.to_thread(self.put_sync, data, workflow_id)

    async def get(self, ref: str) -> bytes:
        return await asyncio.to_thread(self.get_sync, ref)


class S3BlobStore:
    """Blobs as objects `<prefix>/<sha256 hex>` in an S3-compatible bucket (boto3, optional:
    `pip install 'aiflow[s3]'`); the workflow id is kept as object metadata."""

    def __init__(self, url: str, endpoint_url: str | None = None) -> None:
        try:
            import boto3  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ValueError("AIFLOW_BLOB_STORE=s3://... needs boto3: pip install boto3") from None
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"AIFLOW_BLOB_STORE {url!r}: expected s3://bucket[/prefix]")
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self._s3 = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, ref: str) -> str:
        name = ref.removeprefix("sha256:")
        return f"{self.prefix}/{name}" if self.prefix else name

    def put_sync(self, data: bytes, workflow_id: str | None) -> str:
        ref = blob_ref(data)
        meta = {"workflow-id": workflow_id[:1000]} if workflow_id else {}
        self._s3.put_object(Bucket=self.bucket, Key=self._key(ref), Body=data, Metadata=meta)
        return ref

    def get_sync(self, ref: str) -> bytes:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._key(ref))
        except self._s3.exceptions.NoSuchKey:
            raise BlobMissing(ref) from None
        return answer["Body"].read(MAX_BLOB_BYTES + 1)

    async def put(self, data: bytes, workflow_id: str | None) -> str:
        return await asyncio.to_thread(self.put_sync, data, workflow_id)

    async def get(self, ref: str) -> bytes:
        return await asyncio.to_thread(self.get_sync, ref)
