"""Shared fixtures. Tests use their own CKAN instance (port, database and folder apart from the demo's)
so `make test` never rewrites what `make demo` published."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import pytest

from lakehouse.config import REPO_ROOT


@dataclass(frozen=True)
class Portal:
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
    "CKAN_DB": os.environ.get("TEST_CKAN_DB", "ckan_test_portal"),
    "CKAN_DIR": str(REPO_ROOT / "var" / "ckan-test"),
}


@pytest.fixture(scope="session")
def ckan_portal() -> Portal:
    """A real CKAN 2.12 (+ test-only Solr stand-in), started once and left running for reruns."""
    env = {**os.environ, **TEST_PORTAL_ENV}
    env.pop("CKAN_URL", None)
    env.pop("CKAN_HOST", None)
    script = str(REPO_ROOT / "infra" / "ckan.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True, timeout=300)
    url = subprocess.run(["bash", script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    token = subprocess.run(["bash", script, "token"], env=env, check=True, capture_output=True, text=True).stdout
    return Portal(url=url, token=token.strip())
