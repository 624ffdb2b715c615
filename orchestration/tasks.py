"""Tasks that run `bin/lakehouse` in the data virtualenv.

Exit code 3 means a failure a retry cannot fix (a contract broken by the source, the privacy gate,
stale data): the task fails at once, without retries, and the reason is the CLI's own error line.
Anything else is retried with exponential backoff (a source or the portal down)."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lakehouse.core.errors import EXIT_PERMANENT
from orchestration.alerts import task_failed

REPO = Path(__file__).resolve().parents[1]
LAKEHOUSE = REPO / "bin" / "lakehouse"
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": task_failed,
}


class LakehouseOperator(BashOperator):
    """A `bin/lakehouse` command; fails fast (no retry) on a permanent error, and fails with the
    command's own error line as the reason (which the alert callback records)."""

    def __init__(self, *, command: str, **kwargs: Any) -> None:
        super().__init__(bash_command=f"{LAKEHOUSE} {command}", append_env=True, **kwargs)

    def execute(self, context: Any) -> Any:
        with tempfile.TemporaryDirectory(prefix="lakehouse-task-") as tmp:
            error_file = Path(tmp) / "error"
            self.env = {**(self.env or {}), "LAKEHOUSE_ERROR_FILE": str(error_file)}
            try:
                return super().execute(context)
            except AirflowException as exc:
                reason = error_file.read_text().strip() if error_file.exists() else str(exc)
                code = re.search(r"exit code (\d+)", str(exc))
                if code and int(code.group(1)) == EXIT_PERMANENT:
                    raise AirflowFailException(f"{reason} [permanent: not retried]") from exc
                raise AirflowException(reason) from exc


def lakehouse(task_id: str, command: str, **kwargs: Any) -> LakehouseOperator:
    return LakehouseOperator(task_id=task_id, command=command, **{**RETRY_DEFAULTS, **kwargs})
