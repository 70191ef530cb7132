"""Serializing and validating subscriptions of the REST API."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from django.db import models
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from thorn._state import current_app
from thorn.catalog import catalog_matches
from thorn.conf import event_choices
from thorn.django.health import has_health, last_deliveries
from thorn.django.models import HMAC_DIGESTS, URL_MAX_LENGTH, Subscriber
from thorn.django.models.subscriber import (
    DELIVERY_MODES,
    ED25519,
    POST,
    SIGNING_ALGORITHMS,
    STREAM,
)
from thorn.exceptions import FilterError, SecurityError
from thorn.generic.filters import compile_filter
from thorn.utils import ed25519
from thorn.utils.hmac import signing_secret

__all__ = [
    "HEALTH",
    "HMAC_SECRET_MAX_LENGTH",
    "HMAC_SECRET_MIN_LENGTH",
    "SECRET_FIELDS",
    "SIGNING_FIELDS",
    "SUBSCRIBER_SIDE",
    "FilterField",
    "LastDelivery",
    "SubscriberListSerializer",
    "SubscriberSerializer",
    "serializer_for",
]

#: The fields that show the health of the endpoint (new in 2.0).
HEALTH = ("is_active", "disabled_reason", "disabled_at", "failing_since", "last_delivery")
#: The fields of filters, leases and verification of intent (new in 2.0).
SUBSCRIBER_SIDE = (
    "filter",
    "lease_seconds",
    "expires_at",
    "verified",
    "verification_error",
    "verification_attempted_at",
)


class LastDelivery(TypedDict):
    """The ``last_delivery`` of a subscription."""

    #: The delivery id (``Hook-Delivery``).
    id: str
    #: The event delivered.
    event: str
    #: ``pending``, ``retrying``, ``succeeded``, ``failed`` or ``cancelled``.
    status: str
    #: The status code of its last attempt's answer, if any.
    status_code: int | None
    #: When it was made.
    created_at: datetime


#: Bounds of a secret chosen by the subscriber.  Any non-empty secret is
#: accepted, as in Thorn 1.5 (the docs recommend long ones, and generated
#: secrets have 64 characters), up to a length that keeps requests small.
HMAC_SECRET_MIN_LENGTH = 1
HMAC_SECRET_MAX_LENGTH = 512


class FilterField(serializers.JSONField):
    """The ``filter`` of a subscription: a JSON object (see :mod:`thorn.generic.filters`).

    .. versionadded:: 2.0
    """


class SubscriberSerializer(serializers.ModelSerializer[Any]):
    """A subscription, as the ``/hooks/`` API shows and accepts it.

    ``id`` is the subscription's uuid and ``subscription`` the absolute URL
    of its detail view; ``user`` (the owner's primary key) and the
    timestamps are read-only.  The ``url`` must be ``http(s)`` and pass the
    recipient validators now, so an internal address is refused when
    subscribing, not at the first delivery.  ``hmac_digest`` is accepted in
    any case and stored in lower case.  A chosen ``hmac_secret`` may have
    1 to 512 characters, kept as sent, but must not be blank.  An owner
    cannot have two subscriptions of the same URL to the same event.
    ``signing_secret`` (new in 2.0) is the same secret in the Standard
    Webhooks format (read-only).  ``signing_algorithm`` (new in 2.0) is
    ``"hmac"`` (the default: ``webhook-signature`` is HMAC-SHA256, ``v1``)
    or ``"ed25519"`` (``v1a``, with a key pair thorn generates); then
    ``signing_public_key`` (read-only) is the public key receivers verify
    with, ``whpk_...``; the private key is never shown.

    New in 2.0 too: ``filter`` (see :mod:`thorn.generic.filters`), and
    ``lease_seconds`` (write-only: the subscription expires that many
    seconds after the request, at most ``THORN_MAX_LEASE_SECONDS``;
    ``null`` removes the lease), which sets the read-only ``expires_at``.
    ``verified``, ``verification_error`` and ``verification_attempted_at``
    show the verification of intent (``THORN_VERIFY_INTENT``).
    ``delivery`` is ``"post"`` (the default) or ``"stream"``: a stream-only
    subscription has no URL, and its deliveries are only read from its live
    stream.
    """

    id = serializers.UUIDField(source="uuid", read_only=True)
    user = serializers.ReadOnlyField(source="user_id")
    url = serializers.URLField(max_length=URL_MAX_LENGTH, required=False, allow_blank=True)
    delivery = serializers.ChoiceField(
        source="delivery_mode",
        choices=DELIVERY_MODES,
        required=False,
        help_text='"post" (the default): deliveries are POSTed to the URL; "stream": '
        "no URL, deliveries are only read from GET /hooks/<uuid>/stream/.",
        error_messages={"invalid_choice": 'Not a delivery mode: use "post" or "stream".'},
    )
    subscription = serializers.HyperlinkedIdentityField(
        view_name="webhook:detail", lookup_field="uuid", lookup_url_kwarg="uuid"
    )
    hmac_secret = serializers.CharField(
        required=False,
        min_length=HMAC_SECRET_MIN_LENGTH,
        max_length=HMAC_SECRET_MAX_LENGTH,
        trim_whitespace=False,
    )
    hmac_digest = serializers.CharField(required=False, max_length=64)
    signing_secret = serializers.SerializerMethodField(
        help_text="The secret in the Standard Webhooks format: whsec_ and the base64 of "
        "hmac_secret's UTF-8 bytes, for Standard Webhooks libraries."
    )
    signing_algorithm = serializers.ChoiceField(
        choices=SIGNING_ALGORITHMS,
        required=False,
        help_text='How webhook-signature is made: "hmac" (the default: HMAC-SHA256 with the '
        'secret, v1) or "ed25519" (an Ed25519 signature, v1a, verified with '
        "signing_public_key).",
        error_messages={"invalid_choice": 'Not a signing algorithm: use "hmac" or "ed25519".'},
    )
    signing_public_key = serializers.SerializerMethodField(
        help_text="For an ed25519 subscription, the Ed25519 public key that verifies "
        "webhook-signature (v1a): whpk_ and the base64 of its 32 bytes; null for hmac."
    )

    filter = FilterField(
        required=False,
        help_text="Only payloads that pass receive deliveries: an object of payload paths "
        'with an operator and values, all of which must hold: {"data__state__eq": "PUBLISHED"}.',
    )
    lease_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        write_only=True,
        min_value=1,
        help_text="Seconds until the subscription expires (renewed by every update that "
        "sends it; null: no expiry), at most THORN_MAX_LEASE_SECONDS.",
    )

    last_delivery = serializers.SerializerMethodField(
        help_text="The subscription's newest delivery, or null: its id, event, status, "
        "the status code of its last attempt, and when it was made."
    )

    class Meta:
        model = Subscriber
        fields: tuple[str, ...] = (
            "event",
            "url",
            "content_type",
            "user",
            "id",
            "created_at",
            "updated_at",
            "subscription",
            "hmac_secret",
            "hmac_digest",
            "signing_secret",
            "signing_algorithm",
            "signing_public_key",
            *HEALTH,
            *SUBSCRIBER_SIDE,
            "delivery",
        )
        read_only_fields = (
            "created_at",
            "updated_at",
            "disabled_reason",
            "disabled_at",
            "expires_at",
            "verified",
            "verification_error",
            "verification_attempted_at",
        )
        # DRF's message repeats the input, which JSON cannot always encode
        # (a lone surrogate): a fixed message keeps it a 400.
        extra_kwargs = {
            "content_type": {
                "error_messages": {
                    "invalid_choice": "Not a valid content type: use application/json "
                    "or application/x-www-form-urlencoded."
                }
            }
        }

    def get_last_delivery(self, subscriber: Any) -> LastDelivery | None:
        """The newest delivery: from the list's one query, else one of its own."""
        found = self.context.get("last_deliveries")
        if found is None:
            found = last_deliveries(type(subscriber), [subscriber.uuid])
        record = found.get(subscriber.uuid)
        if record is None:
            return None
        return LastDelivery(
            id=str(record.id),
            event=record.event,
            status=record.state,
            status_code=record.last_status_code,
            created_at=timezone.localtime(record.created_at),
        )

    def get_signing_secret(self, subscriber: Any) -> str:
        """``hmac_secret`` in the Standard Webhooks format (``whsec_...``)."""
        return signing_secret(subscriber.hmac_secret)

    def get_signing_public_key(self, subscriber: Any) -> str | None:
        """The Ed25519 public key (``whpk_...``) of an ``ed25519`` subscription, else ``None``."""
        if getattr(subscriber, "signing_algorithm", None) != ED25519:
            return None
        return getattr(subscriber, "signing_public_key", None) or None

    def validate_signing_algorithm(self, value: str) -> str:
        """``"ed25519"`` only where ``cryptography`` is installed (else a 400 that says so).

        A subscription that already has its key pair keeps it: it can be
        changed (or disabled) without the package.
        """
        instance = self.instance
        has_keys = (
            getattr(instance, "signing_algorithm", None) == ED25519
            and getattr(instance, "signing_private_key", "") != ""
        )
        if value == ED25519 and not has_keys and not ed25519.available():
            raise serializers.ValidationError(
                f"Ed25519 signatures are not available on this server: it needs "
                f"{ed25519.INSTALL_HINT}.",
                code="unavailable",
            )
        return value

    def validate_event(self, value: str) -> str:
        """The event must be a pattern: one of ``THORN_EVENT_CHOICES`` when set, else
        one that matches an event of the catalog (see :mod:`thorn.catalog`).

        .. versionchanged:: 2.0
            Without ``THORN_EVENT_CHOICES``, a pattern that matches no
            declared event is refused.
        """
        choices = [choice for choice, _label in event_choices(current_app().settings)]
        if choices and value not in choices:
            raise serializers.ValidationError(
                f"{value!r} is not one of the events you can subscribe to: {', '.join(choices)}."
            )
        if not choices and not catalog_matches(value):
            raise serializers.ValidationError(
                f"{value!r} matches no event you can subscribe to: see GET /hooks/events/.",
                code="unknown_event",
            )
        return value

    def validate_url(self, value: str) -> str:
        """The URL must be ``http(s)`` and pass ``THORN_RECIPIENT_VALIDATORS`` (or be empty).

        Whether it may be empty depends on the delivery mode (see :meth:`validate`).
        """
        if not value:
            return value
        if value.partition(":")[0].lower() not in ("http", "https"):
            raise serializers.ValidationError("Only http and https URLs can subscribe.")
        app = current_app()
        validators = app.settings.THORN_RECIPIENT_VALIDATORS
        try:
            app.transport.check_recipient(value, validators)
        except SecurityError as exc:
            raise serializers.ValidationError(f"This URL is refused: {exc}") from exc
        except OSError as exc:
            raise serializers.ValidationError(
                f"The host of this URL cannot be resolved: {exc}"
            ) from exc
        return value

    def validate_hmac_secret(self, value: str) -> str:
        """Any secret that is not blank, kept exactly as sent (spaces included)."""
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value

    def validate_hmac_digest(self, value: str) -> str:
        """One of ``sha1``, ``sha256``, ``sha512``, in any case."""
        digest = value.lower()
        if digest not in HMAC_DIGESTS:
            raise serializers.ValidationError(
                f"{value!r} is not a valid digest: use one of {', '.join(HMAC_DIGESTS)}."
            )
        return digest

    def validate_filter(self, value: Any) -> Any:
        """A filter that :func:`~thorn.generic.filters.compile_filter` accepts.

        The errors are by filter key: ``{"filter": {"data__x__zz": [...]}}``;
        an error of the whole filter is a list: ``{"filter": [...]}``.
        """
        if value is None:
            return {}
        try:
            compile_filter(value)
        except FilterError as exc:
            whole = exc.errors.pop("", None)
            if whole is not None:
                raise serializers.ValidationError(whole, code="invalid_filter") from None
            raise serializers.ValidationError(
                {key: [error] for key, error in exc.errors.items()}, code="invalid_filter"
            ) from None
        return value

    def validate_lease_seconds(self, value: int | None) -> int | None:
        """At most ``THORN_MAX_LEASE_SECONDS``."""
        limit = int(current_app().settings.THORN_MAX_LEASE_SECONDS)
        if value is not None and value > limit:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {limit} (THORN_MAX_LEASE_SECONDS).",
                code="max_value",
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Refuse a URL that does not fit the delivery mode, and a duplicate subscription.

        A ``post`` subscription needs a URL; a ``stream`` one has none.
        ``lease_seconds`` becomes ``expires_at``.  With ``THORN_VERIFY_INTENT``,
        a new ``post`` subscription, or one whose URL changes, is not verified
        until its URL confirms it (see :mod:`thorn.django.intent`); a
        stream-only one has no URL to ask.
        """
        mode = attrs.get("delivery_mode", getattr(self.instance, "delivery_mode", POST))
        if "url" in attrs:
            url = attrs["url"]
        elif self.instance is not None and self.partial:
            url = self.instance.url
            if mode == STREAM:  # a subscription made stream-only loses its URL
                attrs["url"] = url = ""
        else:  # a POST, or a PUT (a full update)
            url = ""
        if mode == STREAM and url:
            raise serializers.ValidationError(
                {"url": ["A stream-only subscription has no URL: leave it out."]}
            )
        if mode == POST and not url:
            raise serializers.ValidationError({"url": ["This field is required."]}, code="required")
        self.refuse_duplicate(attrs)
        if "lease_seconds" in attrs:
            lease = attrs.pop("lease_seconds")
            attrs["expires_at"] = (
                None if lease is None else timezone.now() + timedelta(seconds=lease)
            )
        url_changes = self.instance is None or (
            "url" in attrs and attrs["url"] != self.instance.url
        )
        verifies = current_app().settings.THORN_VERIFY_INTENT
        if url_changes and verifies and mode == POST and "verified" in self.Meta.fields:
            attrs["verified"] = False
        return attrs

    @property
    def needs_verification(self) -> bool:
        """Whether the saved subscription must be verified (its URL is new, with the setting on)."""
        return self.validated_data.get("verified") is False

    def owner(self) -> Any:
        """The owner's primary key: the subscription's, else the caller's (or ``None``)."""
        if self.instance is not None:
            return self.instance.user_id
        user = getattr(self.context.get("request"), "user", None)
        if user is None or not user.is_authenticated:
            return None
        return user.pk

    def refuse_duplicate(self, attrs: Mapping[str, Any]) -> None:
        """Raise a ``ValidationError`` if the owner has another subscription of this event and URL.

        Event and URL are compared exactly as stored.  The views call it again
        inside the transaction that saves, with the owner's row locked.
        Stream-only subscriptions have no URL, and are never duplicates: each
        ``thorn listen`` makes its own.

        .. versionadded:: 2.0
        """
        owner = self.owner()
        if owner is None:
            return
        event = attrs["event"] if "event" in attrs else getattr(self.instance, "event", None)
        url = attrs["url"] if "url" in attrs else getattr(self.instance, "url", None)
        if not url:
            return
        others = self.Meta.model._default_manager.filter(user=owner, event=event, url=url)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        duplicate = others.values_list("uuid", flat=True).first()
        if duplicate is not None:
            message = (
                f"This subscription would be a duplicate: you already subscribed this URL "
                f"to this event (subscription {duplicate})."
            )
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [message]}, code="duplicate"
            )


