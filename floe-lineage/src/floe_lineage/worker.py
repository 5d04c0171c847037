"""One bounded worker thread: what waits (warehouse reads, column tracing, dbt's error text,
delivery) runs there, in the order it was handed over, never on the thread reading dbt's events.

``submit`` puts a task in a queue of ``QUEUE_SIZE``; when the queue is full it waits for room
(no task is ever dropped): the reader of dbt's events is held only while the worker is that far
behind. A task that raises stops nothing: its exception is kept and raised to the caller of the
next ``submit`` or of ``drain`` (the strict mode's errors reach the step), the tasks after it
still run. ``drain`` waits for every task handed over, then the worker ends; submitting after
it runs the task at once, on the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

QUEUE_SIZE = 10_000
"""Tasks (dbt log events of nodes) the worker may be behind before ``submit`` waits."""
_STOP = None


class Worker:
    def __init__(self, name: str, size: int = QUEUE_SIZE) -> None:
        self._name = name
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._drained = False
        self.done = 0
        """Tasks finished so far (read from any thread)."""

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the worker, after every task submitted before it."""
        self._raise_kept()
        if self._drained:
            task()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put(task)  # waits only while the queue is full

    def drain(self) -> None:
        """Wait for every submitted task to finish; raise the first error one raised."""
        if not self._drained:
            self._drained = True
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
        self._raise_kept()

    def _work(self) -> None:
        while (task := self._queue.get()) is not _STOP:
            try:
                task()
            except BaseException as exc:  # kept for the caller: the worker goes on
                if self._error is None:
                    self._error = exc
            self.done += 1

    def _raise_kept(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error
