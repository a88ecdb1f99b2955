"""Service configuration: defaults < config file (`--config`, YAML) < environment (`RAILGUARD_*`) < command-line flags.

Every field is also an environment variable: the field name upper-cased with the `RAILGUARD_` prefix
(e.g. `upstream` -> `RAILGUARD_UPSTREAM`, `admin_token` -> `RAILGUARD_ADMIN_TOKEN`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAILGUARD_", extra="forbid", validate_default=True)

    # Where to listen and what to guard.
    upstream: str | None = Field(None, description="the upstream's OpenAI base URL, e.g. https://api.openai.com/v1")
    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0 in containers)")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on")
    workers: int = Field(1, ge=1, description="worker processes (metrics then aggregate across them; see metrics_dir)")
    policies: Path | None = Field(None, description="directory of policy YAML files (hot-reloaded); default: built-in")

    # Authentication: either clients' keys pass through to the upstream, or the proxy holds the upstream key and
    # clients authenticate with their own keys that map to tenants.
    upstream_api_key: SecretStr | None = Field(None, description="the proxy's own key for the upstream")
    client_keys: Path | None = Field(None, description="YAML file mapping client API keys to tenants and tiers")
    admin_token: SecretStr | None = Field(None, description="bearer token for /admin endpoints")

    # Upstream client.
    upstream_transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="connection pool under the httpx2 client: aiohttp's (faster) or httpx2's own (HTTP/2 capable)",
    )
    connect_timeout: float = Field(5.0, gt=0, description="seconds to connect to the upstream")
    read_timeout: float = Field(600.0, gt=0, description="seconds between bytes from the upstream")
    max_connections: int = Field(512, ge=1, description="connections to the upstream, per worker")
    max_keepalive: int = Field(128, ge=0, description="idle upstream connections kept open, per worker")
    retries: int = Field(2, ge=0, le=10, description="retries before the first byte reaches the client")
    retry_backoff: float = Field(0.25, ge=0, description="base of the exponential backoff (seconds)")
    retry_backoff_max: float = Field(8.0, ge=0, description="longest wait between retries (seconds)")
    breaker_threshold: int = Field(5, ge=1, description="consecutive upstream failures that open the breaker")
    breaker_reset: float = Field(30.0, gt=0, description="seconds the breaker stays open")

    # Request handling.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest request body accepted (413 above)")
    passthrough: Literal["allow", "refuse"] = Field(
        "allow", description="other /v1/* paths: relay untouched (recorded) or refuse with 404"
    )

    # Events.
    events_jsonl: Path | None = Field(None, description="rotating JSON-lines event file")
    events_jsonl_max_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="rotate the event file at this size")
    events_jsonl_backups: int = Field(5, ge=0, description="rotated event files kept")
    events_stdout: bool = Field(False, description="also write events as JSON lines to stdout")
    events_webhook: str | None = Field(None, description="POST each batch of events to this URL")
    events_queue_size: int = Field(
        10_000, ge=1, description="events waiting for the sinks; beyond it they are dropped and counted"
    )
    events_flush_timeout: float = Field(
        10.0, ge=0, description="at shutdown, seconds to wait for queued events to reach the sinks"
    )

    # Shared state (rate limits, escalation counters): in-process by default; Redis to share it across replicas.
    redis_url: SecretStr | None = Field(None, description="redis://[:password@]host:port/db; default: in-process state")
    redis_prefix: str = Field("railguard:", description="prefix of every Redis key Railguard writes")
    redis_timeout: float = Field(0.5, gt=0, description="seconds one Redis call may take before it counts as failed")
    redis_cooldown: float = Field(
        1.0, ge=0, description="after 3 Redis failures in a row, seconds to fail fast before trying again"
    )
    state_max_keys: int = Field(100_000, ge=100, description="in-process state: most keys kept (LRU beyond)")

    # Models. The detectors' runtime reads these from the environment; `railguard serve` exports what it resolved.
    models_dir: Path | None = Field(
        None, description="where `railguard models pull` put hub models (default: ~/.cache/railguard/models)"
    )
    inference_threads: int | None = Field(
        None, ge=1, description="threads that run model inference (default: the CPU count, at most 4)"
    )
    encoder_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="shared encoder arithmetic: `auto` runs bfloat16 where the CPU has native bf16 (AVX512-BF16, AMX; "
        "2-3x faster there, vectors within 0.999 cosine) and float32 elsewhere; `railguard eval` and the training "
        "scripts use float32 unless this is set",
    )

    # Operations: logs, metrics, tracing, shutdown.
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="JSON logs on stderr at this level"
    )
    access_log: bool = Field(False, description="one JSON log line per request (method, route, status, duration, ids)")
    metrics: bool = Field(True, description="serve Prometheus metrics at GET /metrics")
    metrics_dir: Path | None = Field(
        None,
        description="prometheus multiprocess directory, wiped at start; used when workers > 1 (default: a temp dir)",
    )
    tracing: Literal["off", "otlp", "console"] = Field(
        "off", description="OpenTelemetry spans (needs railguard[otel]); otlp reads the standard OTEL_* variables"
    )
    shutdown_grace: int = Field(
        30, ge=0, description="on SIGTERM, seconds in-flight requests and streams get to finish before they are cut"
    )
    readiness_timeout: float = Field(2.0, gt=0, description="seconds each /readyz check (e.g. a store ping) may take")
    # Layer 5: the review queue (escalations, per-request decisions, feedback, verdict memory).
    review_db: str = Field(
        "sqlite+aiosqlite:///railguard-reviews.db",
        description="review store: sqlite+aiosqlite:///FILE (embedded) or postgresql+asyncpg://USER@HOST/DB (shared)",
    )
    review_db_schema: str | None = Field(
        None, description="PostgreSQL schema for the review tables (created if missing)"
    )
    review_public_url: str | None = Field(None, description="the proxy's public base URL, for reviewer-page links")
    review_memory_refresh: float = Field(2.0, gt=0, description="seconds between checks for verdict-memory changes")
    review_decisions_max: int = Field(100_000, ge=10, description="per-request decision records kept (newest)")
    review_decisions_days: float = Field(30.0, gt=0, description="days a per-request decision record is kept")
    review_notify_backoff: float = Field(0.5, ge=0, description="base of notifier retries' backoff (seconds)")

    @field_validator("upstream")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("upstream must be an http:// or https:// URL")
        return value.rstrip("/")

    def export_for_detectors(self) -> None:
        """Put the settings the detectors read from the environment there, whichever source gave them."""
        if self.models_dir is not None:
            os.environ["RAILGUARD_MODELS_DIR"] = str(self.models_dir)
        if self.inference_threads is not None:
            os.environ["RAILGUARD_INFERENCE_THREADS"] = str(self.inference_threads)
        os.environ["RAILGUARD_ENCODER_PRECISION"] = self.encoder_precision

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) beat the environment, which beats the config file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = getattr(cls, "_config_file", None)
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **flags: Any) -> Settings:
        """Build settings from flags (None means 'not given'), the environment and an optional YAML file."""
        given = {key: value for key, value in flags.items() if value is not None}
        previous = getattr(cls, "_config_file", None)
        cls._config_file = config_file  # type: ignore[attr-defined]
        try:
            return cls(**given)
        finally:
            cls._config_file = previous  # type: ignore[attr-defined]
