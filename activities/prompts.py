"""Versioned prompt files: `data/prompts/<id>.<version>.toml`.

Each file holds `id`, `version`, `task` (what the offline provider performs),
`output_schema` (the pydantic model the answer must validate against), `system` and
`user` templates. A run pins {id: (version, sha256)} when it starts; the gateway refuses
a pinned file whose content changed under it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.providers.base import Message
from contracts import PromptRef


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    id: str
    version: str
    task: str
    output_schema: str
    system: str
    user: str
    sha256: str

    @property
    def ref(self) -> PromptRef:
        return PromptRef(id=self.id, version=self.version, sha256=self.sha256)

    def render(self, variables: dict[str, Any]) -> list[Message]:
        values = {k: _text(v) for k, v in variables.items()}
        try:
            user = self.user.format(**values)
        except KeyError as err:
            raise PromptError(f"prompt {self.id}@{self.version} needs variable {err}") from err
        return [Message(role="system", content=self.system), Message(role="user", content=user)]


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "\n".join(f"- {item}" for item in value) or "(none)"
    return str(value)


def _version_key(version: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


class PromptLibrary:
    """All prompt versions in a folder (and in the folders of the workflows a deployment
    adds), loaded and checked once per worker."""

    def __init__(self, folder: Path, *more: Path) -> None:
        self._prompts: dict[tuple[str, str], Prompt] = {}
        paths = [p for f in (folder, *more) for p in sorted(f.glob("*.toml"))]
        for path in paths:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
            missing = {"id", "version", "task", "output_schema", "system", "user"} - set(data)
            if missing:
                raise PromptError(f"{path}: missing {sorted(missing)}")
            if path.name != f"{data['id']}.{data['version']}.toml":
                raise PromptError(f"{path}: id/version inside do not match the file name")
            prompt = Prompt(
                id=data["id"],
                version=data["version"],
                task=data["task"],
                output_schema=data["output_schema"],
                system=data["system"],
                user=data["user"],
                sha256=hashlib.sha256(raw).hexdigest(),
            )
            if (prompt.id, prompt.version) in self._prompts:
                raise PromptError(f"{path}: {prompt.id}@{prompt.version} is defined twice")
            self._prompts[(prompt.id, prompt.version)] = prompt

    def all(self) -> list[Prompt]:
        return list(self._prompts.values())

    def ids(self) -> list[str]:
        return sorted({pid for pid, _ in self._prompts})

    def latest(self, prompt_id: str) -> Prompt:
        versions = [v for pid, v in self._prompts if pid == prompt_id]
        if not versions:
            raise PromptError(f"no prompt {prompt_id!r}")
        return self._prompts[(prompt_id, max(versions, key=_version_key))]

    def get(self, ref: PromptRef) -> Prompt:
        prompt = self._prompts.get((ref.id, ref.version))
        if prompt is None:
            raise PromptError(f"prompt {ref.id}@{ref.version} is not deployed on this worker")
        if ref.sha256 and prompt.sha256 != ref.sha256:
            raise PromptError(f"prompt {ref.id}@{ref.version} changed since the run pinned it")
        return prompt
