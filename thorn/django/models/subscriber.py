"""The Subscriber model: a subscription of a URL (or of a live stream) to an event pattern."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from thorn._state import current_app
from thorn.conf import MIME_JSON, MIME_URLFORM, event_choices
from thorn.django import delivery_signals
from thorn.django.index import subscriptions_changed
from thorn.django.managers import SubscriberManager
from thorn.exceptions import FilterError, ImproperlyConfigured
from thorn.generic.filters import Predicate, compile_filter
from thorn.generic.models import AbstractSubscriber, SubscriberModelMixin
from thorn.generic.subscriber import is_event_pattern
from thorn.utils import ed25519, hmac
from thorn.utils.log import get_logger
from thorn.utils.redact import redact_url

__all__ = [
    "CHAR_MAX_LENGTH",
    "CONTENT_TYPES",
    "DELIVERY_MODES",
    "DISABLED_BY_HAND",
    "ED25519",
    "HEALTH_FIELDS",
    "HMAC",
    "HMAC_DIGESTS",
    "POST",
    "SIGNING_ALGORITHMS",
    "STREAM",
    "URL_MAX_LENGTH",
    "Subscriber",
    "random_secret64",
    "validate_event_pattern",
    "validate_filter",
]

logger = get_logger(__name__)

#: Maximum length of the ``event`` and ``content_type`` columns.
CHAR_MAX_LENGTH = 190
#: Maximum length of a subscriber URL.
URL_MAX_LENGTH = 2048
#: Content types a subscriber can ask for.
CONTENT_TYPES = (MIME_JSON, MIME_URLFORM)
#: Digests a subscriber can sign with (stored in lower case).
HMAC_DIGESTS = ("sha1", "sha256", "sha512")
#: The fields that keep the health of an endpoint, besides ``is_active``.
HEALTH_FIELDS = ("disabled_reason", "disabled_at", "failing_since")
#: The ``disabled_reason`` of a subscription saved inactive without one.
DISABLED_BY_HAND = "disabled by hand"
#: ``delivery_mode`` of a subscription whose deliveries are POSTed to its URL.
POST = "post"
#: ``delivery_mode`` of a stream-only subscription: it has no URL, and its
#: deliveries are recorded for its live stream, never POSTed.
STREAM = "stream"
#: How a subscription gets its deliveries.
DELIVERY_MODES = (POST, STREAM)
#: ``signing_algorithm`` of a subscription whose ``webhook-signature`` is
#: HMAC-SHA256 with its ``hmac_secret`` (Standard Webhooks ``v1``).
HMAC = "hmac"
#: ``signing_algorithm`` of a subscription whose ``webhook-signature`` is
#: Ed25519 with its own key pair (Standard Webhooks ``v1a``).
ED25519 = "ed25519"
#: How a subscription's ``webhook-signature`` is made.
SIGNING_ALGORITHMS = (HMAC, ED25519)
#: The fields that hold a subscription's Ed25519 keys.
_KEY_FIELDS = ("signing_private_key", "signing_public_key", "previous_signing_private_key")


def random_secret64() -> str:
    """Return a new random secret of 64 characters (default of ``hmac_secret``)."""
    return hmac.random_secret64()


def validate_event_pattern(value: str) -> None:
    """Raise :exc:`~django.core.exceptions.ValidationError` unless ``value`` is a pattern.

    See :func:`thorn.generic.subscriber.is_event_pattern`.
    """
    if not is_event_pattern(value):
        raise ValidationError(
            _(
                "%(value)r is not an event pattern: use dot-separated words "
                '("article.created"), "topic.*", "*.name" or "*".'
            ),
            code="invalid_event",
            params={"value": value},
        )


def validate_filter(value: Any) -> None:
    """Raise :exc:`~django.core.exceptions.ValidationError` unless ``value`` is a usable filter.

    See :func:`thorn.generic.filters.compile_filter`.

    .. versionadded:: 2.0
    """
    try:
        compile_filter(value)
    except FilterError as exc:
        raise ValidationError(
            [f"{key}: {error}" if key else error for key, error in exc.errors.items()],
            code="invalid_filter",
        ) from None


def _refuse(payload: Any) -> bool:
    return False


class Subscriber(models.Model, SubscriberModelMixin):
    """A URL subscribed to the events matching a pattern.

    .. versionchanged:: 2.0
        ``hmac_digest`` is stored in lower case (upper-case values of
        Thorn 1.5 are converted by migration ``0004``); ``user`` is optional
        in forms; the event must be a valid pattern (and one of
        ``THORN_EVENT_CHOICES`` when that is set); URLs may have up to 2048
        characters; ``is_active``, ``disabled_reason``, ``disabled_at`` and
        ``failing_since`` keep the endpoint's health (see
        :doc:`/userguide/delivery`); the secret can be rotated with a grace
        period (:meth:`rotate_secret`, migration ``0005``); ``filter``,
        ``expires_at``, ``verified`` and the verification fields are new
        (migration ``0008``): see :doc:`/userguide/rest-api`;
        ``delivery_mode``: a ``stream`` subscription has no URL; its
        deliveries are only read from its live stream
        (:doc:`/userguide/stream`); ``stream_seen_at`` is when a client last
        read it (migration ``0009``); ``signing_algorithm``: ``"ed25519"``
        signs ``webhook-signature`` with the subscription's own Ed25519 key
        pair (``v1a``), whose private key is never shown (migration ``0010``).
    """

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, editable=False, unique=True)
    event = models.CharField(
        _("event"),
        max_length=CHAR_MAX_LENGTH,
        db_index=True,
        validators=[validate_event_pattern],
        help_text=_(
            'Event pattern to subscribe to: "article.created", "article.*", "*.created" or "*".'
        ),
    )
    url = models.URLField(
        _("URL"),
        max_length=URL_MAX_LENGTH,
        blank=True,
        help_text=_("Destination URL (none for a stream-only subscription)."),
    )
    delivery_mode = models.CharField(
        _("delivery"),
        max_length=16,
        choices=[(POST, _("POST to the URL")), (STREAM, _("stream only"))],
        default=POST,
        help_text=_(
            "post: deliveries are POSTed to the URL; stream: no URL, deliveries are only "
            "read from the subscription's live stream."
        ),
    )
    stream_seen_at = models.DateTimeField(
        _("stream last read at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When a client last read this subscription's live stream."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="%(app_label)s_%(class)s",
        null=True,
        blank=True,
        verbose_name=_("user"),
        help_text=_("Owner: receives events without a sender and its own events."),
    )
    hmac_secret = models.TextField(
        _("HMAC secret"),
        default=random_secret64,
        help_text=_("Secret key used to sign messages to this subscriber."),
    )
    hmac_digest = models.CharField(
        _("HMAC digest"),
        max_length=64,
        choices=[(name, name.upper()) for name in HMAC_DIGESTS],
        default="sha256",
        help_text=_("Digest of the HMAC signature."),
    )
    content_type = models.CharField(
        _("content type"),
        max_length=CHAR_MAX_LENGTH,
        choices=[(ctype, ctype) for ctype in CONTENT_TYPES],
        default=MIME_JSON,
        help_text=_("Content type of the messages sent to this subscriber."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        db_index=True,
        help_text=_(
            "Inactive subscriptions receive nothing. thorn turns this off when the URL answers "
            "410 Gone, or after its deliveries failed for THORN_DISABLE_AFTER."
        ),
    )
    disabled_reason = models.CharField(
        _("disabled because"), max_length=255, blank=True, default="", editable=False
    )
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(
        _("failing since"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Every delivery since then has failed; cleared by the next success."),
    )
    previous_hmac_secret = models.TextField(
        _("previous HMAC secret"),
        blank=True,
        default="",
        editable=False,
        help_text=_("The secret before the last rotation."),
    )
    previous_hmac_secret_expires = models.DateTimeField(
        _("previous secret valid until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Until then, deliveries are also signed with the previous secret."),
    )
    signing_algorithm = models.CharField(
        _("signing algorithm"),
        max_length=16,
        choices=[(HMAC, _("HMAC-SHA256 (v1)")), (ED25519, _("Ed25519 (v1a)"))],
        default=HMAC,
        help_text=_(
            "hmac: webhook-signature is an HMAC with the secret (v1); ed25519: it is an "
            "Ed25519 signature (v1a), which receivers verify with the public key."
        ),
    )
    # The private keys never leave the server: not editable (so not in the
    # admin's forms), never serialized, never in a repr or a log.
    signing_private_key = models.TextField(
        _("Ed25519 private key"),
        blank=True,
        default="",
        editable=False,
        help_text=_("whsk_...: signs webhook-signature of an ed25519 subscription."),
    )
    signing_public_key = models.TextField(
        _("Ed25519 public key"),
        blank=True,
        default="",
        editable=False,
        help_text=_("whpk_...: what receivers verify webhook-signature (v1a) with."),
    )
    previous_signing_private_key = models.TextField(
        _("previous Ed25519 private key"),
        blank=True,
        default="",
        editable=False,
        help_text=_("The private key before the last rotation."),
    )
    filter = models.JSONField(
        _("filter"),
        default=dict,
        blank=True,
        validators=[validate_filter],
        help_text=_(
            'Only payloads that pass receive deliveries: {"data__state__eq": "PUBLISHED"}, '
            "payload paths with an operator, all of which must hold."
        ),
    )
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("End of the lease: from then on, it receives nothing. Empty: no expiry."),
    )
    verified = models.BooleanField(
        _("verified"),
        default=True,
        help_text=_(
            "Whether the URL confirmed the subscription (THORN_VERIFY_INTENT): "
            "with that setting on, unverified subscriptions receive nothing."
        ),
    )
    verification_error = models.CharField(
        _("verification error"), max_length=255, blank=True, default="", editable=False
    )
    verification_attempted_at = models.DateTimeField(
        _("verification attempted at"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, editable=False)

    objects = SubscriberManager()

    class Meta:
        ordering = ["url", "-created_at"]
        get_latest_by = "updated_at"
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")

    def __str__(self) -> str:
        if self.streams_only:
            return f"{self.event} -> (stream)"
        return f"{self.event} -> {Truncator(redact_url(self.url)).chars(43)}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, storing ``hmac_digest`` in lower case.

        A subscription made active again forgets why and since when it was
        disabled, and that it was failing: it starts afresh, and
        :data:`~thorn.django.delivery_signals.subscription_enabled` is sent.  One saved
        inactive by hand is stamped with when (and, unless given, why:
        "disabled by hand"), and
        :data:`~thorn.django.delivery_signals.subscription_disabled` is sent
        (with ``outcome=None``).

        An ``ed25519`` subscription without a key pair gets one; one made
        ``hmac`` loses its keys.

        .. versionchanged:: 2.0
            The health fields, the signals, and the Ed25519 keys.

        Raises:
            ImproperlyConfigured: when an ``ed25519`` subscription needs a
                key pair and ``cryptography`` is not installed (nothing is saved).
        """
        if self.hmac_digest:
            self.hmac_digest = self.hmac_digest.lower()
        keys_changed = self._sync_keys()
        signal = None
        if self.is_active and self.disabled_at is not None:
            self.disabled_reason, self.disabled_at, self.failing_since = "", None, None
            signal = delivery_signals.subscription_enabled
        elif not self.is_active and self.disabled_at is None:
            self.disabled_reason = self.disabled_reason or DISABLED_BY_HAND
            self.disabled_at = timezone.now()
            signal = delivery_signals.subscription_disabled
        update_fields = kwargs.get("update_fields")
        if signal is not None and update_fields is not None:
            kwargs["update_fields"] = update_fields = {*update_fields, *HEALTH_FIELDS}
        if keys_changed and update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *_KEY_FIELDS}
        super().save(*args, **kwargs)
        if signal is delivery_signals.subscription_enabled:
            signal.send_robust(type(self), subscription=self)
        elif signal is not None:
            signal.send_robust(
                type(self), subscription=self, reason=self.disabled_reason, outcome=None
            )

    def _sync_keys(self) -> bool:
        """Give an ed25519 subscription a key pair, and drop the keys of an hmac one.

        Returns whether the key fields changed.

        Raises:
            ImproperlyConfigured: for an ed25519 subscription without keys,
                if ``cryptography`` is not installed.
        """
        if self.signing_algorithm == ED25519:
            if self.signing_private_key:
                return False
            self.signing_private_key = ed25519.generate_secret_key()
            self.signing_public_key = ed25519.public_key_of(self.signing_private_key)
            self.previous_signing_private_key = ""
            return True
        if any(getattr(self, name) for name in _KEY_FIELDS):
            for name in _KEY_FIELDS:
                setattr(self, name, "")
            return True
        return False

    @property
    def streams_only(self) -> bool:
        """True for a stream-only subscription (``delivery_mode`` is ``"stream"``).

        .. versionadded:: 2.0
        """
        return self.delivery_mode == STREAM

    def user_ident(self) -> Any:
        """Return the owner's primary key (without loading the user), or ``None``."""
        return self.user_id

    def accepts(self, payload: Any) -> bool:
        """Return whether ``payload`` passes the subscription's ``filter``.

        The filter is compiled once per instance (the subscription index
        keeps instances), again only when ``filter`` is replaced.  A stored
        filter that cannot be used (written around the validation) passes
        nothing, and is logged.

        .. versionadded:: 2.0
        """
        spec = self.filter
        cached: tuple[Any, Predicate] | None = self.__dict__.get("_compiled_filter")
        if cached is None or cached[0] is not spec:
            try:
                predicate = compile_filter(spec)
            except FilterError as exc:
                logger.warning("Subscription %s has an unusable filter: %s", self.uuid, exc)
                predicate = _refuse
            cached = (spec, predicate)
            self.__dict__["_compiled_filter"] = cached
        return cached[1](payload)

    def signing_secrets(self, at: float) -> tuple[str, ...]:
        """Return the secrets that sign a delivery made at ``at`` (Unix time), newest first.

        ``hmac_secret``, and the previous secret until its grace period ends.

        .. versionadded:: 2.0
        """
        expires = self.previous_hmac_secret_expires
        if self.previous_hmac_secret and expires is not None and expires.timestamp() > at:
            return (self.hmac_secret, self.previous_hmac_secret)
        return (self.hmac_secret,)

    def signing_keys(self, at: float) -> tuple[str, ...]:
        """Return the Ed25519 private keys that sign a delivery made at ``at``, newest first.

        Empty for an ``hmac`` subscription; else ``signing_private_key``,
        and the previous key until the grace period of the last rotation
        ends (``previous_hmac_secret_expires``: a rotation replaces both).

        .. versionadded:: 2.0

        Raises:
            ImproperlyConfigured: for an ``ed25519`` subscription without a
                private key (its algorithm was changed around :meth:`save`,
                by ``QuerySet.update()`` or SQL): its deliveries fail, and
                are retried, rather than go out signed otherwise.
                :meth:`rotate_secret` gives it a key pair.
        """
        if self.signing_algorithm != ED25519:
            return ()
        if not self.signing_private_key:
            raise ImproperlyConfigured(
                f"subscription {self.uuid} signs with Ed25519 but has no private key: "
                "rotate its secret to give it a key pair"
            )
        expires = self.previous_hmac_secret_expires
        if self.previous_signing_private_key and expires is not None and expires.timestamp() > at:
            return (self.signing_private_key, self.previous_signing_private_key)
        return (self.signing_private_key,)

    def rotate_secret(self, grace: timedelta | None = None) -> str:
        """Replace ``hmac_secret`` with a new random secret; return it.

        For the ``grace`` period (:setting:`THORN_SECRET_ROTATION_GRACE` by
        default), deliveries are signed with both secrets (``webhook-signature``
        carries both signatures; ``Hook-HMAC`` uses the new one), so that
        receivers can switch to the new secret at their own pace.  After it,
        the old secret signs nothing.  Rotating again within the grace period
        ends the grace of the secret before.

        The row is changed by one ``UPDATE`` whose previous secret is the
        stored one, so that two rotations at the same time keep the secret
        each of them replaced.

        .. versionadded:: 2.0

        Arguments:
            grace: How long the old secret keeps signing; ``timedelta(0)``
                drops it at once.

        Raises:
            ImproperlyConfigured: for an ``ed25519`` subscription, if
                ``cryptography`` is not installed (nothing is changed).
        """
        if self.pk is None:
            raise ValueError("save the subscriber before rotating its secret")
        if grace is None:
            grace = current_app().settings.THORN_SECRET_ROTATION_GRACE
        secret = random_secret64()
        now = timezone.now()
        keep = grace > timedelta(0)
        keys: dict[str, Any] = {}
        if self.signing_algorithm == ED25519:
            private = ed25519.generate_secret_key()
            keys = {
                "signing_private_key": private,
                "signing_public_key": ed25519.public_key_of(private),
                "previous_signing_private_key": (
                    models.F("signing_private_key") if keep else models.Value("")
                ),
            }
        type(self)._default_manager.filter(pk=self.pk).update(
            hmac_secret=secret,
            previous_hmac_secret=models.F("hmac_secret") if keep else models.Value(""),
            previous_hmac_secret_expires=now + grace if keep else None,
            updated_at=now,
            **keys,
        )
        self.refresh_from_db(
            fields=[
                "hmac_secret",
                "previous_hmac_secret",
                "previous_hmac_secret_expires",
                "updated_at",
                *keys,
            ]
        )
        subscriptions_changed(type(self), self._state.db)
        return secret

    def clean_fields(self, exclude: Any = None) -> None:
        """Validate the fields; ``hmac_digest`` is accepted in any case."""
        if self.hmac_digest:
            self.hmac_digest = self.hmac_digest.lower()
        super().clean_fields(exclude)

    def clean(self) -> None:
        """Refuse events not in ``THORN_EVENT_CHOICES`` (when set), and a URL that does not fit.

        A ``post`` subscription needs a URL; a ``stream`` one has none.
        """
        choices = [value for value, _label in event_choices(current_app().settings)]
        if choices and self.event not in choices:
            raise ValidationError(
                {"event": _("%(value)r is not one of THORN_EVENT_CHOICES.") % {"value": self.event}}
            )
        if self.streams_only and self.url:
            raise ValidationError({"url": _("A stream-only subscription has no URL.")})
        if not self.streams_only and not self.url:
            raise ValidationError({"url": _("This field is required.")})
        # A key pair is made on save: refused where it cannot be (one
        # already made is kept, and needs no package to be edited).
        if (
            self.signing_algorithm == ED25519
            and not self.signing_private_key
            and not ed25519.available()
        ):
            raise ValidationError(
                {
                    "signing_algorithm": _(
                        "Ed25519 signatures need the cryptography package: %(hint)s."
                    )
                    % {"hint": ed25519.INSTALL_HINT}
                }
            )


AbstractSubscriber.register(Subscriber)
