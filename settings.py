"""aiflow's one settings class. Read only by worker.py and starter/ (never by workflows).

Every variable is documented in `.env.example`. The Temporal connection itself is not
here: it comes from Temporal's own environment configuration (`TEMPORAL_ADDRESS`,
`TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`, TOML
profiles), so a worker moves from the dev server to a cluster or Temporal Cloud unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts import MODEL_QUEUE, ORCHESTRATION_QUEUE, DegradationPolicy
from contracts.cache import CachePolicy

ROOT = Path(__file__).resolve().parent
FaultKind = Literal["timeout", "rate_limit", "server_error", "malformed", "bad_request"]


class CascadeSetting(BaseModel):
    small: str  # the catalogue alias of the step's small tier
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)  # under it: escalate


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
    max_concurrent_model_activities: int = 500  # per provider queue, per worker
    # Calls inside one provider at once, per worker (0: only the activity slots limit
    # them). With model_call_batch one slot holds many calls, so this is the bound on
    # what reaches the provider; slots may then exceed it, to keep it full.
    max_concurrent_model_calls: int = Field(default=0, ge=0)
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
    # After the first SLA a review is escalated once (notice + this second SLA; empty:
    # the same as the first); after the second, the run takes the safe default:
    # escalate (route to the escalations queue, send nothing) or reject (send nothing).
    review_escalation_sla_seconds: float | None = Field(None, gt=0)
    review_safe_default: Literal["escalate", "reject"] = "escalate"
    notify_webhook_url: SecretStr | None = None  # escalation notices are POSTed here
    # Longer bodies are stored, not sent, and rejected. At most 250,000: a body that travels
    # in history, even as 6-byte JSON escapes, plus every other field at its cap, stays
    # under Temporal's 2 MB payload limit.
    max_body_chars: int = Field(20_000, gt=0, le=250_000)

    # --- models: aliases of the catalogue (data/models.toml), one per model step
    catalog_file: Path | None = None  # default: data_dir/models.toml
    classify_model: str = "offline-classify"
    draft_model: str = "offline-draft"
    # Any model step of any workflow -> its alias, as JSON ({"extract": "small"}); over
    # DEFAULT_STEP_MODELS and the two above. A new workflow's step needs no new setting.
    step_models: dict[str, str] = Field(default_factory=dict)
    # Workflow modules of your own, each declaring a SPEC (workflows/registry.py), as a
    # JSON list: ["myteam.refunds"]. Importable from the worker's working directory.
    workflow_modules: list[str] = Field(default_factory=list)
    # Pin prompt versions ({"triage.draft": "v1"}); unset ids use the newest version.
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    run_budget_usd: float | None = Field(0.05, gt=0)  # no run may cost more
    # Past this share of the budget: cheapest models first, no QA regenerations
    budget_degrade_ratio: float = Field(0.8, gt=0, le=1)
    # Cap of one call of a step, USD, e.g. {"draft": 0.01}: pricier models are skipped
    step_budgets_usd: dict[str, float] = Field(default_factory=dict)
    provider_timeout_seconds: float = Field(45.0, gt=0)  # below the activity's 60 s
    # Latency budget per step, ms: a step over it is marked on its record and counted
    step_latency_budgets_ms: dict[str, float] = Field(
        default_factory=lambda: {"classify": 3000.0, "draft": 6000.0, "run": 15000.0}
    )
    # Server-enforced calls/s per provider queue across all workers, e.g. {"openai": 50}
    provider_rate_limits: dict[str, float] = Field(default_factory=dict)

    # --- circuit breakers, shared by every worker through the store
    breaker_failure_threshold: int = Field(5, ge=1)  # retryable failures in the window
    breaker_window_seconds: float = Field(60.0, gt=0)
    breaker_open_seconds: float = Field(30.0, gt=0)  # open this long, then one probe
    breaker_probe_timeout_seconds: float = Field(60.0, gt=0)
    # A 401/403/404 opens the model's config breaker at once, this long before its probe
    breaker_config_open_seconds: float = Field(300.0, gt=0)

    # --- degradation: what a model step does when no model of its chain can answer
    # JSON by step name, "default" for the rest; fields of contracts.DegradationPolicy:
    # {"default": {"outage_window_seconds": 1800}, "draft": {"on_config_error": "review"}}
    degradation: dict[str, DegradationPolicy] = Field(default_factory=dict)

    # --- layered intelligence: the answer cache and the small→large cascade
    # The cache, as JSON with the fields of contracts.cache.CachePolicy, pinned per run:
    # {"enabled": false} turns it off; min_similarity left out comes from
    # data/cache/threshold.json (the STS-B calibration).
    cache: CachePolicy = Field(default_factory=lambda: CachePolicy(enabled=True))
    # Each model step's small tier, tried before its chain: {"classify": {"small":
    # "offline-classify-small", "min_confidence": 0.8}}. Unset: the offline small tiers, for
    # the steps still on their offline default alias. {} turns the cascade off.
    cascade: dict[str, CascadeSetting] | None = None
    # The learned spam model (data/spam/model.json) beside the rules: it alone closes spam
    # unseen, above its calibrated bar; a spam rule or a score between the bars sends the
    # ticket to the likely-spam review lane. false: the rules alone, as before.
    spam_detection: bool = True

    # --- providers: the vendors' standard variables; a provider is on when configured
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    openai_api: Literal["chat", "responses"] = "chat"
    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(None, validation_alias="ANTHROPIC_BASE_URL")
    local_base_url: str | None = None  # any OpenAI-compatible server: vLLM, Ollama, LiteLLM
    local_api_key: SecretStr | None = None

    # --- the offline provider's simulation knobs (benchmarks and chaos tests use them)
    offline_latency_ms: float = Field(0.0, ge=0)
    offline_latency_jitter_ms: float = Field(0.0, ge=0)
    offline_fault_rate: float = Field(0.0, ge=0.0, le=1.0)
    offline_fault_kinds: Annotated[list[FaultKind], NoDecode] = ["rate_limit", "server_error"]
    offline_fault_max_attempt: int | None = None

    # --- drift: the DriftCheck workflow (aiflow drift run / the aiflow-drift schedule)
    drift_recent_seconds: float = Field(24 * 3600.0, gt=0)  # the recent window: the last day
    drift_baseline_seconds: float = Field(7 * 24 * 3600.0, gt=0)  # the baseline: before it
    drift_min_samples: int = Field(50, ge=1)  # fewer in either window: no verdict, no alert
    drift_webhook_url: SecretStr | None = None  # drift alerts are POSTed here

    # --- the embedded dev server (aiflow dev / aiflow demo); every client and worker
    # connects to it unless TEMPORAL_ADDRESS or a Temporal profile names another server
    dev_ip: str = "127.0.0.1"
    dev_port: int = Field(7233, ge=1, le=65535)
    dev_ui_port: int = Field(8233, ge=1, le=65535)

    # --- data protection (README "Data protection")
    # Payload and store encryption keys, JSON {"<key id>": "<base64 of 32 bytes>"} (make one
    # with `aiflow keys new`); several at once so a rotated-out key still decrypts old
    # histories. Unset (and no file): payloads and stored bodies are not encrypted.
    payload_keys: SecretStr | None = None
    payload_keys_file: Path | None = None  # the same JSON in a file (a mounted secret)
    payload_key_id: str | None = None  # the key that encrypts; default: the last listed
    # Payloads over this many bytes go to the blob store and travel as a reference
    claim_check_bytes: int = Field(128 * 1024, ge=1024, le=1536 * 1024)
    # Where claim-checked payloads live: "store" (the SQL store) or an S3 URL
    # (s3://bucket/prefix, with AWS_* credentials and AIFLOW_S3_ENDPOINT_URL for MinIO etc.)
    blob_store: str = "store"
    s3_endpoint_url: str | None = None
    # The store's ticket bodies, replies, reviews and model answers (protection/sealed.py):
    # encrypt (mask sensitive values, then seal under the payload keys), mask (sensitive
    # values masked, the rest clear) or redact (customer free text not kept, its length
    # only). Empty: encrypt when a key is configured, else mask.
    store_protection: Literal["encrypt", "mask", "redact"] | None = None
    # Retention, days (empty: keep forever), applied by `aiflow purge` and the daily
    # aiflow-purge schedule; only finished runs' rows go, never a waiting run's. Runs a
    # year (reports, year-on-year); steps 90 days (per-call detail and model reasoning,
    # the bulk of the store); feedback two years (training and eval data); blobs 30 days
    # (large bodies and claim-checked payloads: keep longer than the namespace retention
    # and the longest review wait).
    retention_runs_days: float | None = Field(365.0, gt=0)
    retention_steps_days: float | None = Field(90.0, gt=0)
    retention_feedback_days: float | None = Field(730.0, gt=0)
    retention_blobs_days: float | None = Field(30.0, gt=0)
    # The codec server (aiflow codec serve) decrypts payloads for the Web UI and the
    # `temporal` CLI. Operator -> token, JSON, as review_tokens (plain or "sha256:<hex>").
    codec_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # Web UI origins whose pages may call it (CORS, with credentials): scheme://host:port
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"]
    )
    codec_host: str = "127.0.0.1"
    codec_port: int = Field(8081, ge=0, le=65535)

    # --- review web page (aiflow review serve)
    # Reviewer identity -> token, JSON: {"ana@example.com": "<token>"}. A value may also be
    # "sha256:<hex digest of the token>", so the plain token need not be stored here.
    review_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    review_web_host: str = "127.0.0.1"
    review_web_port: int = Field(8300, ge=0, le=65535)
    review_session_secret: SecretStr | None = None  # signs session cookies; unset: per process
    review_session_seconds: float = Field(8 * 3600.0, gt=0)  # a login lasts this long
    # Failed logins allowed per sliding window: naming one identity (from anywhere), from
    # one client address, and naming no identity (all addresses together); then 429.
    review_login_window_seconds: float = Field(900.0, gt=0)
    review_login_max_failures_per_account: int = Field(5, ge=1)
    review_login_max_failures_per_address: int = Field(20, ge=1)
    review_login_max_failures_unnamed: int = Field(50, ge=1)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed, JSON list of IPs or
    # networks: ["127.0.0.1"] behind a local TLS proxy. Empty: the TCP peer is the client.
    review_trusted_proxies: list[str] = Field(default_factory=list)
    # Secure flag on the session cookie; unset: when the request came over https
    review_cookie_secure: bool | None = None

    # --- metrics: Temporal SDK + aiflow metrics at http://ADDRESS/metrics; empty: off
    metrics_address: str | None = None  # e.g. 127.0.0.1:9464 (0.0.0.0:9464 in a container)
    metrics_poll_seconds: float = Field(15.0, gt=0)  # review queue and breaker gauges
    # OpenTelemetry tracing, off unless set: spans go to ENDPOINT/v1/traces (OTLP/HTTP)
    otel_endpoint: str | None = None  # e.g. http://otel-collector:4318
    otel_service_name: str = "aiflow-worker"

    # --- logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("offline_fault_kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):  # comma-separated in the environment
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    def keyring(self):  # -> protection.keys.Keyring | None
        """The payload keyring these settings describe, or None: nothing is encrypted."""
        from protection.keys import keyring_from

        keys = self.payload_keys.get_secret_value() if self.payload_keys else None
        return keyring_from(keys, self.payload_keys_file, self.payload_key_id)

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'aiflow.db'}"

    @property
    def catalog_path(self) -> Path:
        return self.catalog_file or self.data_dir / "models.toml"

    @property
    def enabled_providers(self) -> list[str]:
        """offline always; the others once their key or base URL is set."""
        on = {
            "offline": True,
            "openai": bool(self.openai_api_key or self.openai_base_url),
            "anthropic": bool(self.anthropic_api_key or self.anthropic_base_url),
            "local": bool(self.local_base_url),
        }
        return [name for name, enabled in on.items() if enabled]

    def provider_queue(self, provider: str) -> str:
        return f"{self.model_queue}-{provider}"

    @property
    def rules_path(self) -> Path:
        return self.rules_file or self.data_dir / "rules" / "triage-v1.json"
