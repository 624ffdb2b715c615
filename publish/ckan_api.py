"""The CKAN action API as the publisher needs it: retries with backoff when the portal is unreachable
or answers 5xx, uploads streamed from disk, and errors that say what to do."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import ckanapi
import requests
from ckanapi.common import reverse_apicontroller_action
from requests_toolbelt import MultipartEncoder

from lakehouse.core.errors import LakehouseError, PermanentError

log = logging.getLogger(__name__)
MB = 1024 * 1024


class PortalError(LakehouseError):
    """The portal refused or failed a request; the message says what and what to do."""


class PortalUnavailable(PortalError):
    """CKAN could not be reached, or kept answering 5xx, after every retry."""


class UploadTooLarge(PortalError, PermanentError):
    """A file is over the portal's upload limit; nothing was uploaded."""


class _Retryable(Exception):
    pass


class CkanApi:
    """One CKAN portal, with a sysadmin or publisher API token."""

    def __init__(
        self, url: str, token: str, retries: int = 4, retry_seconds: float = 1.0, max_upload_mb: float = 500
    ) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.max_upload_mb = max_upload_mb
        self.session = requests.Session()
        self.session.headers.update({"Authorization": token, "User-Agent": "lakehouse-publisher"})
        self.uploads = 0  # files sent in this session (benchmarks and tests read it)

    def _send(self, action: str, make_request: Any) -> Any:
        """Run one action with retries on connection errors and 5xx; map CKAN errors to ckanapi's."""
        for attempt in range(self.retries + 1):
            try:
                try:
                    response = make_request()
                except (requests.ConnectionError, requests.Timeout) as exc:
                    raise _Retryable(f"not reachable ({type(exc).__name__})") from exc
                if response.status_code >= 500:
                    raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]!r}")
                if response.status_code == 413:
                    raise UploadTooLarge(
                        f"CKAN {action} at {self.url}: HTTP 413, the upload is over the portal's limit"
                    )
                return reverse_apicontroller_action(
                    f"{self.url}/api/3/action/{action}", response.status_code, response.text
                )
            except _Retryable as exc:
                if attempt == self.retries:
                    raise PortalUnavailable(
                        f"CKAN at {self.url} failed {action} after {attempt + 1} attempts: {exc}; start it with "
                        f"`bash infra/ckan.sh start` or set CKAN_URL, then rerun: the publisher repairs what is "
                        f"half-done"
                    ) from exc
                delay = min(self.retry_seconds * 2**attempt, 30)
                log.warning("CKAN %s: %s; retry %d/%d in %.1f s", action, exc, attempt + 1, self.retries, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def call(self, action: str, **data: Any) -> Any:
        url = f"{self.url}/api/3/action/{action}"
        return self._send(action, lambda: self.session.post(url, json=data, timeout=60))

    def check_size(self, path: Path) -> None:
        size = path.stat().st_size
        if size > self.max_upload_mb * MB:
            raise UploadTooLarge(
                f"{path.name} is {size:,} bytes ({size / MB:.1f} MB), over the portal's upload limit of "
                f"{self.max_upload_mb:g} MB (ckan.max_resource_size, set by infra/ckan.sh; the publisher reads "
                f"CKAN_MAX_UPLOAD_MB): not uploaded. Raise both limits, or split the dataset"
            )

    def upload(self, action: str, path: Path, content_type: str, **fields: Any) -> dict:
        """resource_create / resource_patch with the file streamed from disk (never read into memory)."""
        self.check_size(path)
        url = f"{self.url}/api/3/action/{action}"

        def request() -> requests.Response:
            with path.open("rb") as fh:
                body = MultipartEncoder(
                    {**{k: str(v) for k, v in fields.items()}, "upload": (path.name, fh, content_type)}
                )
                return self.session.post(url, data=body, headers={"Content-Type": body.content_type}, timeout=600)

        result = self._send(action, request)
        self.uploads += 1
        return result

    def show(self, action: str, **data: Any) -> dict | None:
        """A *_show call; None when it does not exist."""
        try:
            return self.call(action, **data)
        except ckanapi.NotFound:
            return None
