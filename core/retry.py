"""One retry policy for calls that may meet a passing failure: a server restarting, a
connection reset, two writers inserting the same row at once.

:func:`retrying` is a `tenacity <https://tenacity.readthedocs.io>`_ ``Retrying``: at most
``attempts`` tries; between them a delay doubling from ``backoff_s`` (capped at
``max_backoff_s``) plus a random jitter of up to ``backoff_s``, so replicas that failed
together do not retry together; only the exceptions ``retry_on`` accepts are retried, and
after the last attempt the last exception is raised as it is. Every retry is logged as
``event`` with the attempt number, the delay and the error's type (never its message,
which may carry data). Use it as::

    for attempt in retrying(attempts=3, retry_on=is_transient, event="index.retry"):
        with attempt:
            return call()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
    wait_none,
)

from core.logging import get_logger

log = get_logger(__name__)


def retrying(
    *,
    attempts: int,
    retry_on: Callable[[BaseException], bool],
    backoff_s: float = 0.0,
    max_backoff_s: float = 30.0,
    event: str = "retry",
    **fields: Any,
) -> Retrying:
    """The retry loop of one call (see the module docstring).

    Args:
        attempts: tries in all (1: no retry).
        retry_on: whether an exception is worth another try.
        backoff_s: the first delay (and the most jitter added to each); 0: none.
        max_backoff_s: the longest delay before jitter.
        event: the log event of each retry; ``fields`` are logged with it.
    """

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            event,
            attempt=state.attempt_number,
            delay_s=round(delay, 3),
            error=type(error).__name__,
            **fields,
        )

    return Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=(
            wait_exponential_jitter(initial=backoff_s, max=max_backoff_s, jitter=backoff_s)
            if backoff_s > 0
            else wait_none()
        ),
        retry=retry_if_exception(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
