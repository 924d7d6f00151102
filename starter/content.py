"""Briefs from a file, as `aiflow run content FILE` reads them: a .json file (one brief or
a list) or a JSONL file (one brief a line), each checked against `Brief` (every field
capped) before anything is sent to Temporal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from activities.store import Store
from contracts.generation import Brief, GenerationInput
from settings import Settings
from starter.items import ItemToStart, json_items


def brief_items(path: Path, store: Store, settings: Settings) -> Iterator[ItemToStart]:
    """One item per brief of the file; an invalid brief is an item with `error` set."""
    yield from json_items(
        path,
        Brief,
        "brief_id",
        summary=lambda b: f"{b.kind.replace('_', ' ')} for {b.brand}",
        wrap=lambda b: GenerationInput(brief=b.model_dump(mode="json")),
    )


def demo_briefs(state_dir: Path) -> list[Path]:
    """`aiflow demo --workflow content`: the bundled briefs."""
    return [Path(__file__).resolve().parents[1] / "data" / "briefs" / "demo.jsonl"]
