"""Tests for thorn.utils.hmac."""

from __future__ import annotations

import base64
import hashlib
import string
from datetime import datetime, timezone

import pytest
import standardwebhooks
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import Signer

from thorn.utils.hmac import (
    allowed_algorithms,
    compat_sign,
    compat_verify,
    get_digest,
    punctuation,
    random_secret,
    random_secret64,
    sign,
    signing_secret,
    standard_sign,
    standard_verify,
    verify,
)

DOCS_SECRET = "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"

# FACTS §3.2: produced by Thorn 1.5.2 (itsdangerous 0.24).
VECTORS = [
    pytest.param(
        "sha256",
        "secret",
        '{"event": "article.created"}',
        b"aSvd3zyRiyeBcJjzHhJFXvALfgpNrBq+Jl8RHP/6ln8=",
        b"8ulb__5cyeOhbKgWABx89VgVCeueOI8Yz5ZxZJ8E1Ow",
        id="1-sha256",
    ),
    pytest.param(
        "sha1",
        "key",
        "The quick brown fox jumps over the lazy dog",
        b"3nybhbi3iqa8ino29wqQcBydtNk=",
        b"9ORluTDD5Qu438VQNBhOJrz_ORE",
        id="2-sha1-quick-brown-fox",
    ),
    pytest.param(
        "sha512",
        DOCS_SECRET,
        '{"event": "article.changed", "ref": null, "sender": null, "data": {}}',
        b"ioVMK4xGnyP1uRgJlOITXH5jY73gRgVgS/3BhLZ5thTUKXuj5tFanpsS4vWQCAC6HLiau0TCwBUdNAvBbWCRWQ==",
        b"4KfJGu4D5_R5rx2M2f7Gj2Fp3tEIzQXl7r9JDTNSx4tynNML6j0HMz4OAtpdl0Sm788_d0yjdcJbNqZQ9SSm2g",
        id="3-sha512-docs-secret",
    ),
    pytest.param(
        "SHA256",
        "K3y!",
        "",
        b"KVI/P6YaNOoXKXsfq377yWDPHe4kx39cemC8TLS+cec=",
        b"wI6nQLaAZaxUoq17dlWm1N5k8bTXWDisEtmCA7mFM4Y",
        id="4-upper-case-empty-message",
    ),
    pytest.param(
        "sha384",
        "k",
        "hello world",
        b"FrXVFZAds9nk0SLzhUBvWlZvknJ5HDFsWSBtjSaphxQEg7YHozl7s50/K4CI+OZA",
        b"7XCBz1_SHhCcAoThiZVDoCPj4wqTqRFTZRh3j_T3L_9zsOLc2-32ASv_CGA9owv-",
        id="5-sha384",
    ),
    pytest.param(
        "sha224",
        "\u00e9t\u00e9",
        "caf\u00e9 \u2603",
        b"dbA0tMBBtu+Ovt7ort8OorTiK+cQTRML+UrahQ==",
        b"e1q_lfguGi44JSfQXeTgzuq5gRw0S9vHNT6nPg",
        id="6-sha224-utf8",
    ),
]


def _flip_first_byte(value: bytes) -> bytes:
    return bytes([value[0] ^ 0x01]) + value[1:]


class TestSign:
    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_matches_thorn_15_vector(self, digest, key, message, signed, compat):
        """sign() is byte-identical to Thorn 1.5 on every test vector."""
        assert signed == sign(digest, key, message)

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_bytes_arguments_match_str_arguments(self, digest, key, message, signed, compat):
        """Keys and messages given as UTF-8 bytes sign like the same str."""
        assert signed == sign(digest, key.encode(), message.encode())


class TestCompatSign:
    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_matches_thorn_15_vector(self, digest, key, message, signed, compat):
        """compat_sign() is byte-identical to Thorn 1.5 on every test vector."""
        assert compat == compat_sign(digest, key, message)

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_matches_itsdangerous_signer(self, digest, key, message, signed, compat):
        """compat_sign() equals itsdangerous.Signer(...).get_signature()."""
        signer = Signer(key, digest_method=getattr(hashlib, digest.lower()))
        assert signer.get_signature(message) == compat_sign(digest, key, message)

    def test_is_built_on_itsdangerous(self, monkeypatch):
        """compat_sign() signs with itsdangerous's Signer, as Thorn 1.5 did."""
        calls: list[tuple[bytes, bytes]] = []
        get_signature = Signer.get_signature

        def recording(self, value):
            calls.append((self.secret_key, value))
            return get_signature(self, value)

        monkeypatch.setattr(Signer, "get_signature", recording)

        signature = compat_sign("sha256", "secret", '{"event": "article.created"}')

        assert b"8ulb__5cyeOhbKgWABx89VgVCeueOI8Yz5ZxZJ8E1Ow" == signature
        assert [(b"secret", b'{"event": "article.created"}')] == calls


