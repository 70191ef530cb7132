"""The background dispatcher: deliver in this process, on a thread pool, after the commit.

``THORN_DISPATCHER = "background"``: ``save()`` (and the web request that
made it) returns as soon as the transaction commits; a few threads of the
process then record and make the deliveries, as the default dispatcher
would.  The outbox makes it durable: a message the process did not hand
over (it died, or its queue was full) is handed over by the relay.

The pool is bounded: ``THORN_BACKGROUND_THREADS`` threads, and
:data:`QUEUE` messages waiting at most (more are left to the relay).  At
exit, the process waits up to ``THORN_BACKGROUND_DRAIN`` seconds for what
is queued; what is left is in the outbox.  Threads are started on first
use, in the process that uses them, so the pool works under gunicorn's
sync and gthread workers (forked after the app is loaded) and
``runserver``.

.. versionadded:: 2.0
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from thorn.dispatch.base import Dispatcher as BaseDispatcher
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.generic.models import AbstractSubscriber
    from thorn.messages import Message

__all__ = ["QUEUE", "BackgroundPool", "Dispatcher", "background_pool"]

logger = get_logger(__name__)

#: Messages waiting for a thread, at most; more are left to the relay.
QUEUE = 10_000


class BackgroundPool:
    """A few daemon threads running jobs from a bounded queue.

    Threads are started on the first :meth:`submit` of each process: they
    do not survive a fork, so a forked child starts its own.

    Arguments:
        threads: How many threads.
        size: Jobs waiting at most.
    """

    def __init__(self, threads: int, size: int = QUEUE) -> None:
        self.threads = threads
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(size)
        self._lock = threading.Lock()
        self._pid = 0

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; false when the queue is full (nothing is queued)."""
        self._start()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child inherits the parent's queue, its jobs and its
            # locks, but none of its threads: it starts afresh.
            self._jobs = queue.Queue(self._jobs.maxsize)
            for i in range(self.threads):
                threading.Thread(
                    target=self._work, name=f"thorn-background-{i}", daemon=True
                ).start()
            self._pid = os.getpid()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a job logs its own failures: this is a bug
                logger.exception("A background job raised")
            finally:
                self._jobs.task_done()

    @property
    def pending(self) -> int:
        """Jobs queued or running in this process."""
        return self._jobs.unfinished_tasks if self._pid == os.getpid() else 0

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queued jobs; true if all were done."""
        deadline = monotonic() + timeout
        with self._jobs.all_tasks_done:
            while self.pending:
                left = deadline - monotonic()
                if left <= 0:
                    logger.warning(
                        "%d webhook hand-overs were not done at exit: the relay will make them",
                        self.pending,
                    )
                    return False
                self._jobs.all_tasks_done.wait(left)
        return True


_lock = threading.Lock()
_pool: BackgroundPool | None = None


def background_pool(threads: int, drain: float) -> BackgroundPool:
    """The process's background pool; made on first use, drained for ``drain`` seconds at exit."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = BackgroundPool(threads)
            atexit.register(_pool.drain, drain)
        return _pool


class Dispatcher(BaseDispatcher):
    """Deliver on the process's background threads, after the commit (``"background"``).

    :meth:`~thorn.dispatch.base.Dispatcher.send` returns ``[]`` at once;
    the deliveries are made as the default dispatcher makes them, and
    recorded.  Choose it over ``"default"`` when requests must not wait for
    the webhooks, and over ``"celery"`` when you run no broker and the web
    processes may spend a few threads on deliveries.
    """

    def dispatch_message(
        self,
        message: Message,
        subscribers: list[AbstractSubscriber] | None = None,
        *,
        stored: bool = False,
        durable: bool = False,
    ) -> Any:
        """Queue the delivery of ``message`` on the background pool; return ``[]``.

        The message is in the outbox first: if it cannot be queued, or the
        process dies before it is delivered, the relay delivers it.  (The
        relay itself calls :meth:`~thorn.dispatch.base.Dispatcher.hand_over`,
        which delivers at once.)
        """
        store = self.app.store
        if not stored and store.durable:
            store.add(message)
        settings = self.app.settings
        pool = background_pool(
            int(settings.THORN_BACKGROUND_THREADS), float(settings.THORN_BACKGROUND_DRAIN)
        )
        job = _HandOver(self, message, subscribers)
        if not pool.submit(job):
            if not store.durable:
                job()  # nowhere to keep it: deliver it now
            else:
                logger.warning(
                    "The background queue is full: event %s is left to the relay", message.event
                )
        return []


class _HandOver:
    """Deliver one message, as the default dispatcher does, logging what fails."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        message: Message,
        subscribers: list[AbstractSubscriber] | None,
    ) -> None:
        self.dispatcher = dispatcher
        self.message = message
        self.subscribers = subscribers

    def __call__(self) -> None:
        try:
            self.dispatcher.hand_over(self.message, self.subscribers, stored=True)
        except Exception:  # it is in the outbox: the relay tries again
            logger.exception("Event %r dispatch raised", self.message.event)
        finally:
            self.dispatcher.app.env.release_connections()
