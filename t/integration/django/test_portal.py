"""The webhooks portal through Django's test client: access, scope, forms, actions, markup.

Subscriptions are made through the portal and compared with the ``/hooks/``
API's answers; test events go over the wire to the loopback receiver.  The
browser tests are in ``test_portal_browser.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from thorn.django.models import DeliveryRecord, Subscriber
from thorn.django.ping import ping
from thorn.django.portal import base as portal_base
from thorn.django.portal import views as portal_views
from thorn.exceptions import ImproperlyConfigured
from thorn.validators import block_cidr_network

from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

PORTAL = "/webhooks/"


@pytest.fixture
def alice(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("alice", password="alice-password")
    return user


@pytest.fixture
def bob(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("bob")
    return user


@pytest.fixture
def web(alice: User) -> Client:
    """Alice's browser session."""
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def api(alice: User) -> APIClient:
    """Alice through the REST API."""
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def private_networks_refused(settings: Any) -> Any:
    """Refuse 10.0.0.0/8 (no DNS involved) while the loopback receiver stays allowed."""
    settings.THORN_RECIPIENT_VALIDATORS = [block_cidr_network("10.0.0.0/8")]
    return settings


def url(name: str, *args: Any) -> str:
    return reverse(f"thorn_portal:{name}", args=args)


def own(user: User, receiver: Receiver, path: str = "/hook", event: str = "article.created"):
    return Subscriber.objects.create(user=user, event=event, url=receiver.url(path))


def form_errors(response: Any) -> list[str]:
    """Every error the form shows (on fields and above them), as text."""
    return [str(error) for errors in response.context["form"].errors.values() for error in errors]


def api_errors(response: Any) -> list[str]:
    return [str(error) for errors in response.json().values() for error in errors]


def messages_of(response: Any) -> list[str]:
    """The messages a page shows: those of every action since the last page shown."""
    return [str(message) for message in response.context["messages"]]


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["list", "create"])
def test_anonymous_users_are_sent_to_the_login_page(client, name):
    """Without a login, every page redirects to settings.LOGIN_URL, with ``next``."""
    response = client.get(url(name))

    assert 302 == response.status_code
    assert f"/accounts/login/?next={url(name)}" == response["Location"]


def test_the_login_decorator_is_a_setting(settings, web):
    """THORN_PORTAL_LOGIN_REQUIRED replaces login_required: staff only, here."""
    settings.THORN_PORTAL_LOGIN_REQUIRED = (
        "django.contrib.admin.views.decorators:staff_member_required"
    )

    response = web.get(url("list"))

    assert 302 == response.status_code
    assert response["Location"].startswith("/admin/login/")


def test_a_setting_that_is_not_a_decorator_is_an_error(settings, web):
    """A value that is neither callable nor an import path fails loudly, naming the setting."""
    settings.THORN_PORTAL_LOGIN_REQUIRED = 42

    with pytest.raises(ImproperlyConfigured, match="THORN_PORTAL_LOGIN_REQUIRED"):
        web.get(url("list"))


def test_the_list_shows_only_the_users_own_subscriptions(web, alice, bob, receiver):
    """Alice sees her subscription, not Bob's."""
    own(alice, receiver, "/alice")
    own(bob, receiver, "/bob")

    response = web.get(url("list"))

    assert 200 == response.status_code
    assert receiver.url("/alice") in response.content.decode()
    assert receiver.url("/bob") not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "detail"),
        ("get", "edit"),
        ("post", "edit"),
        ("get", "delete"),
        ("post", "delete"),
        ("post", "enable"),
        ("post", "disable"),
        ("post", "rotate-secret"),
        ("post", "ping"),
        ("post", "recover"),
    ],
)
def test_another_users_subscription_is_a_404(web, bob, receiver, method, name):
    """Every page and action of Bob's subscription is a 404 for Alice, and changes nothing."""
    theirs = own(bob, receiver)
    secret = theirs.hmac_secret

    response = getattr(web, method)(url(name, theirs.uuid), {"since": timezone.now().isoformat()})

    assert 404 == response.status_code
    theirs.refresh_from_db()
    assert (True, secret) == (theirs.is_active, theirs.hmac_secret)
    assert [] == receiver.received


