"""The structured outputs triage's prompts name (`output_schema` in data/prompts/*.toml),
by name; every other workflow's come from its spec (`WorkflowSpec.output_schemas`). The
gateway validates model output against these, once."""

from __future__ import annotations

from pydantic import BaseModel

from contracts import Classification, Draft

OUTPUT_SCHEMAS: dict[str, type[BaseModel]] = {
    "Classification": Classification,
    "Draft": Draft,
}
