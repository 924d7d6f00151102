"""aiflow's one settings class. Read only by worker.py and starter/ (never by workflows).

Every variable is documented in `.env.example`. The Temporal connection itself is not
here: it comes from Temporal's own environment configuration (`TEMPORAL_ADDRESS`,
`TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`, TOML
profiles), so a worker moves from the dev server to a cluster or Temporal Cloud unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts import MODEL_QUEUE, ORCHESTRATION_QUEUE

ROOT = Path(__file__).resolve().parent
FaultKind = Literal["timeout", "rate_limit", "server_error", "malformed", "bad_request"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AIFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_parse_none_str="",  # an empty variable means "not set"
        extra="ignore",
    )

    # --- where things live
    data_dir: Path = ROOT / "data"
    state_dir: Path = ROOT / "var"
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "AIFLOW_DATABASE_URL"),
        description="SQLAlchemy URL; empty means a SQLite file in state_dir.",
    )
    rules_file: Path | None = None  # default: data_dir/rules/triage-v1.json

    # --- task queues and worker limits
    orchestration_queue: str = ORCHESTRATION_QUEUE
    model_queue: str = MODEL_QUEUE
    model_activities_per_second: float | None = None  # server-enforced, across all workers
    max_concurrent_model_activities: int = 200
    max_concurrent_local_activities: int = 50
    shutdown_grace_seconds: float = 30.0
    # register: add missing ones at start; verify: refuse to start if missing; off: no check
    search_attributes: Literal["register", "verify", "off"] = "register"

    # --- the pipeline's policy, pinned per run when it starts
    # 0.60: the lowest threshold at which the offline classifier auto-resolved no wrongly
    # classified ticket, on data/offline/eval.jsonl (39/49 auto) and the demo set (19/38 auto).
    auto_resolve_confidence: float = Field(0.60, ge=0.0, le=1.0)
    max_qa_regenerations: int = Field(2, ge=0, le=5)
    review_sla_seconds: float = Field(24 * 3600.0, gt=0)
    max_body_chars: int = Field(20_000, gt=0)  # longer bodies are stored, not sent, and rejected

    # --- models
    model_provider: Literal["offline"] = "offline"
    classify_model: str = "offline-knn-v1"
    draft_model: str = "offline-template-v1"

    # --- the offline provider's simulation knobs (benchmarks and chaos tests use them)
    offline_latency_ms: float = Field(0.0, ge=0)
    offline_latency_jitter_ms: float = Field(0.0, ge=0)
    offline_fault_rate: float = Field(0.0, ge=0.0, le=1.0)
    offline_fault_kinds: Annotated[list[FaultKind], NoDecode] = ["rate_limit", "server_error"]
    offline_fault_max_attempt: int | None = None

    # --- the embedded dev server (aiflow dev / aiflow demo)
    dev_ip: str = "127.0.0.1"
    dev_port: int = 7233
    dev_ui_port: int = 8233

    # --- logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("offline_fault_kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):  # comma-separated in the environment
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'aiflow.db'}"

    @property
    def rules_path(self) -> Path:
        return self.rules_file or self.data_dir / "rules" / "triage-v1.json"
