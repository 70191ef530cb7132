"""The default dispatcher: deliver in the current process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.delivery.plan import plan_deliveries
from thorn.delivery.policy import Verdict, judge
from thorn.delivery.run import attempt_all, executor
from thorn.generic.subscriber import event_matches, subscribers_for_event
from thorn.messages import Message, Options
from thorn.store import Result
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.generic.models import AbstractSubscriber
    from thorn.request import Request

__all__ = ["Dispatcher"]

logger = get_logger(__name__)


class Dispatcher:
    """Deliver each event to its subscribers in the current process.

    An event with subscribers is written to the outbox in the transaction
    that sends it, and delivered when that transaction commits (at once
    outside a transaction): to all its subscribers at once, at most
    ``THORN_MAX_CONNECTIONS_PER_HOST`` at once to one host, over kept-alive
    connections, within the event's timeout.  Each delivery succeeds or
    fails on its own.  With
    delivery records (thorn's Django app), a failed delivery is retried by
    the relay (``manage.py thorn relay``) on the retry schedule; without
    them, it is not retried.

    Arguments:
        timeout: Default timeout of deliveries (``THORN_EVENT_TIMEOUT``).
        app: The Thorn app.

    .. versionchanged:: 2.0
        Events go through the outbox, failed deliveries are retried, and
        the deliveries of an event are made concurrently.
    """

    #: False for dispatchers that send nothing, so model events skip their work.
    sends = True

    def __init__(self, timeout: float | None = None, app: Thorn | None = None) -> None:
        self.app = app_or_default(app)
        self.timeout = timeout

    def message(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Message:
        """Return the :class:`~thorn.messages.Message` of an event and its options.

        Raises:
            TypeError: for an unknown option.
        """
        return Message(
            event,
            payload,
            sender,
            Options(
                timeout=self.timeout if timeout is None else timeout,
                context=context or {},
                **options,
            ),
        )

    def send(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        using: str | None = None,
        wait_for_commit: bool = True,
        **options: Any,
    ) -> Any:
        """Send ``event`` to its subscribers (see :meth:`submit`).

        ``options`` are those of :class:`~thorn.messages.Options`.

        Raises:
            TypeError: for an unknown option, or a payload that cannot be
                encoded (nothing is sent).
        """
        message = self.message(event, payload, sender, timeout=timeout, context=context, **options)
        return self.submit(message, using=using, wait_for_commit=wait_for_commit)

    def submit(
        self, message: Message, *, using: str | None = None, wait_for_commit: bool = True
    ) -> Any:
        """Send ``message``: to the outbox now, to its subscribers when the transaction commits.

        Nothing happens when nobody subscribes.  Inside a transaction of
        database ``using``, the message is written to the outbox with the
        transaction and handed over when it commits (nothing at all if it
        rolls back), and this returns ``[]``; outside one, it is handed over
        at once and this returns what :meth:`hand_over` returns.  While
        buffering, the message is held (from the commit on).

        Arguments:
            message: The message.
            using: The database whose transaction the message belongs to.
            wait_for_commit: ``False`` hands the message over at once, even
                inside a transaction that may still roll back; it is not
                written to the outbox.
        """
        env = self.app.env
        waits = wait_for_commit and env.in_transaction(using)
        if self.app.buffers.active is not None:
            hold = partial(self.app.buffers.hold, self, message)
            env.on_commit(hold, using=using) if waits else hold()
            return []
        subscribers = self.subscribers_of(message)
        if not subscribers:
            return []
        if waits:
            self.app.store.add(message, using)
            env.on_commit(partial(self._dispatch_committed, message, subscribers), using=using)
            return []
        # Outside a transaction the change is already committed: the outbox
        # row is written with the deliveries, or if the hand-over fails.
        return self.dispatch_message(message, subscribers, durable=wait_for_commit)

    def _dispatch_committed(self, message: Message, subscribers: list[AbstractSubscriber]) -> None:
        try:
            self.dispatch_message(message, subscribers, stored=True)
        except Exception:
            # After the commit there is nothing left to roll back: log only.
            # The message is in the outbox, for the relay.
            logger.exception("Event %r dispatch raised", message.event)

    def dispatch_message(
        self,
        message: Message,
        subscribers: list[AbstractSubscriber] | None = None,
        *,
        stored: bool = False,
        durable: bool = False,
    ) -> Any:
        """Hand over a message just sent (or flushed from a buffer): here, at once.

        The arguments are those of :meth:`hand_over`, which this calls.  A
        dispatcher that delivers later (the background dispatcher) queues
        the message instead; the relay always calls :meth:`hand_over`.
        """
        return self.hand_over(message, subscribers, stored=stored, durable=durable)

    def hand_over(
        self,
        message: Message,
        subscribers: list[AbstractSubscriber] | None = None,
        *,
        stored: bool = False,
        durable: bool = False,
    ) -> Any:
        """Deliver ``message`` now, to all its subscribers at once; return its requests.

        The message and its deliveries are recorded before the first attempt.

        Arguments:
            message: The message.
            subscribers: Its subscribers, when they were just found.
            stored: The message is in the outbox already (the relay hands
                it over again if this hand-over fails).
            durable: The message must not be lost: when it cannot be handed
                over, it goes to the outbox, for the relay.
        """
        requests = self.plan(message, subscribers)
        self.deliver(requests)
        return requests

    def plan(
        self, message: Message, subscribers: list[AbstractSubscriber] | None = None
    ) -> list[Request]:
        """Record the deliveries of ``message`` and return those to attempt, ordered by host."""
        if subscribers is None:
            subscribers = self.subscribers_of(message)
        deliveries = plan_deliveries(message, subscribers, self.app.encode)
        request_class = self.app.request_class
        return [
            request_class.for_delivery(delivery, self.app)
            for delivery in self.app.store.plan(message, deliveries)
        ]

    def deliver(self, requests: Sequence[Request]) -> list[Result]:
        """Attempt each request once, all at once; judge and record the outcomes.

        See :func:`~thorn.delivery.run.attempt_all`: at most
        ``THORN_MAX_CONNECTIONS_PER_HOST`` requests to one host at once, and
        the whole fan-out within the requests' timeout.
        """
        settings = self.app.settings
        outcomes = attempt_all(
            list(requests),
            self.app.transport,
            per_host=int(settings.THORN_MAX_CONNECTIONS_PER_HOST),
            pool=executor(int(settings.THORN_MAX_CONNECTIONS)),
        )
        results = []
        for request, outcome in zip(requests, outcomes, strict=True):
            verdict = judge(request, outcome, can_retry=self.makes_retries)
            results.append(Result(request, outcome, verdict, scheduled=self.schedules(verdict)))
        self.app.store.record(results)
        return results

    @property
    def makes_retries(self) -> bool:
        """Whether failed deliveries are attempted again (by the relay, from the records)."""
        return self.app.store.durable

    def schedules(self, verdict: Verdict) -> bool:
        """True when this dispatcher makes the next attempt itself (the relay does, here)."""
        return False

    def relay(self, requests: Sequence[Request]) -> None:
        """Attempt deliveries the relay took (their retry is due, or their worker died)."""
        self.deliver(requests)

    def batches(self, messages: Sequence[Message]) -> list[list[Message]]:
        """How held messages are sent when a buffer is flushed: one by one."""
        return [[message] for message in messages]

    def send_batch(self, batch: Sequence[Message]) -> None:
        """Send one batch of :meth:`batches`."""
        for message in batch:
            self.dispatch_message(message)

    def may_receive(self, event: str, extra_subscribers: Any = None) -> bool:
        """False when nobody can receive ``event``: answered without a query.

        True when the event has its own subscribers, when a static
        subscriber's pattern matches, or when the subscription index has a
        matching subscription (of any owner).
        """
        if extra_subscribers:
            return True
        static = self.app.settings.raw("THORN_SUBSCRIBERS")
        if static and any(event_matches(pattern, event) for pattern in static):
            return True
        return self.app.env.may_receive(event)

    def subscribers_for_event(
        self,
        name: str,
        sender: Any = None,
        context: Mapping[str, Any] | None = None,
        extra_subscribers: Any = None,
    ) -> list[AbstractSubscriber]:
        """Return the subscribers of event ``name`` (see :mod:`thorn.generic.subscriber`)."""
        return subscribers_for_event(self.app, name, sender, context, extra_subscribers)

    def subscribers_of(self, message: Message) -> list[AbstractSubscriber]:
        """Return the subscribers of ``message``."""
        return self.subscribers_for_event(
            message.event,
            message.sender,
            message.options.context,
            message.options.extra_subscribers,
        )

    def requests_for(self, message: Message) -> list[Request]:
        """Return one :class:`~thorn.request.Request` per subscriber of ``message``, by host.

        Nothing is recorded: see :meth:`plan`.

        Raises:
            TypeError: if the payload cannot be encoded (no request is made).
        """
        deliveries = plan_deliveries(message, self.subscribers_of(message), self.app.encode)
        return [self.app.request_class.for_delivery(delivery, self.app) for delivery in deliveries]

    def prepare_requests(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[Request]:
        """Return one :class:`~thorn.request.Request` per subscriber, ordered by host."""
        return self.requests_for(
            self.message(event, payload, sender, timeout=timeout, context=context, **options)
        )

    def dispatch_request(self, request: Request) -> Request:
        """Deliver one request once, without records or retries (Thorn 1.5's method)."""
        return request.dispatch(self.app.transport)
