"""Settings, read once from ``EHR_*`` environment variables.

Every tunable of the service lives here so an operator has one place to look.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """The service configuration. Field ``x`` is set by environment variable ``EHR_X``."""

    model_config = SettingsConfigDict(env_prefix="EHR_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    profiles_dir: Path = REPO_ROOT / "fhir_profiles"
    seed_dir: Path = REPO_ROOT / "seed"
    base_url: str = ""
    """Public base URL of the FHIR endpoint; empty means "derive from the request"."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 5000
    default_page_size: int = 20
    max_page_size: int = 1000
    sqlite_busy_timeout_ms: int = 30_000
    log_sql: bool = False

    profile_policy: str = "accept-and-flag"
    """What a write failing a national profile gets: ``accept-and-flag`` (stored, tagged
    not-exchangeable) or ``reject`` (422), with per-profile overrides such as
    ``accept-and-flag; reject:vn-core-patient`` (``ehr.profiles.policy``, docs/profiles.md)."""

    cccd_system: str = "http://fhir.hl7.org.vn/core/sid/cccd"
    """Identifier system of the national ID (CCCD) on Patient resources."""

    token_issuer: str = "urn:ehr:exchange"
    """``iss`` of the access tokens this service signs (and checks)."""
    token_audience: str = "urn:ehr:fhir"
    """``aud`` required in every access token presented to the API."""
    access_token_lifetime_s: int = 300
    """SMART Backend Services tokens live at most 5 minutes."""
    signing_key_dir: Path | None = None
    """Where the service's signing keys live; default ``<data_dir>/keys``, made on first start."""
    trusted_issuers: str = ""
    """JSON ``{"issuer": {"jwks": {...} | "jwks_path": "...", "role": "patient"}}``: other
    token issuers trusted, such as the national identity provider that signs patients in."""
    rate_limit_per_minute: int = 1200
    """Requests per client per minute per worker before 429 (``Retry-After`` given)."""
    audit_index_interval_s: float = 0.5
    """How often ``ehr serve``'s indexer process stores pending AuditEvents as resources
    (``ehr.audit.indexer``); 0 runs none (reads of AuditEvents still catch up first)."""

    def key_dir(self) -> Path:
        """The directory of the service's signing keys."""
        return self.signing_key_dir or self.data_dir / "keys"

    def resolved_database_url(self) -> str:
        """The database URL; by default a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ehr.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