def test_another_users_delivery_cannot_be_redelivered(web, alice, bob, receiver):
    """A delivery of Bob's subscription, under Alice's subscription's URL, is a 404."""
    mine, theirs = own(alice, receiver, "/mine"), own(bob, receiver, "/theirs")
    web.post(url("ping", mine.uuid))
    ping(theirs)
    delivery = DeliveryRecord.objects.get(subscription=theirs.uuid)

    response = web.post(url("redeliver", mine.uuid, delivery.id))

    assert 404 == response.status_code
    assert 1 == len(receiver.for_path("/theirs"))


# -- web standards ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["enable", "disable", "rotate-secret", "ping", "recover"])
def test_actions_are_post_only(web, alice, receiver, name):
    """A GET of an action is a 405: nothing changes on a link or a prefetch."""
    subscription = own(alice, receiver)

    assert 405 == web.get(url(name, subscription.uuid)).status_code


def test_redeliver_is_post_only(web, alice, receiver):
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    delivery = DeliveryRecord.objects.get()

    assert 405 == web.get(url("redeliver", subscription.uuid, delivery.id)).status_code


@pytest.mark.parametrize(
    "name", ["edit", "delete", "enable", "disable", "rotate-secret", "ping", "recover"]
)
def test_every_form_needs_its_csrf_token(alice, receiver, name):
    """With CSRF checks enforced, a POST without the token is a 403 and changes nothing."""
    subscription = own(alice, receiver)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(url(name, subscription.uuid), {"since": timezone.now().isoformat()})

    assert 403 == response.status_code
    assert Subscriber.objects.filter(pk=subscription.pk, is_active=True).exists()
    assert [] == receiver.received


def test_creating_needs_the_csrf_token_too(alice, receiver):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(url("create"), {"event": "article.created", "url": receiver.url()})

    assert 403 == response.status_code
    assert 0 == Subscriber.objects.count()


def test_every_form_carries_a_csrf_token(web, alice, receiver):
    """Each POST form of the pages has the csrfmiddlewaretoken field."""
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    for page in (
        url("list"),
        url("create"),
        url("detail", subscription.uuid),
        url("delete", subscription.uuid),
    ):
        html = web.get(page).content.decode()
        forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
        assert forms, page
        for form in forms:
            assert 'method="post"' in form
            assert 'name="csrfmiddlewaretoken"' in form


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def test_no_page_has_an_inline_script_or_handler(web, alice, receiver):
    """A strict Content-Security-Policy works: scripts come from files, no on*= attributes."""
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    pages = [
        url("list"),
        url("create"),
        url("detail", subscription.uuid),
        url("detail", subscription.uuid) + "?secret=show",
        url("edit", subscription.uuid),
        url("delete", subscription.uuid),
    ]
    for page in pages:
        html = web.get(page).content.decode()
        assert '<script src="/static/thorn/portal/portal.js" defer></script>' in html, page
        assert [] == INLINE_SCRIPT.findall(html), page
        assert [] == EVENT_HANDLER.findall(html), page


def test_the_fields_have_labels_and_descriptions(web):
    """Each input is named by a <label for>, and described by its help text."""
    html = web.get(url("create")).content.decode()

    for name in ("event", "url", "content_type", "hmac_digest"):
        assert f'<label for="id_{name}">' in html
    assert 'aria-describedby="id_url_helptext"' in html
    assert 'id="id_url_helptext"' in html


def test_no_page_is_cached(web, alice, receiver):
    """The pages (one shows the secret) are never cached."""
    subscription = own(alice, receiver)

    response = web.get(url("detail", subscription.uuid) + "?secret=show")

    assert "no-store" in response["Cache-Control"]


# -- creating and changing: the API's validation ------------------------------------------------


def test_subscribing_through_the_portal(web, alice, receiver):
    """A valid form makes Alice's subscription and shows it."""
    response = web.post(
        url("create"),
        {
            "event": "article.*",
            "url": receiver.url("/new"),
            "content_type": "application/json",
            "hmac_digest": "sha512",
        },
    )

    subscription = Subscriber.objects.get()
    assert 302 == response.status_code
    assert url("detail", subscription.uuid) == response["Location"]
    assert (alice, "article.*", receiver.url("/new"), "sha512") == (
        subscription.user,
        subscription.event,
        subscription.url,
        subscription.hmac_digest,
    )


