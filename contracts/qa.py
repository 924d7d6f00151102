"""Deterministic QA findings, shared by every workflow's checks.

Durable contracts: histories keep these shapes, so only add optional fields.
"""

from __future__ import annotations

from pydantic import Field

from contracts.common import Wire


class QaFinding(Wire):
    check: str  # length, greeting, sign_off, internal_note, secret, pii, forbidden_promise
    message: str


class QaReport(Wire):
    passed: bool
    findings: list[QaFinding] = Field(default_factory=list)
