"""Django signals of delivery outcomes and subscription health (also ``thorn.signals``).

Connect a receiver as to any Django signal::

    from django.dispatch import receiver
    from thorn.signals import delivery_failed


    @receiver(delivery_failed)
    def tell_the_owner(sender, delivery, outcome, **kwargs):
        notify(delivery.subscriber, f"{delivery.event} was not delivered: {outcome.error}")

Where they are sent:

* the ``delivery_*`` signals where the outcome of an attempt is recorded
  (:meth:`thorn.django.store.DjangoStore.record`): in the process that made
  the attempt, so in the web process (or the relay's) with the default
  dispatcher, and in the worker with the celery dispatcher;
* :data:`subscription_disabled` where thorn disables a subscription (the
  same process, after a ``410 Gone`` or sustained failure), and where a
  subscription is saved inactive by hand (the API, the admin, code);
* :data:`subscription_enabled` where a disabled subscription is saved
  active again (the API, the admin, code).

Every signal's ``sender`` is the class of the subscriber (the subscriber
model, for stored subscriptions).  They are sent with
:meth:`~django.dispatch.Signal.send_robust`: a receiver that raises is
logged (by Django, on the ``django.dispatch`` logger), and never stops the
recording of deliveries nor the other receivers.  With
``THORN_DELIVERY_RECORDS = "failed"`` the signals are sent all the same.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.dispatch import Signal

if TYPE_CHECKING:
    from thorn.outcome import Outcome
    from thorn.store import Result

__all__ = [
    "delivery_failed",
    "delivery_retry_scheduled",
    "delivery_succeeded",
    "send_outcomes",
    "subscription_disabled",
    "subscription_enabled",
]

#: Sent when a delivery succeeded (the receiver answered 2xx), with
#: ``delivery`` (the :class:`~thorn.messages.Delivery`; its ``id`` is
#: ``Hook-Delivery``, ``attempt`` the number of this attempt, ``subscriber``
#: the subscription), ``request`` (the :class:`~thorn.request.Request`, as
#: callbacks see it) and ``outcome`` (the :class:`~thorn.outcome.Outcome`,
#: with the status and the latency).
delivery_succeeded = Signal()
#: Sent when a delivery failed for good, its last attempt failed and it is
#: not retried (the retries ran out, or the failure cannot get better), with
#: the arguments of :data:`delivery_succeeded`; ``outcome.error`` says why.
delivery_failed = Signal()
#: Sent when an attempt failed and the delivery is attempted again later,
#: with the arguments of :data:`delivery_succeeded` and ``retry_in``, the
#: seconds until the next attempt.
delivery_retry_scheduled = Signal()
#: Sent when a subscription was disabled, with ``subscription`` (the
#: subscriber instance, as saved), ``reason`` (its ``disabled_reason``) and
#: ``outcome`` (the :class:`~thorn.outcome.Outcome` that made thorn disable
#: it, or ``None`` when it was disabled by hand).
subscription_disabled = Signal()
#: Sent when a disabled subscription was enabled again, with ``subscription``.
subscription_enabled = Signal()


def send_outcomes(results: Sequence[Result]) -> None:
    """Send one ``delivery_*`` signal per result, as its verdict says."""
    for result in results:
        request, outcome, verdict = result.request, result.outcome, result.verdict
        signal, extra = _signal_of(outcome, verdict.retry_in)
        signal.send_robust(
            type(request.subscriber),
            delivery=request.delivery,
            request=request,
            outcome=outcome,
            **extra,
        )


def _signal_of(outcome: Outcome, retry_in: float | None) -> tuple[Signal, dict[str, Any]]:
    if outcome.ok:
        return delivery_succeeded, {}
    if retry_in is not None:
        return delivery_retry_scheduled, {"retry_in": retry_in}
    return delivery_failed, {}
