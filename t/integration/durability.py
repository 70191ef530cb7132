"""Helpers of the executors' durability tests (celery and tasks): waiting, and a replay."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from thorn import _state
from thorn.dispatch.queued import WorkerDispatcher
from thorn.django.models import DeliveryRecord, MessageRecord
from thorn.messages import decode_message, encode_delivery

from t.receiver import Receiver

#: Seconds to wait for deliveries, at most.
DEADLINE = 30.0


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def all_delivered(receiver: Receiver, event: str = "article.created") -> Callable[[], bool]:
    """True once every recorded delivery of ``event`` succeeded and reached the receiver."""

    def done() -> bool:
        records = list(DeliveryRecord.objects.filter(event=event))
        received = {r.header("Hook-Delivery") for r in receiver.received}
        return bool(records) and all(
            r.state == "succeeded" and str(r.id) in received for r in records
        )

    return done


def replayed_delivery(worker: type[WorkerDispatcher]) -> tuple[DeliveryRecord, dict[str, Any]]:
    """The one delivery recorded, and what a task that runs a second time hands over.

    That is what a broker delivers again after a lost acknowledgement: the
    same delivery, encoded, under the lease it was first handed over with.
    """
    [record] = DeliveryRecord.objects.all()
    [request] = worker(app=_state.current_app()).requests_for(
        decode_message(MessageRecord.objects.get().data)
    )
    assert str(record.id) == request.id
    again = encode_delivery(replace(request.delivery, lease="lease-of-the-first-hand-over"))
    return record, again
