"""Redacting credentials from URLs (thorn.utils.redact)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorn.utils.redact import is_secret_name, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://user:pass@example.com/hook",
            "https://***@example.com/hook",
            id="userinfo",
        ),
        pytest.param(
            "https://token@example.com:8443/hook",
            "https://***@example.com:8443/hook",
            id="user-only-with-port",
        ),
        pytest.param(
            "https://example.com/hook?token=abc&page=2",
            "https://example.com/hook?token=***&page=2",
            id="token",
        ),
        pytest.param(
            "https://example.com/h?API_KEY=1&Signature=2&client_secret=3&password=4&x=5",
            "https://example.com/h?API_KEY=***&Signature=***&client_secret=***&password=***&x=5",
            id="names-in-any-case",
        ),
        pytest.param(
            "https://example.com/cb#access_token=abc&state=1",
            "https://example.com/cb#access_token=***&state=1",
            id="fragment",
        ),
        pytest.param(
            "https://example.com/hook?token=",
            "https://example.com/hook?token=",
            id="empty-value-hides-nothing",
        ),
        pytest.param(
            "https://example.com/hook?page=2&q=token",
            "https://example.com/hook?page=2&q=token",
            id="nothing-to-hide",
        ),
        pytest.param("http://[::1/", "***", id="unparsable"),
    ],
)
def test_redact_url(url, expected):
    """Userinfo and secret-looking parameters are masked; the rest is kept as it is."""
    assert expected == redact_url(url)


@pytest.mark.parametrize("name", ["token", "access_token", "apikey", "X-Sig", "auth", "PASSWD"])
def test_secret_names(name):
    """Names containing a secret word are secret."""
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["page", "id", "event", "q"])
def test_ordinary_names(name):
    assert not is_secret_name(name)


secrets = st.text(string.ascii_letters + string.digits + "-_.~", min_size=6, max_size=20)


@given(password=secrets, token=secrets)
def test_no_secret_survives(password, token):
    """Whatever the password and token, neither is left in the redacted URL or message."""
    url = f"https://alice:{password}@hooks.example/in?token={token}&page=2"
    message = f"{url}: HTTPConnectionPool(host='hooks.example'): url: /in?token={token}&page=2"
    for shown in (redact_url(url), redact_text(message, url)):
        assert password not in shown
        assert token not in shown
        assert "page=2" in shown


def test_redact_text_leaves_other_urls_alone():
    """Only the given URL's secrets are masked."""
    assert "see http://other/?token=x" == redact_text(
        "see http://other/?token=x", "https://example.com/"
    )
