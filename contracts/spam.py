"""Spam detection's wire shapes: the policy a run pins, the check it asks for and the
verdict it gets back (recorded in history, so a retrained model never changes a replay)."""

from __future__ import annotations

from pydantic import Field

from contracts.common import Wire


class SpamPolicy(Wire):
    """How a run uses the spam model; pinned in its RunConfig when it starts. Absent in
    older runs: off, and the rules alone close spam as they did."""

    enabled: bool = False


class SpamCheck(Wire):
    subject: str
    body: str  # the normalised body (an excerpt of a long one)
    sender: str = ""
    headers: dict[str, str] = Field(default_factory=dict)  # lower-case names


class SpamVerdict(Wire):
    p_spam: float
    lane: str  # close | likely_spam | clear
    reasons: list[str] = Field(default_factory=list)  # the strongest evidence, no values
    model_version: str
    close_bar: float
    likely_bar: float


SPAM_ROUTE = "spam"  # closed as spam
SPAM_REVIEW_ROUTE = "spam-review"  # the likely-spam review lane
SPAM_LANE_REASON = "likely_spam"  # the review reason of the likely-spam lane
