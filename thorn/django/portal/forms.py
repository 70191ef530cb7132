"""The portal's subscription form, validated by the REST API's serializer.

The form only lays the fields out: every value goes through
:class:`~thorn.django.rest_framework.serializers.SubscriberSerializer` and is
saved the way the ``/hooks/`` API saves it (the owner locked, duplicates and
:setting:`THORN_MAX_SUBSCRIPTIONS_PER_USER` refused), so a user gets the same
answers, in the same words, from both.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import django.http
from django import forms
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from thorn._state import current_app
from thorn.catalog import catalog
from thorn.conf import event_choices
from thorn.django.models import CONTENT_TYPES, HMAC_DIGESTS
from thorn.django.rest_framework.serializers import SubscriberSerializer, serializer_for
from thorn.django.rest_framework.views import SubscriberList

__all__ = ["EVENTS_LIST_ID", "SubscriptionForm"]

#: The ``id`` of the ``<datalist>`` of events that the event field offers.
EVENTS_LIST_ID = "thorn-portal-events"


class SubscriptionForm(forms.Form):
    """Create or change one of the user's subscriptions.

    Each field sent is passed to the API's serializer as it is typed, and
    the errors are the serializer's: a field the serializer accepts is one more
    line here.

    Arguments:
        request: The request; its user owns the subscription.
        instance: The subscription to change; ``None`` creates one.
    """

    #: The ``id`` of the events' ``<datalist>``, for the template.
    events_list_id = EVENTS_LIST_ID

    # Not required here: the serializer says what is missing, as the API does.
    event = forms.CharField(
        label=_("Event"),
        required=False,
        widget=forms.TextInput(attrs={"list": EVENTS_LIST_ID, "autocomplete": "off"}),
        help_text=_('An event, or a pattern: "article.created", "article.*", "*.created" or "*".'),
    )
    url = forms.CharField(
        label=_("URL"),
        required=False,
        widget=forms.URLInput,
        help_text=_("Where the events are sent (http or https, a public address)."),
    )
    content_type = forms.CharField(
        label=_("Content type"),
        required=False,
        widget=forms.Select(choices=[(value, value) for value in CONTENT_TYPES]),
    )
    hmac_digest = forms.CharField(
        label=_("Signature digest"),
        required=False,
        widget=forms.Select(choices=[(value, value.upper()) for value in HMAC_DIGESTS]),
        help_text=_("The digest of the Hook-HMAC signature."),
    )
    signing_algorithm = forms.CharField(
        label=_("Signature algorithm"),
        required=False,
        widget=forms.Select(
            choices=[("hmac", _("HMAC-SHA256 (v1)")), ("ed25519", _("Ed25519 (v1a)"))]
        ),
        help_text=_(
            "How webhook-signature is made: HMAC with the secret, or Ed25519, "
            "which your receiver verifies with the public key shown here."
        ),
    )
    filter = forms.JSONField(
        label=_("Filter"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Only events whose payload passes it are sent: a JSON object such as "
            '{"data__state__eq": "PUBLISHED"}. Empty: every event.'
        ),
    )
    lease_seconds = forms.IntegerField(
        label=_("Lease (seconds)"),
        required=False,
        min_value=1,
        help_text=_(
            "The subscription expires this many seconds from now. "
            "Empty: no expiry for a new subscription, the lease unchanged for this one."
        ),
    )

    # django.http.HttpRequest in full: the docs show this signature as it is written.
    def __init__(
        self, *args: Any, request: django.http.HttpRequest, instance: Any = None, **kwargs: Any
    ):
        self.model = current_app().env.Subscriber  # type: ignore[attr-defined]
        if instance is not None:
            values = {name: getattr(instance, name, None) for name in self.base_fields}
            initial = {name: value for name, value in values.items() if value is not None}
        else:
            initial = _defaults(self.model, self.base_fields)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        accepted = serializer_for(self.model)().fields  # a custom model may have fewer
        for name in [name for name in self.fields if name not in accepted]:
            del self.fields[name]
        for bound in self:
            if bound.help_text:  # as Django 5 does, on every version
                bound.field.widget.attrs.setdefault("aria-describedby", f"{bound.auto_id}_helptext")
        self.request = request
        self.instance = instance
        self.serializer: SubscriberSerializer | None = None

    @property
    def events(self) -> list[tuple[str, str]]:
        """The events offered, as ``(value, label)``.

        :setting:`THORN_EVENT_CHOICES` when it is set, else the events of the
        catalog (:func:`thorn.catalog.catalog`) whose names have no
        placeholder, labelled with their descriptions.
        """
        choices = event_choices(current_app().settings)
        if choices:
            return choices
        return [
            (entry.name, str(entry.description or entry.name))
            for entry in catalog()
            if "{" not in entry.name
        ]

    def api(self) -> SubscriberList:
        """The API's own view, bound to this request: it checks the limit and saves."""
        return SubscriberList(request=self.request, args=(), kwargs={}, format_kwarg=None)

    def clean(self) -> dict[str, Any]:
        """Validate with the API's serializer (after the per-user limit, when creating)."""
        cleaned = super().clean() or {}
        # What was sent, as typed; a field left out gets the serializer's default,
        # and an empty lease changes nothing.
        sent = {name: value for name, value in cleaned.items() if name in self.data}
        if sent.get("lease_seconds") is None:
            sent.pop("lease_seconds", None)
        if sent.get("filter") is None and "filter" in sent:
            sent["filter"] = {}
        try:
            if self.instance is None:
                # As the API does: a user at the limit costs no DNS lookup.
                self.api().refuse_over_limit(self.model)
        except serializers.ValidationError as exc:
            self.add_api_errors(exc.detail)
            return cleaned
        serializer = serializer_for(self.model)(
            instance=self.instance,
            data=sent,
            partial=self.instance is not None,
            context={"request": self.request},
        )
        if serializer.is_valid():
            self.serializer = serializer
        else:
            self.add_api_errors(serializer.errors)
        return cleaned

    def save(self) -> Any:
        """Save as the API saves; return the subscription, or ``None`` (see the errors)."""
        if self.serializer is None:
            raise ValueError("save() needs a valid form")
        owner = {"user": self.request.user} if self.instance is None else {}
        try:
            self.api().save_locked(self.serializer, creating=self.instance is None, **owner)
        except serializers.ValidationError as exc:
            self.add_api_errors(exc.detail)
            return None
        return self.serializer.instance

    def add_error(self, field: str | None, error: Any) -> None:
        """Add the error; the field's input points at it (``aria-describedby``)."""
        super().add_error(field, error)
        if field is None or field not in self.fields:
            return
        attrs = self.fields[field].widget.attrs
        described = attrs.get("aria-describedby", "").split()
        errors_id = f"{self[field].auto_id}_errors"
        if errors_id not in described:
            described.append(errors_id)
        attrs.update({"aria-describedby": " ".join(described), "aria-invalid": "true"})

    def add_api_errors(self, detail: Any) -> None:
        """Show the API's errors: on their field, else above the form."""
        if not isinstance(detail, Mapping):
            detail = {api_settings.NON_FIELD_ERRORS_KEY: detail}
        for name, messages in detail.items():
            if isinstance(messages, Mapping):  # a filter's messages, by key
                messages = [
                    f"{key}: {text}" for key, value in messages.items() for text in _as_list(value)
                ]
            messages = [str(message) for message in _as_list(messages)]
            if name in self.fields:
                self.add_error(name, messages)
            elif name == api_settings.NON_FIELD_ERRORS_KEY:
                self.add_error(None, messages)
            else:
                self.add_error(None, [f"{name}: {message}" for message in messages])


def _defaults(model: Any, names: Iterable[str]) -> dict[str, Any]:
    """The model's defaults of the fields ``names`` (sha256, not the first digest listed)."""
    defaults = {}
    for field in model._meta.get_fields():
        if field.name in names and getattr(field, "has_default", lambda: False)():
            defaults[field.name] = field.get_default()
    return defaults


def _as_list(messages: Any) -> list[Any]:
    return list(messages) if isinstance(messages, (list, tuple)) else [messages]