def test_a_filter_and_a_lease_through_the_portal(web, alice, receiver):
    """The filter and the lease are the API's; an empty lease leaves it as it is on an edit."""
    data = {
        "event": "article.created",
        "url": receiver.url("/new"),
        "filter": '{"data__state__eq": "PUBLISHED"}',
        "lease_seconds": "3600",
    }
    web.post(url("create"), data)
    subscription = Subscriber.objects.get()
    expires_at = subscription.expires_at
    assert {"data__state__eq": "PUBLISHED"} == subscription.filter
    assert timedelta(seconds=3590) < expires_at - timezone.now() <= timedelta(seconds=3600)

    web.post(
        url("edit", subscription.uuid), {**data, "url": receiver.url("/moved"), "lease_seconds": ""}
    )

    subscription.refresh_from_db()
    assert (receiver.url("/moved"), expires_at) == (subscription.url, subscription.expires_at)


def test_a_bad_filter_gets_the_apis_messages_by_key(web, api):
    """A filter the API refuses shows its messages, each with its key."""
    data = {"event": "article.created", "url": "http://127.0.0.1/", "filter": {"data__x__zz": 1}}
    rest = api.post("/hooks/", data, format="json")
    portal = web.post(url("create"), {**data, "filter": '{"data__x__zz": 1}'})

    [message] = rest.json()["filter"]["data__x__zz"]
    assert (400, 400) == (portal.status_code, rest.status_code)
    assert [f"data__x__zz: {message}"] == form_errors(portal)
    assert 0 == Subscriber.objects.count()


def test_the_event_field_offers_the_catalog(web):
    """Without THORN_EVENT_CHOICES, the events of the catalog are offered."""
    response = web.get(url("create"))

    assert ("article.created", "article.created") in [
        (value, value) for value, _ in response.context["form"].events
    ]
    assert '<option value="article.created">' in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"event": "article.created", "url": "http://10.0.0.1/hook"}, id="ssrf"),
        pytest.param({"event": "article.created", "url": "ftp://example.com/"}, id="scheme"),
        pytest.param({"event": "article..created", "url": "http://127.0.0.1/"}, id="pattern"),
        pytest.param({"event": "article.created", "url": ""}, id="blank-url"),
        pytest.param({"event": "", "url": "http://127.0.0.1/"}, id="blank-event"),
        pytest.param({"event": "a", "url": "http://127.0.0.1/", "hmac_digest": "md5"}, id="digest"),
    ],
)
def test_the_form_refuses_what_the_api_refuses_in_the_same_words(
    web, api, private_networks_refused, data
):
    """Each invalid subscription is a 400 in the portal with exactly the API's messages."""
    portal = web.post(url("create"), data)
    rest = api.post("/hooks/", data, format="json")

    assert (400, 400) == (portal.status_code, rest.status_code)
    assert sorted(api_errors(rest)) == sorted(form_errors(portal))
    assert 0 == Subscriber.objects.count()


def test_the_ssrf_refusal_is_shown_on_the_url_field(web, private_networks_refused):
    response = web.post(url("create"), {"event": "article.created", "url": "http://10.0.0.1/h"})

    [error] = response.context["form"].errors["url"]
    assert error.startswith("This URL is refused:")
    assert "10.0.0.1" in error
    assert 'role="alert"' in response.content.decode()


def test_a_duplicate_is_refused_with_the_apis_message(web, api, alice, receiver):
    """Subscribing the same URL to the same event twice: the API's duplicate message."""
    subscription = own(alice, receiver)
    data = {"event": subscription.event, "url": subscription.url}

    portal = web.post(url("create"), data)
    rest = api.post("/hooks/", data, format="json")

    [message] = form_errors(portal)
    assert api_errors(rest) == [message]
    assert str(subscription.uuid) in message
    assert 1 == Subscriber.objects.count()