class TestVerify:
    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_accepts_vector_as_bytes_and_str(self, digest, key, message, signed, compat):
        """verify() accepts the signature as bytes and as str."""
        assert (
            verify(signed, digest, key, message),
            verify(signed.decode(), digest, key, message),
        ) == (True, True)

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_refuses_tampered_message(self, digest, key, message, signed, compat):
        """verify() is false when one byte of the message changes."""
        tampered = _flip_first_byte(message.encode() or b"\x00")
        assert verify(signed, digest, key, tampered) is False

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_refuses_tampered_signature(self, digest, key, message, signed, compat):
        """verify() is false when one byte of the signature changes."""
        assert verify(_flip_first_byte(signed), digest, key, message) is False

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_does_not_accept_compat_signature(self, digest, key, message, signed, compat):
        """verify() checks sign() signatures only, not compat_sign() ones."""
        assert verify(compat, digest, key, message) is False

    def test_non_ascii_signature_is_false_not_error(self):
        """A non-ASCII str signature is simply wrong, not a TypeError."""
        assert verify("\u00e9" * 44, "sha256", "secret", "message") is False


class TestCompatVerify:
    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_accepts_vector_as_bytes_and_str(self, digest, key, message, signed, compat):
        """compat_verify() accepts the compat signature as bytes and as str."""
        assert (
            compat_verify(compat, digest, key, message),
            compat_verify(compat.decode(), digest, key, message),
        ) == (True, True)

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_refuses_tampered_message(self, digest, key, message, signed, compat):
        """compat_verify() is false when one byte of the message changes."""
        tampered = _flip_first_byte(message.encode() or b"\x00")
        assert compat_verify(compat, digest, key, tampered) is False

    @pytest.mark.parametrize(("digest", "key", "message", "signed", "compat"), VECTORS)
    def test_refuses_tampered_signature(self, digest, key, message, signed, compat):
        """compat_verify() is false when one byte of the signature changes."""
        assert compat_verify(_flip_first_byte(compat), digest, key, message) is False


digests = st.sampled_from([*allowed_algorithms, *(name.upper() for name in allowed_algorithms)])
keys = st.one_of(st.binary(max_size=200), st.text(max_size=100))
messages = st.binary(max_size=500)


class TestSignatureLaws:
    @settings(max_examples=200, deadline=None)
    @given(digest=digests, key=keys, message=messages)
    def test_verify_accepts_sign(self, digest, key, message):
        """verify(sign(m)) holds for any digest, key and message."""
        assert verify(sign(digest, key, message), digest, key, message) is True

    @settings(max_examples=200, deadline=None)
    @given(digest=digests, key=keys, message=messages)
    def test_compat_verify_accepts_compat_sign(self, digest, key, message):
        """compat_verify(compat_sign(m)) holds for any digest, key and message."""
        assert compat_verify(compat_sign(digest, key, message), digest, key, message) is True

    @settings(max_examples=200, deadline=None)
    @given(
        digest=digests,
        key=keys,
        message=st.binary(min_size=1, max_size=500),
        data=st.data(),
    )
    def test_tampering_one_message_byte_breaks_verify(self, digest, key, message, data):
        """Changing any single byte of the message makes verify() false."""
        index = data.draw(st.integers(0, len(message) - 1), label="index")
        delta = data.draw(st.integers(1, 255), label="delta")
        tampered = bytearray(message)
        tampered[index] = (tampered[index] + delta) % 256
        signed = sign(digest, key, message)
        assert (
            verify(signed, digest, key, bytes(tampered)),
            compat_verify(compat_sign(digest, key, message), digest, key, bytes(tampered)),
        ) == (False, False)

    @settings(max_examples=200, deadline=None)
    @given(digest=digests, key=keys, message=messages, data=st.data())
    def test_tampering_one_signature_byte_breaks_verify(self, digest, key, message, data):
        """Changing any single byte of the signature makes verify() false."""
        signed = bytearray(sign(digest, key, message))
        index = data.draw(st.integers(0, len(signed) - 1), label="index")
        delta = data.draw(st.integers(1, 255), label="delta")
        signed[index] = (signed[index] + delta) % 256
        assert verify(bytes(signed), digest, key, message) is False


