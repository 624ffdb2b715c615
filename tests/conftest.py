"""Shared fixtures. Tests use their own CKAN instance (port, database and folder apart from the demo's)
so `make test` never rewrites what `make demo` published."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakehouse.core.settings import REPO_ROOT


@dataclass(frozen=True)
class CkanTestServer:
    url: str
    token: str

    def _script(self, verb: str) -> None:
        env = {**os.environ, **TEST_PORTAL_ENV}
        env.pop("CKAN_URL", None)
        subprocess.run(["bash", str(REPO_ROOT / "infra" / "ckan.sh"), verb], env=env, check=True, timeout=300)

    def stop(self) -> None:
        """Stop the real CKAN server (and its Solr stand-in), as an outage would."""
        self._script("stop")

    def start(self) -> None:
        self._script("start")


TEST_PORTAL_ENV = {
    "CKAN_PORT": os.environ.get("TEST_CKAN_PORT", "5055"),
    "SOLR_PORT": os.environ.get("TEST_SOLR_PORT", "8984"),
    # one database per clone: two clones (or a CI clone and a working copy) never share, or drop, one
    "CKAN_DB": os.environ.get("TEST_CKAN_DB", "ckan_test_" + hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]),
    "CKAN_DIR": str(REPO_ROOT / "var" / "ckan-test"),
}


def _free(port: str) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) != 0


def _any_free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def cdc_slots() -> Iterator[str]:
    """Replication slots (change data capture) of this session's lakes carry its own prefix and are
    dropped at the end; those of earlier sessions that died are dropped at the start."""
    from lakehouse.core.settings import Settings

    try:
        from spark_jobs.cdc import drop_slots
    except ImportError:  # the Airflow virtualenv's tests ingest nothing
        yield ""
        return
    for name in _session_slots():
        if not Path(f"/proc/{name.split('_')[1].removeprefix('t')}").exists():
            drop_slots(Settings.from_env(), name)
    prefix = f"lakehouse_t{os.getpid()}"
    os.environ["LAKEHOUSE_CDC_SLOT_PREFIX"] = prefix  # subprocesses (CLI, Airflow tasks) inherit it
    yield prefix
    drop_slots(Settings.from_env(), prefix + "_")


def _session_slots() -> list[str]:
    import psycopg

    from lakehouse.core.settings import Settings

    with psycopg.connect(f"{Settings.from_env().postgres_url}/postgres") as conn:
        rows = conn.execute(r"SELECT slot_name FROM pg_replication_slots WHERE slot_name ~ '^lakehouse_t[0-9]+_'")
        return [r[0] for r in rows.fetchall()]


@pytest.fixture(scope="session")
def ckan_portal() -> Iterator[CkanTestServer]:
    """A real CKAN 2.12 (+ test-only Solr stand-in) for the session. A portal this folder left running
    is reused; ports held by anything else (another clone's portal) are swapped for free ones. What
    the session started, it stops, so no portal outlives the run that needs it."""
    token_file = Path(TEST_PORTAL_ENV["CKAN_DIR"]) / "api_token"
    ours = token_file.exists() and (Path(TEST_PORTAL_ENV["CKAN_DIR"]) / "ckan.pid").exists()
    if not ours and not (_free(TEST_PORTAL_ENV["CKAN_PORT"]) and _free(TEST_PORTAL_ENV["SOLR_PORT"])):
        # Another clone's portal holds the ports (and its database): run a separate one beside it.
        TEST_PORTAL_ENV["CKAN_PORT"], TEST_PORTAL_ENV["SOLR_PORT"] = _any_free_port(), _any_free_port()
        TEST_PORTAL_ENV["CKAN_DB"] = f"{TEST_PORTAL_ENV['CKAN_DB']}_{TEST_PORTAL_ENV['CKAN_PORT']}"
    env = {**os.environ, **TEST_PORTAL_ENV}
    env.pop("CKAN_URL", None)
    env.pop("CKAN_HOST", None)
    script = str(REPO_ROOT / "infra" / "ckan.sh")
    was_up = subprocess.run(["bash", script, "status"], env=env, capture_output=True, text=True).stdout.startswith(
        "CKAN        up"
    )
    subprocess.run(["bash", script, "start"], env=env, check=True, timeout=300)
    url = subprocess.run(["bash", script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    token = subprocess.run(["bash", script, "token"], env=env, check=True, capture_output=True, text=True).stdout
    yield CkanTestServer(url=url, token=token.strip())
    if not was_up:
        subprocess.run(["bash", script, "stop"], env=env, check=False, timeout=120)
