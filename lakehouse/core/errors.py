"""Error classes shared by every stage.

A `PermanentError` is one a retry cannot fix (a broken contract, schema drift, the privacy gate, a file
the portal refuses): the CLI exits with EXIT_PERMANENT and orchestrators fail fast instead of retrying.
Anything else (a source or the portal down) may be transient."""

from __future__ import annotations

EXIT_PERMANENT = 3  # the CLI's exit code for a PermanentError; orchestration/tasks.py reads it


class LakehouseError(Exception):
    """Base of the project's own errors."""


class PermanentError(LakehouseError):
    """A failure a retry cannot fix; the message says what to change."""
