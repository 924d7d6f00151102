"""Wire types of the product-review example: the item, the model's answer, the result.
Every field of the item is capped: input is bounded before it crosses a Temporal boundary."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts import StepRecord
from contracts.items import FieldDelta


class ProductReview(BaseModel):
    review_id: str = Field(min_length=1, max_length=64)  # the business key
    product: str = Field(min_length=1, max_length=200)
    rating: int = Field(ge=1, le=5)
    text: str = Field(min_length=1, max_length=5_000)


class ReviewInput(BaseModel):
    review: ProductReview


class Sentiment(BaseModel):
    """The model's answer (prompt reviews.sentiment, output_schema "Sentiment")."""

    sentiment: Literal["positive", "neutral", "negative"]
    topics: list[str] = Field(default_factory=list, max_length=5)
    confidence: float = Field(ge=0, le=1)


class ReviewResult(BaseModel):
    review_id: str
    outcome: Literal["labelled", "corrected", "approved", "rejected", "escalated"]
    sentiment: str | None = None
    topics: list[str] = Field(default_factory=list)
    route: str  # "care" (an unhappy customer to call back) or "catalogue"
    deltas: list[FieldDelta] = Field(default_factory=list)
    cost_usd: float = 0.0
    steps: list[StepRecord] = Field(default_factory=list)
