"""Settings of the whole system, read from `CLAWTRACE_*` environment variables.

Nothing reads the environment at import: call `get_settings()` (cached) or build `Settings(...)` directly,
which is what tests do (`Settings(lake=str(tmp_path))`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clawtrace_pipelines.core.errors import ConfigError

TableFormat = Literal["delta", "iceberg"]


class Settings(BaseSettings):
    """Embedded defaults: a local folder lake, Delta tables, an embedded graph, SQLite for the API."""

    model_config = SettingsConfigDict(env_prefix="CLAWTRACE_", extra="ignore")

    lake: str = Field(default="./.clawtrace", description="Lake root: a local folder or s3://bucket/prefix")
    table_format: TableFormat = "delta"
    iceberg_catalog: str | None = Field(
        default=None,
        description="Iceberg catalog: a SQL catalog URI (sqlite:///..., postgresql://...) or an http(s) REST "
        "catalog URI. Unset: a SQLite catalog inside a local lake.",
    )
    iceberg_catalog_name: str = "clawtrace"
    iceberg_namespace: str = "clawtrace"
    graph: str = Field(default="embedded", description="'embedded' or bolt://host:port")
    graph_user: str | None = Field(default=None, description="Bolt user; unset: no authentication")
    graph_password: SecretStr | None = Field(default=None, description="Bolt password (never logged)")
    graph_reader_cache_mb: int = Field(
        default=256,
        ge=16,
        description="Page cache of each tenant snapshot a reader keeps open (embedded graph; up to 8 open): "
        "the API's memory is about this times the tenants it serves at once. A tenant-wide span scan of a "
        "250k-span tenant failed with 128",
    )
    db: str | None = Field(default=None, description="API database URI; unset: SQLite in the lake's state/")

    # S3 (and S3-compatible stores such as MinIO); unset values fall back to the standard AWS chain.
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None

    # Discovery of new raw files (see ARCHITECTURE.md, "The lake's layout").
    lateness_window_hours: int = Field(
        default=3,
        ge=0,
        description="Event hours before now listed each tick, for foreign writers' files",
    )
    listing_active_days: int = Field(
        default=2,
        ge=0,
        description="The lateness window lists only agents with raw files processed within this many days "
        "(the daily sweep finds the rest); 0 lists every agent each tick",
    )
    arrival_overlap_hours: int = Field(
        default=1, ge=0, description="Arrival hours re-read before the cursor, for writers with skewed clocks"
    )
    max_record_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="A raw record larger than this is quarantined, not loaded"
    )
    rejected_excerpt_chars: int = Field(default=2048, gt=0)
    event_id_horizon_days: int = Field(
        default=1,
        ge=0,
        description="Days on each side of a record's event date in which a reused event id (same tenant, "
        "another time) is recognised and quarantined as event_id_reused",
    )
    trace_max_days: int = Field(
        default=7,
        ge=0,
        description="The longest a trace may span, in days: how far around a tick's new events it looks for "
        "their traces' earlier rows",
    )
    """The longest a trace may span (days between its first and last event). A tick's reads of prior rows
    are bounded by it: silver reads `pg_traces` for trace dates within `trace_max_days` of each queued trace's
    new events, and the graph update reads [day of the earliest queued event - trace_max_days, day of the
    latest]. A trace that runs longer is not found there: silver starts it anew on the later day (a second
    row) and the graph keeps its earlier projection until a rebuild."""
    trace_card_top_k: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Steps a TraceCard lists as the costliest (gold trace_cards; dbt var trace_card_top_k)",
    )
    # The API (clawtrace serve).
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (a UI elsewhere)"
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long the API trusts a key lookup before asking the database again: a revoked key "
        "stops working within this bound",
    )
    ui_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a web UI sign-in lasts (its HttpOnly cookie and its row in the API database)",
    )
    payload_full_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Most a span payload may be asked for whole (`max_bytes` on the span route; the UI's load-all)",
    )
    ingest_max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="Largest ingest body (413 above)")
    ingest_max_events: int = Field(default=5000, gt=0, description="Most events in one batch request (413 above)")
    ingest_group_commit_ms: float = Field(
        # 2 ms measured best of 0/1/2/4 with 16 plugin-style clients on 2 cores (bench/api_ingest.py).
        default=2.0,
        ge=0,
        description="How long an ingest write waits to collect concurrent requests into one durable write",
    )
    ingest_spool_flush_ms: float = Field(
        default=1000.0,
        ge=0,
        description="Local lakes: ingest makes each group durable in a spool (one append and fsync) and moves it "
        "to raw files this often, one file per agent folder; 0 writes raw files per group (object storage "
        "always does)",
    )
    ingest_rate_limit_per_s: float = Field(
        default=0.0,
        ge=0,
        description="Events per second per key and API worker process (429 with Retry-After above); 0 = no limit",
    )
    ingest_debug_pause_after_write_ms: float = Field(
        default=0.0,
        ge=0,
        description="Testing only: how long ingest waits between a durable write and its answer (crash tests "
        "kill the server in that gap); 0 in any real deployment",
    )
    payload_max_bytes: int = Field(
        default=64 * 1024, gt=0, description="Span payloads longer than this are truncated in API answers"
    )
    # Billing (README, "Billing").
    billing_rates_file: str | None = Field(
        default=None, description="Rates TOML (credits per metered unit); unset: the packaged billing_rates.toml"
    )
    metering_flush_seconds: float = Field(
        # One file per active tenant per flush: 5 s keeps that to 17k a day per busy tenant.
        default=5.0,
        gt=0,
        le=10,
        description="How often the API writes its buffered metered actions to the raw zone (and at shutdown)",
    )
    billing_guard: bool = Field(
        default=False,
        description="Answer ingest and reads with 402 for a tenant whose credit balance is below zero",
    )
    billing_guard_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        le=60,
        description="How long the deficit guard trusts a tenant's balance before reading it again (at most 60)",
    )
    storage_meter_max_hours: int = Field(
        default=48,
        gt=0,
        description="Most hours of storage one billing run meters (a lake idle for longer catches up over runs)",
    )
    parse_workers: int = Field(
        default=0, ge=0, description="Processes parsing raw files: 0 = one per core (up to 4) for big loads"
    )

    # Tracy, the analyst agent (clawtrace_api/tracy). The Anthropic variables keep the SDK's own names.
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "CLAWTRACE_ANTHROPIC_API_KEY"),
        description="Anthropic API key for Tracy; unset: Tracy answers 503 (never logged)",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "CLAWTRACE_ANTHROPIC_BASE_URL"),
        description="Messages API base URL; unset: the SDK's default (tests point it at a local stand-in)",
    )
    tracy_model: str = Field(default="claude-sonnet-4-6", min_length=1, description="The model Tracy runs on")
    tracy_max_tool_rounds: int = Field(
        default=8, ge=1, le=50, description="Most model turns that call tools in one answer (then it must answer)"
    )
    tracy_max_tokens: int = Field(default=4096, ge=256, le=64_000, description="max_tokens of each model call")
    tracy_budget_seconds: float = Field(
        default=120.0, gt=0, le=900, description="Wall-clock budget of one answer, model calls and tools included"
    )
    tracy_query_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Longest one Cypher query of Tracy's may run"
    )
    tracy_max_rows: int = Field(
        default=500, ge=1, le=10_000, description="Most rows one Cypher query of Tracy's returns"
    )
    tracy_tool_result_chars: int = Field(
        default=20_000, ge=1000, le=200_000, description="Longest tool result sent to the model (cut with a marker)"
    )
    tracy_context_chars: int = Field(
        default=20_000, ge=0, le=200_000, description="Longest page context a question from a page may carry"
    )
    mcp_allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
        description="Host headers the MCP endpoint answers (DNS-rebinding protection; `name:*` = any port)",
    )

    @field_validator("lake")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("lake must not be empty")
        return value.rstrip("/") or "/"

    @property
    def lake_is_remote(self) -> bool:
        return "://" in self.lake and not self.lake.startswith("file://")

    @property
    def lake_root(self) -> str:
        """The lake root as an absolute local path, or the URI of a remote lake."""
        if self.lake_is_remote:
            return self.lake
        local = self.lake.removeprefix("file://")
        return str(Path(local).expanduser().resolve())

    def lake_path(self, *parts: str) -> str:
        """Join parts under the lake root with '/' (valid for local paths and object-store URIs)."""
        return "/".join([self.lake_root, *(p.strip("/") for p in parts if p)])

    def iceberg_catalog_uri(self) -> str:
        """The Iceberg catalog URI in force; a SQLite file inside a local lake by default."""
        if self.iceberg_catalog:
            return self.iceberg_catalog
        if self.lake_is_remote:
            raise ConfigError(
                "CLAWTRACE_ICEBERG_CATALOG must be set when the lake is remote and the table format is "
                "iceberg: a SQLite file cannot live in an object store (use a REST catalog or postgresql://)."
            )
        return f"sqlite:///{self.lake_path('iceberg', 'catalog.db')}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process on first use."""
    return Settings()
