"""The structured outputs aiflow's own prompts name (`output_schema` in data/prompts/*.toml),
by name: the gateway validates model output against these (and those the registered
workflows' specs declare), once."""

from __future__ import annotations

from pydantic import BaseModel

from contracts import Classification, Draft

OUTPUT_SCHEMAS: dict[str, type[BaseModel]] = {
    "Classification": Classification,
    "Draft": Draft,
}
