"""Signal dispatchers: when a model event is sent (``dispatches_on_*``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models import signals

from thorn.django.utils import serialize_model
from thorn.generic.signals import signal_dispatcher

__all__ = [
    "dispatch_on_change",
    "dispatch_on_create",
    "dispatch_on_delete",
    "dispatch_on_m2m_add",
    "dispatch_on_m2m_change",
    "dispatch_on_m2m_clear",
    "dispatch_on_m2m_remove",
    "signal_dispatcher",
]

#: Attribute holding the version of an instance before the save in progress.
PREVIOUS_VERSION = "_previous_version"
#: Attribute telling that an instance was last saved raw (by ``loaddata``).
SAVED_RAW = "_thorn_saved_raw"


def fetch_previous_version(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool = False,
    using: Any = None,
    **kwargs: Any,
) -> None:
    """``pre_save``: keep the row as it is before this save (``None`` if it is new).

    Read with the model's default manager from the database of the save;
    connected once per model, for events that use ``now_*`` filters, and
    only read when one of those events may be received (see
    :meth:`~thorn.ModelEvent.may_receive`).
    """
    previous = None
    # A new instance whose primary key has a default is inserted without
    # looking (as Django does); one given an existing key updates that row.
    inserting = instance._state.adding and sender._meta.pk.has_default()
    if not raw and not inserting and instance.pk is not None and _anybody_listens(instance):
        manager = sender._default_manager.using(using)
        previous = manager.filter(pk=instance.pk).first()
    instance.__dict__[PREVIOUS_VERSION] = previous


def _anybody_listens(instance: models.Model) -> bool:
    """True if an event of the instance that reads the previous version may be received."""
    webhooks = getattr(type(instance), "webhooks", None)
    events = getattr(webhooks, "events", {}).values()
    return any(event.may_receive(instance) for event in events if event and event.use_transitions)


def mark_raw_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    """``post_save``: remember that fixture loading saved the instance."""
    instance.__dict__[SAVED_RAW] = raw


class _dispatch_on_save(signal_dispatcher):
    def setup_signals(self) -> dict[Any, Callable[..., Any]]:
        return {signals.post_save: self.on_post_save}

    def on_post_save(
        self,
        instance: models.Model,
        raw: bool = False,
        created: bool = False,
        using: Any = None,
        **kwargs: Any,
    ) -> None:
        # Most saves are turned away here, at the cost of one call.
        if not self.should_dispatch(instance, raw=raw, created=created):
            return
        fetched = self.use_transitions and not created
        previous = instance.__dict__.get(PREVIOUS_VERSION) if fetched else None
        self.send(instance, raw=raw, created=created, using=using, previous=previous)


class dispatch_on_create(_dispatch_on_save):
    """Send when an instance is created (``post_save``, not ``raw``)."""

    def should_dispatch(
        self, instance: Any, raw: bool = False, created: bool = False, **kwargs: Any
    ) -> bool:
        return created and not raw


class dispatch_on_change(_dispatch_on_save):
    """Send when an existing instance is saved (``post_save``, not ``raw``).

    With transitions (``now_*`` filters) the row is read in ``pre_save``,
    before it changes, and given to the filter as the previous version.
    """

    def connect(self, sender: type[Any], weak: bool = False, **kwargs: Any) -> None:
        if self.use_transitions:
            signals.pre_save.connect(
                fetch_previous_version, sender=sender, weak=False, dispatch_uid=PREVIOUS_VERSION
            )
        super().connect(sender, weak=weak, **kwargs)

    def should_dispatch(
        self, instance: Any, raw: bool = False, created: bool = False, **kwargs: Any
    ) -> bool:
        return not created and not raw


class dispatch_on_delete(signal_dispatcher):
    """Send when an instance is deleted (``post_delete``, also by ``QuerySet.delete()``)."""

    def setup_signals(self) -> dict[Any, Callable[..., Any]]:
        return {signals.post_delete: self.on_post_delete}

    def on_post_delete(self, instance: models.Model, using: Any = None, **kwargs: Any) -> None:
        self(instance, using=using)


class dispatch_on_m2m_change(signal_dispatcher):
    """Send when a many-to-many field changes (``m2m_changed``).

    Changes made from the other side of the relation
    (``tag.article_set.add(article)``) send the event for each instance of
    the model whose field changed, as an add or a remove of that one object;
    clearing from the other side is a remove for every instance it touched.
    Fixture loading (``loaddata``) sends nothing.

    Arguments:
        fun: What to call.
        related_field: Name of the many-to-many field on the model.
    """

    #: The action this dispatcher sends for: ``"add"``, ``"remove"`` or ``"clear"``.
    action: str = ""

    def __init__(self, fun: Callable[..., Any], related_field: str, **kwargs: Any) -> None:
        super().__init__(fun, **kwargs)
        self.related_field = related_field
        self.models: list[type[models.Model]] = []

    def setup_signals(self) -> dict[Any, Callable[..., Any]]:
        return {signals.m2m_changed: self.on_m2m_change}

    def connect(self, sender: type[Any], weak: bool = False, **kwargs: Any) -> None:
        # The through model may not exist yet (lazy relations), so every
        # m2m_changed is received and those of other relations ignored.
        self.models.append(sender)
        signals.post_save.connect(mark_raw_save, sender=sender, weak=False, dispatch_uid=SAVED_RAW)
        for signal, handler in self.setup_signals().items():
            signal.connect(handler, weak=weak, **kwargs)

    def context(
        self, instance: Any, model: Any = None, pk_set: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        return {
            "instance": instance.pk,
            "model": serialize_model(model),
            "pk_set": sorted(pk_set or ()),
        }

    def _model_of(self, through: Any) -> type[models.Model] | None:
        for model in self.models:
            if getattr(model, self.related_field).through is through:
                return model
        return None

    def on_m2m_change(
        self,
        sender: Any,
        instance: models.Model,
        action: str,
        reverse: bool,
        model: type[models.Model],
        pk_set: set[Any] | None,
        using: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = self._model_of(sender)
        if owner is None:
            return  # another relation
        stash = f"_thorn_m2m_{id(self):x}"
        if self.action == "remove" and (
            action == "pre_remove" or (action == "pre_clear" and reverse)
        ):
            # What a remove really removes is only known before it happens.
            instance.__dict__[stash] = self._linked(owner, instance, reverse, pk_set, using)
            return
        if action == "post_clear" and reverse and self.action == "remove":
            changed = instance.__dict__.pop(stash, [])
        elif action != f"post_{self.action}" or (reverse and action == "post_clear"):
            return
        elif not reverse:
            if not instance.__dict__.get(SAVED_RAW):
                removed = instance.__dict__.pop(stash, None) if action == "post_remove" else pk_set
                if removed or action == "post_clear":
                    self(instance, model=model, pk_set=removed, using=using)
            return
        elif action == "post_add":
            changed = list(owner._default_manager.using(using).filter(pk__in=pk_set or ()))
        else:
            changed = instance.__dict__.pop(stash, [])
        # From the other side: ``instance`` is the related object.
        for obj in changed:
            self(obj, model=type(instance), pk_set={instance.pk}, using=using)

    def _linked(
        self,
        owner: type[models.Model],
        instance: models.Model,
        reverse: bool,
        pk_set: set[Any] | None,
        using: Any,
    ) -> Any:
        if not reverse:  # the pks of pk_set that the instance is linked to
            related = getattr(instance, self.related_field).all().using(using)
            return set(related.filter(pk__in=pk_set or ()).values_list("pk", flat=True))
        linked = owner._default_manager.using(using).filter(**{self.related_field: instance})
        return list(linked if pk_set is None else linked.filter(pk__in=pk_set))


class dispatch_on_m2m_add(dispatch_on_m2m_change):
    """Send when objects are added to a many-to-many field."""

    action = "add"


class dispatch_on_m2m_remove(dispatch_on_m2m_change):
    """Send when objects are removed from a many-to-many field."""

    action = "remove"


class dispatch_on_m2m_clear(dispatch_on_m2m_change):
    """Send when a many-to-many field is cleared."""

    action = "clear"
