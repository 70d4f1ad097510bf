"""Settings from the environment; every service extends `ServiceSettings`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    database_url: SecretStr = Field(default=SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"))
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    log_level: str = "INFO"
    db_pool_min: int = 1
    db_pool_max: int = 5
    consumer_max_records: int = Field(default=1000, ge=1)
    consumer_batch_timeout_ms: int = Field(default=50, ge=1)
    # Tansu answers an empty fetch only when this runs out; Kafka answers as soon as data lands.
    consumer_fetch_max_wait_ms: int = Field(default=25, ge=0)
    handler_max_attempts: int = Field(default=3, ge=1)
    outbox_batch_size: int = Field(default=2000, ge=1)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    lag_interval_s: float = Field(default=5.0, gt=0)
    producer_linger_ms: int = Field(default=5, ge=0)
    # Keep inbox entries at least as long as the topics keep messages, so a redelivery or a
    # replay is still recognised.
    inbox_retention_days: float = Field(default=14, gt=0)
    inbox_prune_interval_s: float = Field(default=3600, gt=0)
    # A batch of a thousand events allocates far more than Python's default 700 objects between
    # young collections, and every third-generation pass walks the whole heap of imported code;
    # 0 keeps Python's default thresholds.
    gc_gen0_threshold: int = Field(default=200_000, ge=0)

    # Who may call the HTTP API (servicekit.auth): API keys, an OIDC issuer, or both.
    api_keys: SecretStr | None = Field(default=None, description="JSON list of {name, scopes, sha256}")
    api_keys_file: str | None = Field(default=None, description="A mounted file of the same, re-read on change")
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = Field(default=None, description="Default: discovered from the issuer")
    oidc_scopes_claim: str = "scope"
    oidc_scope_prefix: str = Field(default="", description="e.g. 'saleschannel:' for 'saleschannel:read'")
    oidc_name_claim: str = "sub"
