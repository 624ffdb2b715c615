"""What a dbt model's task reports, and where it waits: in Airflow's triggerer, not in a worker.

In watcher mode one producer task runs `dbt build` and pushes every node's outcome to XCom; every model's
task only reports its model. Run as sensors those tasks cost a worker process each (about a second
apiece, 40 of them, on a 2-core machine also running dbt). Started from the triggerer (Airflow's
`start_from_trigger`) each is a coroutine that ends its task itself: no worker slot, no process, a task
per model still in the graph. `airflow dags test` ignores `start_from_trigger` and runs Cosmos' sensor
in-process; a pre-execute hook gives it the same decision (`outcome`) once the producer has finished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import StartTriggerArgs, TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import (
    PRODUCER_TERMINAL_STATES,
    ProducerTaskState,
    get_status_xcom_key,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)
from cosmos.operators._watcher.triggerer import WatcherTrigger

# While dbt runs, the triggers of one run share one poll of the producer's state (they run in one event
# loop in the triggerer): one API call a second, not one per model. Forty models polling their own XCom
# every 3 s slowed the build they watch by a fifth on 2 cores.
POLL_SECONDS = 1.0
# Only stops a trigger orphaned by a producer that never ends (its own timeout bounds the build).
GIVE_UP_AFTER = timedelta(hours=6)
NOT_RUN = {ProducerTaskState.UPSTREAM_FAILED, ProducerTaskState.SKIPPED, ProducerTaskState.REMOVED}


def outcome(producer: str | None, status: Any) -> tuple[str, str] | None:
    """A model task's state ("success", "skipped", "failed") and why, from the producer's final state and
    the node's status in its XCom (Cosmos' keys and states; Cosmos reports a node dbt skipped after an
    upstream failure as failed). None while the producer has not finished."""
    if producer not in PRODUCER_TERMINAL_STATES:
        return None
    status = status.get("status") if isinstance(status, dict) else status
    if is_dbt_node_status_success(status):
        return "success", f"dbt reported {status}"
    if is_dbt_node_status_skipped(status):
        return "skipped", "dbt skipped it"
    if status:
        return "failed", f"dbt reported {status} (see the producer task's log)"
    if producer == ProducerTaskState.SUCCESS:
        return "success", "the build succeeded without this node (not selected)"
    if producer in NOT_RUN:
        return "skipped", f"the dbt build did not run (producer {producer})"
    return "failed", f"the dbt build failed before reaching it (producer {producer}; see its log)"


def status_key(model_unique_id: str, is_test_sensor: bool) -> str:
    return get_tests_status_xcom_key(model_unique_id) if is_test_sensor else get_status_xcom_key(model_unique_id)


@dataclass
class _Poll:
    future: asyncio.Future
    started: float = field(default_factory=time.monotonic)


_producer_polls: dict[tuple[str, str], _Poll] = {}


class ModelOutcome(WatcherTrigger):
    """Waits (in the triggerer) for the producer to finish, then ends the model's task with `outcome`."""

    def __init__(self, model_unique_id: str, producer_task_id: str, is_test_sensor: bool = False, **_: Any) -> None:
        # dag and run come from the task instance the triggerer attaches before run()
        super().__init__(
            model_unique_id=model_unique_id,
            producer_task_id=producer_task_id,
            dag_id="",
            run_id="",
            map_index=-1,
            poke_interval=POLL_SECONDS,
            is_test_sensor=is_test_sensor,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.{type(self).__name__}",
            {
                "model_unique_id": self.model_unique_id,
                "producer_task_id": self.producer_task_id,
                "is_test_sensor": self.is_test_sensor,
            },
        )

    async def _shared_producer_state(self) -> str | None:
        key = (self.dag_id, self.run_id)
        polled = _producer_polls.get(key)
        if polled is None or (polled.future.done() and time.monotonic() - polled.started > self.poke_interval):
            polled = _producer_polls[key] = _Poll(asyncio.ensure_future(self._get_producer_task_status()))
        state = await asyncio.shield(polled.future)
        if state in PRODUCER_TERMINAL_STATES:
            _producer_polls.pop(key, None)
        return state

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        self.dag_id, self.run_id = ti.dag_id, ti.run_id
        while (producer := await self._shared_producer_state()) not in PRODUCER_TERMINAL_STATES:
            await asyncio.sleep(self.poke_interval)
        status = await self.get_xcom_val(status_key(self.model_unique_id, self.is_test_sensor))
        state, why = outcome(producer, status) or ("failed", "no outcome")
        self.log.info("%s: %s (%s)", self.model_unique_id, state, why)
        if state == "success":
            yield TaskSuccessEvent()
        elif state == "skipped":
            yield TaskSkippedEvent()
        else:
            yield TaskFailedEvent()


def _in_process_outcome(task: Any) -> Any:
    """The pre-execute hook of a watching task run in a worker (`airflow dags test`): once the producer
    has finished, skip or fail as the trigger would (Cosmos' sensor would otherwise wait for ever on a
    producer that never ran, or run the model alone after a failed build)."""

    def hook(context: Any) -> None:
        producer = task._get_producer_task_status(context)
        if producer not in PRODUCER_TERMINAL_STATES:
            return
        status = context["ti"].xcom_pull(
            task_ids=task.producer_task_id, key=status_key(task.model_unique_id, task.is_test_sensor)
        )
        state, why = outcome(producer, status) or ("success", "")
        if state == "skipped":
            raise AirflowSkipException(f"{task.model_unique_id}: {why}")
        if state == "failed":
            raise AirflowFailException(f"{task.model_unique_id}: {why}")

    return hook


def start_in_triggerer(task: Any, producer_task_id: str) -> None:
    """Make a Cosmos watching task start and end in the triggerer (and decide alike when run in-process)."""
    task.start_from_trigger = True
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls=f"{__name__}.{ModelOutcome.__name__}",
        trigger_kwargs={
            "model_unique_id": task.model_unique_id,
            "producer_task_id": producer_task_id,
            "is_test_sensor": bool(task.is_test_sensor),
        },
        next_method="execute_complete",
        next_kwargs=None,
        timeout=GIVE_UP_AFTER,
    )
    task._pre_execute_hook = _in_process_outcome(task)