#: The fields of the Ed25519 signatures (new in 2.0).
SIGNING_FIELDS = ("signing_algorithm", "signing_public_key")

#: The fields that hold the secret, left out of the list.
SECRET_FIELDS = ("hmac_secret", "signing_secret")


class _WithLastDeliveries(serializers.ListSerializer[Any]):
    """Finds the newest delivery of every listed subscription at once (two queries)."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        model = self.child.Meta.model  # type: ignore[union-attr]
        found = last_deliveries(model, [item.uuid for item in items])
        # The children's context is the root's: this list's, when it is the root.
        cast("dict[str, Any]", self._context)["last_deliveries"] = found
        return super().to_representation(items)


class SubscriberListSerializer(SubscriberSerializer):
    """A subscription in the list of ``GET /hooks/``: without its secret (in either form)."""

    class Meta(SubscriberSerializer.Meta):
        fields = tuple(
            name for name in SubscriberSerializer.Meta.fields if name not in SECRET_FIELDS
        )
        list_serializer_class = _WithLastDeliveries


@functools.cache
def serializer_for(model: type[models.Model], listing: bool = False) -> type[SubscriberSerializer]:
    """Return the serializer of ``model`` (``THORN_SUBSCRIBER_MODEL``), for a list or not.

    A model that does not keep the health of endpoints (see
    :func:`~thorn.django.health.has_health`) is shown without it.
    """
    base = SubscriberListSerializer if listing else SubscriberSerializer
    if model is Subscriber:
        return base
    fields = base.Meta.fields
    if not has_health(model):
        fields = tuple(name for name in fields if name not in HEALTH[:-1])
    # A model without the fields of 2.0's filters, leases or verification
    # is shown without them (lease_seconds sets expires_at).
    names = {field.name for field in model._meta.get_fields()}
    names.update(("lease_seconds",) if "expires_at" in names else ())
    fields = tuple(name for name in fields if name not in SUBSCRIBER_SIDE or name in names)
    # A model without 2.0's Ed25519 signatures signs with HMAC only.
    if "signing_algorithm" not in names:
        fields = tuple(name for name in fields if name not in SIGNING_FIELDS)
    meta = type("Meta", (base.Meta,), {"model": model, "fields": fields})
    declared = ("filter", "lease_seconds", *SIGNING_FIELDS)
    dropped = {name: None for name in declared if name not in fields}
    return type(f"{model.__name__}{base.__name__}", (base,), {"Meta": meta, **dropped})
