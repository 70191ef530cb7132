"""The base of signal dispatchers: what connects an event to model signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["receive", "signal_dispatcher"]


class _Receivers:
    """The handlers of one signal of one model, called by one receiver.

    Django's ``Signal.send()`` costs more per receiver than a plain call:
    a model with five events pays it once, not five times.
    """

    def __init__(self) -> None:
        self.handlers: list[Callable[..., Any]] = []

    def __call__(self, **named: Any) -> None:
        for handler in self.handlers:
            handler(**named)


#: The receivers of each (signal, model).
_receivers: dict[tuple[int, type[Any]], _Receivers] = {}


def receive(signal: Any, sender: type[Any], handler: Callable[..., Any]) -> None:
    """Call ``handler`` for every ``signal`` of ``sender``, through their shared receiver.

    The receiver is connected (strongly) on the first handler; handlers
    are called in the order they were added, with the signal's arguments.
    """
    receivers = _receivers.get((id(signal), sender))
    if receivers is None:
        receivers = _receivers[id(signal), sender] = _Receivers()
        signal.connect(receivers, sender=sender, weak=False)
    receivers.handlers.append(handler)


class signal_dispatcher:
    """Calls ``fun`` when a model's signals say an instance changed.

    Subclasses (:mod:`thorn.django.signals`) choose the signals in
    :meth:`setup_signals` and filter them in :meth:`should_dispatch`; the
    function is called as ``fun(instance, context=..., **kwargs)``, where
    ``kwargs`` are the handler's (e.g. ``previous`` and ``using``).

    Arguments:
        fun: What to call, usually :meth:`thorn.ModelEvent.on_signal`.
        use_transitions: The event reads the previous version of the
            instance (it uses ``now_*`` filters).
    """

    def __init__(
        self, fun: Callable[..., Any], use_transitions: bool = False, **kwargs: Any
    ) -> None:
        self.fun = fun
        self.use_transitions = use_transitions

    def setup_signals(self) -> dict[Any, Callable[..., Any]]:
        """Return ``{signal: handler}`` for the signals to connect."""
        return {}

    def connect(self, sender: type[Any], weak: bool = False, **kwargs: Any) -> None:
        """Connect the handlers to the signals of model ``sender``.

        The handlers of every event of a model share one receiver per
        signal (see :func:`receive`); with ``weak=True`` or other options
        of ``Signal.connect`` they are connected one by one.
        """
        for signal, handler in self.setup_signals().items():
            if weak or kwargs:
                signal.connect(handler, sender=sender, weak=weak, **kwargs)
            else:
                receive(signal, sender, handler)

    def should_dispatch(self, instance: Any, **kwargs: Any) -> bool:
        """Return true if the signal should send the event."""
        return True

    def context(self, instance: Any, **kwargs: Any) -> dict[str, Any]:
        """Return the context given to subscriber callbacks."""
        return {"instance": instance.pk}

    def __call__(self, instance: Any, **kwargs: Any) -> Any:
        """Call the function if :meth:`should_dispatch` says so."""
        if not self.should_dispatch(instance, **kwargs):
            return None
        return self.send(instance, **kwargs)

    def send(self, instance: Any, **kwargs: Any) -> Any:
        """Call the function, with the :meth:`context` of ``instance``."""
        return self.fun(instance, context=self.context(instance, **kwargs), **kwargs)
