"""What the dbt build reports to each model's task, and where that task waits: in Airflow's triggerer.

In watcher mode one producer task runs `dbt build`; every model's task only reports its model. Run as
sensors those tasks cost a worker process each (about a second apiece, 40 of them, on a 2-core machine
also running dbt). Started from the triggerer (Airflow's `start_from_trigger`) each is a coroutine that
ends its task itself once the build is over: no worker slot, no process, a task per model still in the
graph. `airflow dags test` ignores `start_from_trigger` and runs Cosmos' sensor in-process;
a pre-execute hook gives it the same decision (`outcome`) once the producer has finished.

The producer writes to XCom only what those tasks read (`report_outcomes_only`): each node's final
status once (what Cosmos' sensor reads in-process), the dbt event of a node that did not succeed (its
error, for the model's log), and, when the build succeeded, every status in one XCom (OUTCOMES). While
dbt runs, the triggers of a run share one read of the producer's state per POLL_SECONDS; once it has
finished, one read of OUTCOMES (reads are serialised in the triggerer: 57 reads of a key each took 2 s).
Ending each task as soon as dbt finished its node (polling OUTCOMES during the build) ended the run
less than a second earlier but slowed the build on 2 cores by more than that (measured)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import StartTriggerArgs, TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.constants import _DBT_STARTUP_EVENTS_XCOM_KEY as STARTUP_EVENTS
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import (
    PRODUCER_TERMINAL_STATES,
    ProducerTaskState,
    get_dbt_event_xcom_key,
    get_status_xcom_key,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
    is_dbt_node_status_terminal,
)
from cosmos.operators._watcher.triggerer import WatcherTrigger

# How often the triggers of a run read the producer's state (one API call for all of them).
POLL_SECONDS = 0.5
# Only stops a trigger orphaned by a producer that never ends (its own timeout bounds the build).
GIVE_UP_AFTER = timedelta(hours=6)
NOT_RUN = {ProducerTaskState.UPSTREAM_FAILED, ProducerTaskState.SKIPPED, ProducerTaskState.REMOVED}
OUTCOMES = "lakehouse_outcomes"  # {status XCom key: status} of a successful build


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


_polls: dict[tuple[str, str, str], _Poll] = {}  # (what, dag, run): the latest read, shared by the run's triggers


async def _shared(what: str, dag_id: str, run_id: str, read: Callable[[], Awaitable[Any]], max_age: float) -> Any:
    """One read of `what` for all the triggers of a run, repeated once older than `max_age` seconds."""
    now, key = time.monotonic(), (what, dag_id, run_id)
    polled = _polls.get(key)
    if polled is None or (polled.future.done() and now - polled.started > max_age):
        for old in [k for k, p in _polls.items() if p.future.done() and now - p.started > 60]:
            del _polls[old]  # runs that have ended
        polled = _polls[key] = _Poll(asyncio.ensure_future(read()))
    return await asyncio.shield(polled.future)


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

    async def _status(self) -> Any:
        """This node's status once the producer has finished: from OUTCOMES (one read shared by the run's
        triggers) or, when it has none (a failed build pushes no OUTCOMES), from the node's own XCom."""
        outcomes = await _shared("outcomes", self.dag_id, self.run_id, lambda: self.get_xcom_val(OUTCOMES), 5)
        key = status_key(self.model_unique_id, self.is_test_sensor)
        status = outcomes.get(key) if isinstance(outcomes, dict) else None
        return status if status is not None else await self.get_xcom_val(key)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        self.dag_id, self.run_id = ti.dag_id, ti.run_id
        state_of_producer = self._get_producer_task_status
        while (
            producer := await _shared("producer", self.dag_id, self.run_id, state_of_producer, self.poke_interval)
        ) not in PRODUCER_TERMINAL_STATES:
            await asyncio.sleep(self.poke_interval)
        state, why = outcome(producer, await self._status()) or ("failed", "no outcome")
        self.log.info("%s: %s (%s)", self.model_unique_id, state, why)
        if state == "failed" and not self.is_test_sensor:
            event = await self.get_xcom_val(get_dbt_event_xcom_key(self.model_unique_id))
            if isinstance(event, dict) and event.get("msg"):
                self.log.error("dbt: %s", event["msg"])
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


class _OutcomesOnly:
    """The producer's task instance as Cosmos' dbt-log parser sees it: only what a model's task reads
    reaches XCom. Cosmos pushes, per node, each log event (start, compiling, executing, finished), its
    compiled SQL and its final status two or three times: ~570 XCom writes for this project, each a
    round trip through the API server while dbt waits on its log pipe (the build ran 4 s longer in
    Airflow than from the CLI). The compiled SQL stays in dbt's target folder and the producer's log."""

    def __init__(self, ti: Any, statuses: dict[str, Any]) -> None:
        self._ti = ti
        self._statuses = statuses  # status key -> value, of the whole build

    def xcom_push(self, key: str, value: Any) -> None:
        if key.endswith("_dbt_event"):  # a node's error, for its task's log
            status = value.get("status") if isinstance(value, dict) else None
            if is_dbt_node_status_terminal(status) and not is_dbt_node_status_success(status):
                self._ti.xcom_push(key=key, value=value)
        elif key.endswith("_status") and self._statuses.get(key) != value:
            self._statuses[key] = value
            self._ti.xcom_push(key=key, value=value)
        # anything else (compiled SQL, dbt's start-up messages) is not written

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("key") == STARTUP_EVENTS:
            return []  # appended to and pushed again at every start-up event; not kept
        return self._ti.xcom_pull(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)


def report_outcomes_only(producer: Any) -> None:
    """Feed Cosmos' dbt-log parser (its status logic: upstream-failure skips, tests aggregated per model)
    a task instance that writes only the outcomes (`_OutcomesOnly`); after a successful build, push them
    all in one XCom (OUTCOMES)."""
    cosmos_parser = producer._make_parse_callable
    statuses: dict[str, Any] = {}  # one build per task process

    def make_parser() -> Any:
        statuses.clear()
        parse = cosmos_parser()

        def parse_line(line: str, extra_kwargs: Any) -> None:
            context = (extra_kwargs or {}).get("context")
            if context is not None and context.get("ti") is not None:
                ti = _OutcomesOnly(context["ti"], statuses)
                extra_kwargs = {**extra_kwargs, "context": {**context, "ti": ti}, "project_dir": None}
            parse(line, extra_kwargs)

        return parse_line

    def push_outcomes(context: Any, result: Any) -> None:
        context["ti"].xcom_push(key=OUTCOMES, value=dict(statuses))

    producer._make_parse_callable = make_parser
    producer._post_execute_hook = push_outcomes
