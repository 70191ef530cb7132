"""Tests for thorn.utils.ed25519: keys in the Standard Webhooks format, and ``v1a`` signatures.

The signatures are checked with ``cryptography`` directly, as an independent
verifier, and the derivation of public keys with the RFC 8032 test vector.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from thorn.exceptions import ImproperlyConfigured
from thorn.utils.ed25519 import (
    PUBLIC_KEY_PREFIX,
    SECRET_KEY_PREFIX,
    asymmetric_sign,
    asymmetric_verify,
    available,
    decode_key,
    generate_secret_key,
    public_key_of,
)
from thorn.utils.hmac import standard_sign

#: RFC 8032, section 7.1, TEST 1: a private key (seed) and its public key.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
WHSK = "whsk_" + base64.b64encode(RFC_SECRET).decode()
WHPK = "whpk_" + base64.b64encode(RFC_PUBLIC).decode()
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'


def independently_verified(public_key: str, entry: str, content: bytes) -> bool:
    """Whether ``cryptography``, given the raw public key, accepts a ``v1a,...`` entry."""
    version, _, encoded = entry.partition(",")
    assert "v1a" == version
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key[len("whpk_") :]))
    try:
        key.verify(base64.b64decode(encoded), content)
    except InvalidSignature:
        return False
    return True


class TestKeys:
    def test_the_public_key_of_the_rfc_8032_vector(self):
        """whpk_ is the base64 of the 32-byte public key RFC 8032 gives for the seed."""
        assert WHPK == public_key_of(WHSK)

    def test_generated_keys_are_32_random_bytes_in_the_standard_format(self):
        first, second = generate_secret_key(), generate_secret_key()

        assert first != second
        assert first.startswith(SECRET_KEY_PREFIX)
        assert 32 == len(decode_key(first, SECRET_KEY_PREFIX))
        assert 32 == len(decode_key(public_key_of(first), PUBLIC_KEY_PREFIX))
        assert public_key_of(first) != public_key_of(second)

    @pytest.mark.parametrize(
        ("value", "prefix", "message"),
        [
            pytest.param(WHPK, SECRET_KEY_PREFIX, "not a whsk_ key", id="public-as-private"),
            pytest.param(WHSK, PUBLIC_KEY_PREFIX, "not a whpk_ key", id="private-as-public"),
            pytest.param("whpk_!!!!", PUBLIC_KEY_PREFIX, "base64 of 32 bytes", id="not-base64"),
            pytest.param("whpk_" + "A" * 44, PUBLIC_KEY_PREFIX, "not 33", id="33-bytes"),
            pytest.param(WHPK[:-4], PUBLIC_KEY_PREFIX, "base64 of 32 bytes", id="truncated"),
            pytest.param("whpk_", PUBLIC_KEY_PREFIX, "not 0", id="empty"),
            pytest.param(None, PUBLIC_KEY_PREFIX, "not a whpk_ key", id="none"),
        ],
    )
    def test_malformed_keys_are_refused_without_repeating_them(self, value, prefix, message):
        with pytest.raises(ValueError, match=message) as caught:
            decode_key(value, prefix)
        if value and value[5:]:
            assert value[5:] not in str(caught.value)


class TestSign:
    def test_v1a_signs_the_same_content_as_v1(self):
        """v1a is the Ed25519 signature of "{id}.{timestamp}.{body}", which cryptography accepts."""
        entry = asymmetric_sign(WHSK, MSG_ID, TIMESTAMP, BODY)

        content = f"{MSG_ID}.{TIMESTAMP}.".encode() + BODY
        assert independently_verified(WHPK, entry, content)
        assert not independently_verified(WHPK, entry, content + b" ")
        # Ed25519 is deterministic: the same key and content give the same signature.
        assert entry == asymmetric_sign(WHSK, MSG_ID, str(TIMESTAMP), BODY.decode())
        assert 64 == len(base64.b64decode(entry.partition(",")[2]))

    @settings(max_examples=50, deadline=None)
    @given(
        msg_id=st.text(st.characters(codec="ascii", exclude_characters="."), min_size=1),
        timestamp=st.integers(min_value=0, max_value=2**40),
        body=st.binary(),
        tamper=st.sampled_from(["id", "timestamp", "body", "key"]),
    )
    def test_verify_of_sign_holds_and_tampering_breaks_it(self, msg_id, timestamp, body, tamper):
        entry = asymmetric_sign(WHSK, msg_id, timestamp, body)

        assert asymmetric_verify(entry, WHPK, msg_id, str(timestamp), body)
        args = {"public_key": WHPK, "msg_id": msg_id, "timestamp": timestamp, "body": body}
        if tamper == "id":
            args["msg_id"] = msg_id + "x"
        elif tamper == "timestamp":
            args["timestamp"] = timestamp + 1
        elif tamper == "body":
            args["body"] = body + b"\0"
        else:
            args["public_key"] = public_key_of(generate_secret_key())
        assert not asymmetric_verify(entry, **args)

    def test_a_public_key_as_raw_bytes(self):
        entry = asymmetric_sign(WHSK, MSG_ID, TIMESTAMP, BODY)

        assert asymmetric_verify(entry, RFC_PUBLIC, MSG_ID, TIMESTAMP, BODY)
        with pytest.raises(ValueError, match="32 bytes, not 31"):
            asymmetric_verify(entry, RFC_PUBLIC[:-1], MSG_ID, TIMESTAMP, BODY)


class TestVerify:
    @pytest.fixture
    def good(self):
        return asymmetric_sign(WHSK, MSG_ID, TIMESTAMP, BODY)

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("{good}", id="alone"),
            pytest.param("{v1} {good}", id="after-a-v1"),
            pytest.param("v1a,{other} {good}", id="after-another-keys-v1a"),
            pytest.param("garbage v1a, v1a,!!! v1a,AAAA {good}", id="after-malformed-entries"),
        ],
    )
    def test_any_matching_v1a_entry_verifies(self, good, header):
        other = asymmetric_sign(generate_secret_key(), MSG_ID, TIMESTAMP, BODY).partition(",")[2]
        v1 = standard_sign(b"k", MSG_ID, TIMESTAMP, BODY)
        signatures = header.format(good=good, other=other, v1=v1)

        assert asymmetric_verify(signatures, WHPK, MSG_ID, TIMESTAMP, BODY)

    @pytest.mark.parametrize(
        "make",
        [
            pytest.param(lambda good: "", id="empty"),
            pytest.param(lambda good: good.replace("v1a,", "v1,"), id="relabelled-as-v1"),
            pytest.param(lambda good: good.replace("v1a,", "v1b,"), id="unknown-version"),
            pytest.param(lambda good: good[:-4], id="truncated"),
            pytest.param(lambda good: good + "AAAA", id="too-long"),
            pytest.param(lambda good: "v1a," + "A" * 88, id="zero-signature"),
        ],
    )
    def test_no_matching_v1a_entry_does_not_verify(self, good, make):
        assert not asymmetric_verify(make(good), WHPK, MSG_ID, TIMESTAMP, BODY)


class TestWithoutCryptography:
    """Without the optional package, thorn imports, and using a key says what to install."""

    @pytest.mark.usefixtures("without_cryptography")
    @pytest.mark.parametrize(
        "use",
        [
            pytest.param(generate_secret_key, id="generate"),
            pytest.param(lambda: public_key_of(WHSK), id="public-key"),
            pytest.param(lambda: asymmetric_sign(WHSK, MSG_ID, TIMESTAMP, BODY), id="sign"),
            pytest.param(lambda: asymmetric_verify("v1a,x", WHPK, MSG_ID, 1, BODY), id="verify"),
        ],
    )
    def test_using_a_key_names_the_extra(self, use):
        assert not available()
        with pytest.raises(ImproperlyConfigured, match=r'pip install "thorn\[ed25519\]"'):
            use()

    def test_available_with_it(self):
        assert available()
