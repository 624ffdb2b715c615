"""Service addresses and paths, from environment variables with local defaults.

One place for every setting a stage needs, so the same code runs on a laptop, in CI and on a cluster
(lake root on object storage, a Spark master, remote databases) by changing the environment only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()`."""

    var_dir: Path
    lake_root: Path
    postgres_url: str
    mariadb_url: str
    spark_master: str
    ckan_url: str
    ckan_token_file: Path
    # Ingestion engine: "duckdb" (the scanners, one machine), "spark" (JDBC, a cluster) or "auto":
    # Spark when SPARK_MASTER names a cluster (spark://...), DuckDB otherwise.
    ingest_engine: str = "auto"
    # Change data capture of deletes where the source offers it (spark_jobs/cdc.py); slot name prefix.
    cdc: bool = True
    cdc_slot_prefix: str = "lakehouse"
    source_retries: int = 3
    source_retry_seconds: float = 2.0
    ckan_retries: int = 4  # retries of a CKAN call that found the portal unreachable or answering 5xx
    ckan_retry_seconds: float = 1.0  # first backoff; doubles per retry
    ckan_max_upload_mb: float = 500  # the portal's ckan.max_resource_size (infra/ckan.sh sets 500)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 6543
    gateway_passwords_file: Path = Path.home() / ".config" / "lakehouse" / "gateway-passwords.json"
    gateway_timeout_s: float = 30.0
    gateway_max_rows: int = 100_000
    gateway_tls_cert: str = ""  # PEM files; both set = TLS offered (and required)
    gateway_tls_key: str = ""
    # Per ministry: engine memory / threads / temp disk, concurrent queries, connections; per result: MB.
    gateway_memory_limit: str = "1GB"
    gateway_threads: int = 1
    gateway_temp_limit: str = "2GB"
    gateway_max_concurrent: int = 1
    gateway_max_connections: int = 10
    gateway_max_result_mb: float = 64
    gateway_auth_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("LAKEHOUSE_VAR", str(REPO_ROOT / "var")))
        ckan_host = _env("CKAN_HOST", "127.0.0.1")
        return cls(
            var_dir=var_dir,
            lake_root=Path(_env("LAKE_ROOT", str(var_dir / "lake"))),
            postgres_url=_env("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
            mariadb_url=_env("MARIADB_URL", "mysql://root@127.0.0.1:3306"),
            spark_master=_env("SPARK_MASTER", "local[2]"),
            ckan_url=_env("CKAN_URL", f"http://{ckan_host}:{_env('CKAN_PORT', '5000')}"),
            ckan_token_file=Path(_env("CKAN_API_TOKEN_FILE", str(var_dir / "ckan" / "api_token"))),
            ingest_engine=_env("LAKEHOUSE_INGEST_ENGINE", "auto"),
            cdc=_env("LAKEHOUSE_CDC", "1") not in ("0", "false", "no"),
            cdc_slot_prefix=_env("LAKEHOUSE_CDC_SLOT_PREFIX", "lakehouse"),
            source_retries=int(_env("LAKEHOUSE_SOURCE_RETRIES", "3")),
            source_retry_seconds=float(_env("LAKEHOUSE_SOURCE_RETRY_SECONDS", "2")),
            ckan_retries=int(_env("CKAN_RETRIES", "4")),
            ckan_retry_seconds=float(_env("CKAN_RETRY_SECONDS", "1")),
            ckan_max_upload_mb=float(_env("CKAN_MAX_UPLOAD_MB", "500")),
            gateway_host=_env("LAKEHOUSE_GATEWAY_HOST", "127.0.0.1"),
            gateway_port=int(_env("LAKEHOUSE_GATEWAY_PORT", "6543")),
            gateway_passwords_file=Path(
                _env("LAKEHOUSE_GATEWAY_PASSWORDS_FILE", str(Path.home() / ".config/lakehouse/gateway-passwords.json"))
            ),
            gateway_timeout_s=float(_env("LAKEHOUSE_GATEWAY_TIMEOUT_S", "30")),
            gateway_max_rows=int(_env("LAKEHOUSE_GATEWAY_MAX_ROWS", "100000")),
            gateway_tls_cert=_env("LAKEHOUSE_GATEWAY_TLS_CERT", ""),
            gateway_tls_key=_env("LAKEHOUSE_GATEWAY_TLS_KEY", ""),
            gateway_memory_limit=_env("LAKEHOUSE_GATEWAY_MEMORY_LIMIT", "1GB"),
            gateway_threads=int(_env("LAKEHOUSE_GATEWAY_THREADS", "1")),
            gateway_temp_limit=_env("LAKEHOUSE_GATEWAY_TEMP_LIMIT", "2GB"),
            gateway_max_concurrent=int(_env("LAKEHOUSE_GATEWAY_MAX_CONCURRENT", "1")),
            gateway_max_connections=int(_env("LAKEHOUSE_GATEWAY_MAX_CONNECTIONS", "10")),
            gateway_max_result_mb=float(_env("LAKEHOUSE_GATEWAY_MAX_RESULT_MB", "64")),
            gateway_auth_timeout_s=float(_env("LAKEHOUSE_GATEWAY_AUTH_TIMEOUT_S", "10")),
        )

    @property
    def engine(self) -> str:
        """The ingestion engine this run uses (see `ingest_engine`)."""
        if self.ingest_engine == "auto":
            return "spark" if self.spark_master.startswith("spark://") else "duckdb"
        if self.ingest_engine not in ("duckdb", "spark"):
            raise ValueError(f"LAKEHOUSE_INGEST_ENGINE={self.ingest_engine!r}: expected auto, duckdb or spark")
        return self.ingest_engine

    def server_url(self, server_type: str) -> str:
        """Base URL (no database) of the server kind a source contract names."""
        if server_type == "postgres":
            return self.postgres_url
        if server_type in ("mysql", "mariadb"):
            return self.mariadb_url
        raise ValueError(f"unsupported source server type {server_type!r}: expected postgres or mysql")

    def ckan_token(self) -> str:
        """API token: CKAN_API_TOKEN, else the file infra/ckan.sh writes."""
        token = os.environ.get("CKAN_API_TOKEN", "").strip()
        if token:
            return token
        if self.ckan_token_file.exists():
            return self.ckan_token_file.read_text().strip()
        raise RuntimeError(
            f"no CKAN API token: set CKAN_API_TOKEN or start the local portal (bash infra/ckan.sh start), "
            f"which writes {self.ckan_token_file}"
        )


def pseudonym_key() -> str:
    """The HMAC key for pseudonyms, held outside the repo and the lake. Never a default.

    LAKEHOUSE_PSEUDONYM_KEY wins (production: from the secret store / Airflow connection); else the
    file LAKEHOUSE_PSEUDONYM_KEY_FILE (default ~/.config/lakehouse/pseudonym.key, which `make setup`
    creates once with a random key for a local machine). Losing or rotating it changes every pseudonym.
    """
    key = os.environ.get("LAKEHOUSE_PSEUDONYM_KEY", "").strip()
    if key:
        return key
    path = Path(_env("LAKEHOUSE_PSEUDONYM_KEY_FILE", str(Path.home() / ".config" / "lakehouse" / "pseudonym.key")))
    if not path.exists() or not path.read_text().strip():
        raise RuntimeError(
            f"no pseudonymisation key: set LAKEHOUSE_PSEUDONYM_KEY or create {path} "
            "(make setup creates a random one for a local machine)"
        )
    return path.read_text().strip()
