"""`aiflow run reviews FILE`: product reviews from a .json or .jsonl file (client side)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from activities.store import Store
from examples.product_reviews.contracts import ProductReview, ReviewInput
from settings import Settings
from starter.items import ItemToStart, json_items


def review_items(path: Path, store: Store, settings: Settings) -> Iterator[ItemToStart]:
    yield from json_items(
        path,
        ProductReview,
        "review_id",
        summary=lambda r: f"Review {r.review_id} of {r.product}",
        wrap=lambda r: ReviewInput(review=r),
    )
