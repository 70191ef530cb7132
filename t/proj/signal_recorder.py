"""Records thorn's signals in a file, for the Celery tests: imported by the worker.

Each signal the process receives is one JSON line in :func:`log_path` (named
after the worker's queue, ``THORN_TEST_CELERY_QUEUE``, which is unique per
test), with the process id, so that a test sees which process sent it.
Import it with the worker's task modules:
``celery_worker_factory(imports=("thorn.tasks", "t.proj.signal_recorder"))``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from thorn.django import delivery_signals

NAMES = (
    "delivery_succeeded",
    "delivery_failed",
    "delivery_retry_scheduled",
    "subscription_disabled",
    "subscription_enabled",
)

_lock = threading.Lock()


def log_path(queue: str) -> Path:
    """The file where a worker consuming ``queue`` records the signals it receives."""
    return Path(tempfile.gettempdir()) / f"{queue}.signals.jsonl"


def _record(name: str, sender: Any, **kwargs: Any) -> None:
    delivery, outcome = kwargs.get("delivery"), kwargs.get("outcome")
    subscription = kwargs.get("subscription")
    line = {
        "signal": name,
        "pid": os.getpid(),
        "sender": sender.__name__,
        "delivery": delivery.id if delivery else None,
        "attempt": delivery.attempt if delivery else None,
        "status": outcome.status if outcome else None,
        "subscription": str(subscription.uuid if subscription else delivery.subscriber.uuid),
        "retry_in": kwargs.get("retry_in"),
    }
    with _lock, log_path(os.environ.get("THORN_TEST_CELERY_QUEUE", "celery")).open("a") as f:
        f.write(json.dumps(line) + "\n")


for _name in NAMES:
    getattr(delivery_signals, _name).connect(
        lambda sender, _name=_name, **kwargs: _record(_name, sender, **kwargs),
        weak=False,
        dispatch_uid=f"t.proj.signal_recorder.{_name}",
    )