def test_the_per_user_limit_is_the_apis(settings, web, api, alice, receiver):
    """At THORN_MAX_SUBSCRIPTIONS_PER_USER the form refuses with the API's message."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    own(alice, receiver, "/first")
    data = {"event": "article.created", "url": receiver.url("/second")}

    portal = web.post(url("create"), data)
    rest = api.post("/hooks/", data, format="json")

    assert [
        "You have reached the limit of 1 subscriptions (THORN_MAX_SUBSCRIPTIONS_PER_USER)."
    ] == (form_errors(portal))
    assert api_errors(rest) == form_errors(portal)
    assert 1 == Subscriber.objects.count()


def test_editing_a_subscription(web, alice, receiver):
    subscription = own(alice, receiver)

    form = web.get(url("edit", subscription.uuid)).context["form"]
    response = web.post(
        url("edit", subscription.uuid),
        {**form.initial, "event": "article.changed", "url": receiver.url("/moved")},
    )

    assert 302 == response.status_code
    subscription.refresh_from_db()
    assert ("article.changed", receiver.url("/moved")) == (subscription.event, subscription.url)


def test_editing_into_a_duplicate_is_refused(web, alice, receiver):
    first, second = own(alice, receiver, "/one"), own(alice, receiver, "/two")

    response = web.post(url("edit", second.uuid), {"event": first.event, "url": first.url})

    assert 400 == response.status_code
    [message] = form_errors(response)
    assert str(first.uuid) in message
    second.refresh_from_db()
    assert receiver.url("/two") == second.url


def test_the_event_field_offers_the_event_choices(settings, web):
    settings.THORN_EVENT_CHOICES = ("article.created", "article.removed")

    html = web.get(url("create")).content.decode()

    assert 'list="thorn-portal-events"' in html
    assert '<option value="article.removed">' in html


# -- actions ------------------------------------------------------------------------------------


def test_delete_asks_then_deletes(web, alice, receiver):
    subscription = own(alice, receiver)

    assert 200 == web.get(url("delete", subscription.uuid)).status_code
    response = web.post(url("delete", subscription.uuid))

    assert (302, url("list")) == (response.status_code, response["Location"])
    assert 0 == Subscriber.objects.count()


def test_disable_then_enable(web, alice, receiver):
    """Disabled by hand, then active again, with the health fields cleared."""
    subscription = own(alice, receiver)

    web.post(url("disable", subscription.uuid))
    subscription.refresh_from_db()
    assert (False, "disabled by hand") == (subscription.is_active, subscription.disabled_reason)
    assert "disabled by hand" in web.get(url("list")).content.decode()

    web.post(url("enable", subscription.uuid))
    subscription.refresh_from_db()
    assert (True, "", None) == (
        subscription.is_active,
        subscription.disabled_reason,
        subscription.disabled_at,
    )


def test_the_secret_is_shown_only_on_demand(web, alice, receiver):
    subscription = own(alice, receiver)

    hidden = web.get(url("detail", subscription.uuid)).content.decode()
    shown = web.get(url("detail", subscription.uuid) + "?secret=show").content.decode()

    assert escape(subscription.hmac_secret) not in hidden
    assert escape(subscription.hmac_secret) in shown
    assert 'data-copy="thorn-secret"' in shown


def test_rotating_the_secret_explains_the_grace_period(web, alice, receiver):
    subscription = own(alice, receiver)
    old = subscription.hmac_secret

    page = web.get(url("detail", subscription.uuid)).content.decode()
    response = web.post(url("rotate-secret", subscription.uuid), follow=True)

    assert "For 1\xa0day after that" in page
    subscription.refresh_from_db()
    assert old != subscription.hmac_secret
    assert old == subscription.previous_hmac_secret
    html = response.content.decode()
    assert escape(subscription.hmac_secret) in html
    assert "The previous secret also signs deliveries until" in html


def test_a_test_event_is_a_signed_recorded_ping(web, alice, receiver):
    """ "Send test event" delivers thorn.ping now, signed, and lists it with its answer."""
    subscription = own(alice, receiver)

    response = web.post(url("ping", subscription.uuid), follow=True)

    [received] = receiver.for_path("/hook")
    received.assert_signed_for(subscription)
    assert "thorn.ping" == received.json()["event"]
    delivery = DeliveryRecord.objects.get(subscription=subscription.uuid)
    assert ("thorn.ping", "succeeded", 200) == (
        delivery.event,
        delivery.state,
        delivery.last_status_code,
    )
    assert any(message.startswith("Test event delivered: 200") for message in messages_of(response))
    assert f'id="delivery-{delivery.id}"' in response.content.decode()


def test_a_failed_test_event_says_why(web, alice, receiver):
    receiver.answer("/hook", 500)
    subscription = own(alice, receiver)

    response = web.post(url("ping", subscription.uuid), follow=True)

    [message] = messages_of(response)
    assert message.startswith("Test event failed:")
    assert "500" in message


def test_the_response_excerpt_is_escaped(web, alice, receiver):
    """A receiver's HTML answer is shown as text, never rendered."""
    body = b"<script>alert('owned')</script><img src=x onerror=alert(1)>"
    receiver.answer("/hook", Answer(status=500, body=body, headers={"Content-Type": "text/html"}))
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))

    html = web.get(url("detail", subscription.uuid)).content.decode()

    assert (
        "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        in html
    )
    assert "<script>alert" not in html
    assert "<img src=x" not in html