# Standard Webhooks' known-answer vector (its go/js/java/csharp library tests).
KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TIMESTAMP = 1614265330
KAT_BODY = '{"test": 2432232314}'
KAT_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
KAT_KEY = base64.b64decode(KAT_SECRET.removeprefix("whsec_"))


def library_sign(secret: str | bytes, msg_id: str, timestamp: int, body: str) -> str:
    """The signature of the ``standardwebhooks`` package (a UTC datetime: its pitfall)."""
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return standardwebhooks.Webhook(secret).sign(msg_id, when, body)


class TestStandardSign:
    def test_known_answer_vector(self):
        """standard_sign() gives the Standard Webhooks test vector's signature."""
        assert KAT_SIGNATURE == standard_sign(KAT_KEY, KAT_ID, KAT_TIMESTAMP, KAT_BODY)
        assert KAT_SIGNATURE == standard_sign(KAT_KEY, KAT_ID, KAT_TIMESTAMP, KAT_BODY.encode())

    def test_the_library_agrees_on_the_vector(self):
        """The standardwebhooks package, given the whsec_ secret, signs the vector alike."""
        assert KAT_SIGNATURE == library_sign(KAT_SECRET, KAT_ID, KAT_TIMESTAMP, KAT_BODY)

    def test_signing_secret_of_the_vector_key(self):
        """The whsec_ form of the vector's key is the vector's secret."""
        assert KAT_SECRET == signing_secret(KAT_KEY)

    @pytest.mark.parametrize(
        ("secret", "expected"),
        [
            pytest.param("secret", "whsec_c2VjcmV0", id="ascii"),
            pytest.param("été", "whsec_w6l0w6k=", id="utf8"),
            pytest.param(b"\x00\xff", "whsec_AP8=", id="bytes"),
            pytest.param(
                DOCS_SECRET,
                "whsec_" + base64.b64encode(DOCS_SECRET.encode()).decode(),
                id="thorn-1.5-secret",
            ),
        ],
    )
    def test_signing_secret(self, secret, expected):
        """signing_secret() is whsec_ + the standard base64 of the secret's UTF-8 bytes."""
        assert expected == signing_secret(secret)

    @settings(max_examples=200, deadline=None)
    @given(
        key=st.one_of(st.binary(min_size=1, max_size=64), st.text(min_size=1, max_size=64)),
        msg_id=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
        timestamp=st.integers(0, 2**33),
        body=st.text(max_size=300),
    )
    def test_the_library_agrees_on_any_delivery(self, key, msg_id, timestamp, body):
        """For any key, id, time and body, standardwebhooks (given the whsec_ form) signs alike."""
        expected = library_sign(signing_secret(key), msg_id, timestamp, body)
        assert expected == standard_sign(key, msg_id, timestamp, body)


class TestStandardVerify:
    def test_known_answer_vector(self):
        assert standard_verify(KAT_SIGNATURE, KAT_KEY, KAT_ID, KAT_TIMESTAMP, KAT_BODY)
        assert standard_verify(KAT_SIGNATURE, KAT_KEY, KAT_ID, str(KAT_TIMESTAMP), KAT_BODY)

    @pytest.mark.parametrize(
        ("change", "value"),
        [
            pytest.param("key", b"another key", id="key"),
            pytest.param("msg_id", "msg_other", id="id"),
            pytest.param("timestamp", KAT_TIMESTAMP + 1, id="timestamp"),
            pytest.param("body", '{"test": 2432232315}', id="body"),
        ],
    )
    def test_any_other_input_is_refused(self, change, value):
        """The id and the timestamp are signed with the body."""
        inputs = {"key": KAT_KEY, "msg_id": KAT_ID, "timestamp": KAT_TIMESTAMP, "body": KAT_BODY}
        inputs[change] = value
        assert standard_verify(KAT_SIGNATURE, **inputs) is False

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param(f"v1,bm90IGl0 {KAT_SIGNATURE}", id="second-of-two"),
            pytest.param(f"{KAT_SIGNATURE} v1,bm90IGl0", id="first-of-two"),
            pytest.param(f"v1a,c2lnbmF0dXJl {KAT_SIGNATURE}", id="after-v1a"),
            pytest.param(f"garbage v1,a,b , {KAT_SIGNATURE}", id="after-malformed"),
        ],
    )
    def test_one_matching_entry_is_enough(self, header):
        """Entries are space-separated; others (v1a, malformed) are skipped, not errors."""
        assert standard_verify(header, KAT_KEY, KAT_ID, KAT_TIMESTAMP, KAT_BODY)

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("", id="empty"),
            pytest.param("garbage", id="garbage"),
            pytest.param(KAT_SIGNATURE.replace("v1,", "v1a,"), id="other-version"),
            pytest.param(KAT_SIGNATURE.replace("v1,", "v2,"), id="unknown-version"),
            pytest.param(KAT_SIGNATURE.replace("v1,", "v1,,"), id="extra-comma"),
            pytest.param(KAT_SIGNATURE[:-2], id="truncated"),
            pytest.param("v1," + "é" * 44, id="non-ascii"),
        ],
    )
    def test_no_matching_entry(self, header):
        assert standard_verify(header, KAT_KEY, KAT_ID, KAT_TIMESTAMP, KAT_BODY) is False