def test_redeliver_sends_the_same_delivery_again(web, alice, receiver):
    receiver.answer("/hook", 503, 200)
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    delivery = DeliveryRecord.objects.get()

    response = web.post(url("redeliver", subscription.uuid, delivery.id), follow=True)

    first, second = receiver.for_path("/hook")
    assert first.header("Hook-Delivery") == second.header("Hook-Delivery") == str(delivery.id)
    delivery.refresh_from_db()
    assert ("succeeded", 2) == (delivery.state, delivery.attempts)
    assert ["Redelivered."] == messages_of(response)[-1:]


def test_recover_makes_the_failed_deliveries_due(web, alice, receiver):
    receiver.answer("/hook", 500)
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    delivery = DeliveryRecord.objects.get()
    since = (delivery.created_at - timedelta(seconds=1)).isoformat()

    response = web.post(url("recover", subscription.uuid), {"since": since}, follow=True)

    assert ["1 failed delivery will be sent again."] == messages_of(response)[-1:]
    delivery.refresh_from_db()
    assert "retrying" == delivery.state


def test_recover_needs_a_time(web, alice, receiver):
    """The API's message for a bad ``since``; nothing is recovered."""
    subscription = own(alice, receiver)

    response = web.post(url("recover", subscription.uuid), {"since": "yesterday"}, follow=True)

    [message] = messages_of(response)
    assert message.startswith("Datetime has wrong format.")


@pytest.mark.parametrize("name", ["ping", "redeliver", "recover"])
def test_nothing_is_sent_to_a_disabled_subscription(web, alice, receiver, name):
    subscription = own(alice, receiver)
    web.post(url("ping", subscription.uuid))
    delivery = DeliveryRecord.objects.get()
    web.post(url("disable", subscription.uuid))
    args = (subscription.uuid, delivery.id) if name == "redeliver" else (subscription.uuid,)

    response = web.post(url(name, *args), {"since": delivery.created_at.isoformat()}, follow=True)

    assert ["This subscription is disabled: enable it first."] == messages_of(response)[-1:]
    assert 1 == len(receiver.received)


def test_deliveries_are_paginated(web, alice, receiver):
    """20 per page, newest first; the second page has the rest."""
    subscription = own(alice, receiver)
    for _ in range(21):
        web.post(url("ping", subscription.uuid))

    first = web.get(url("detail", subscription.uuid)).context["page"]
    second = web.get(url("detail", subscription.uuid) + "?page=2").context["page"]

    assert (20, 1, 2) == (
        len(first.object_list),
        len(second.object_list),
        first.paginator.num_pages,
    )
    newest = DeliveryRecord.objects.order_by("-created_at").first()
    assert newest == first.object_list[0]


def test_a_new_subscription_starts_from_the_models_defaults(web):
    """The form proposes sha256 and JSON, as the API's defaults, not the first choices listed."""
    form = web.get(url("create")).context["form"]

    assert ("sha256", "application/json") == (
        form.initial["hmac_digest"],
        form.initial["content_type"],
    )


def test_a_model_without_health_cannot_be_enabled_or_disabled(web, alice, receiver, monkeypatch):
    """A THORN_SUBSCRIBER_MODEL without is_active: no Disable button, and disabling is a 404."""
    for module in (portal_base, portal_views):
        monkeypatch.setattr(module, "has_health", lambda model: False)
    subscription = own(alice, receiver)

    html = web.get(url("detail", subscription.uuid)).content.decode()
    response = web.post(url("disable", subscription.uuid))

    assert url("disable", subscription.uuid) not in html
    assert 404 == response.status_code
    subscription.refresh_from_db()
    assert subscription.is_active


def test_an_invalid_field_points_at_its_errors(web, private_networks_refused):
    """The refused URL's input is aria-invalid and described by its help and its errors."""
    response = web.post(url("create"), {"event": "article.created", "url": "http://10.0.0.1/h"})

    html = response.content.decode()
    [tag] = re.findall(r'<input[^>]*name="url"[^>]*>', html)
    assert 'aria-invalid="true"' in tag
    assert 'aria-describedby="id_url_helptext id_url_errors"' in tag
    assert 'id="id_url_errors"' in html