class TestGetDigest:
    @pytest.mark.parametrize(
        "name",
        [pytest.param(name, id=name) for name in allowed_algorithms]
        + [pytest.param("SHA512", id="upper-case"), pytest.param("Sha1", id="mixed-case")],
    )
    def test_returns_hashlib_constructor(self, name):
        """get_digest() returns the hashlib constructor, in any case."""
        assert getattr(hashlib, name.lower()) == get_digest(name)

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("md5", id="md5"),
            pytest.param("sha3_256", id="sha3"),
            pytest.param("", id="empty"),
            pytest.param("sha256 ", id="trailing-space"),
        ],
    )
    def test_refuses_other_names_with_allowed_list(self, name):
        """An unsupported digest raises ValueError that lists the allowed names."""
        with pytest.raises(ValueError, match="sha1, sha224, sha256, sha384, sha512") as info:
            get_digest(name)
        assert repr(name) in str(info.value)

    @pytest.mark.parametrize(
        "signer",
        [pytest.param(sign, id="sign"), pytest.param(compat_sign, id="compat_sign")],
    )
    def test_signers_refuse_unsupported_digest(self, signer):
        """Signing with an unsupported digest raises ValueError (not AssertionError)."""
        with pytest.raises(ValueError, match="md5"):
            signer("md5", "key", "message")


class TestRandomSecret:
    def test_alphabet_is_the_92_characters_of_thorn_15(self):
        """Secrets use letters, digits and punctuation except the two quotes."""
        expected = set(string.ascii_letters + string.digits + string.punctuation) - {'"', "'"}
        assert (92, expected) == (
            len(expected),
            set(string.ascii_letters + string.digits + punctuation),
        )

    @pytest.mark.parametrize("length", [pytest.param(n, id=str(n)) for n in (0, 1, 32, 64, 500)])
    def test_length_and_alphabet(self, length):
        """random_secret(n) has n characters, all from the alphabet."""
        secret = random_secret(length)
        alphabet = set(string.ascii_letters + string.digits + punctuation)
        assert (length, True) == (len(secret), set(secret) <= alphabet)

    def test_custom_alphabet(self):
        """random_secret() draws from the given characters only."""
        assert set(random_secret(200, chars="ab")) <= {"a", "b"}

    def test_two_calls_differ(self):
        """Two secrets are different (64 characters of a 92-letter alphabet)."""
        assert random_secret64() != random_secret64()

    def test_random_secret64_has_64_characters(self):
        """random_secret64() is the 64-character subscriber default."""
        expected = 64
        assert expected == len(random_secret64())

    @pytest.mark.parametrize(
        ("length", "chars"),
        [pytest.param(-1, "ab", id="negative-length"), pytest.param(8, "", id="empty-alphabet")],
    )
    def test_invalid_arguments(self, length, chars):
        """A negative length or an empty alphabet raises ValueError."""
        with pytest.raises(ValueError):
            random_secret(length, chars)

    def test_uses_secrets_module(self, monkeypatch):
        """Characters come from secrets.choice (a CSPRNG), not random.choice."""
        import secrets

        monkeypatch.setattr(secrets, "choice", lambda chars: chars[-1])
        expected = "~~~"
        assert expected == random_secret(3)
