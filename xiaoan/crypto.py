"""Column encryption at rest for citizens' personal data, and keyed hashes for lookups.

The key ring comes from `XIAOAN_DATA_KEY`: one or more comma-separated entries, each
``key-id:secret`` (or just ``secret``, whose id is then derived from it). The first entry encrypts
and hashes; the others only decrypt (old keys while a rotation runs, docs/security/crash.md).
Without the variable a key is generated once into `var/data_key` (development, like the other
secrets); production refuses to start without it (`xiaoan.production_checks`).

Each value is AES-256-GCM encrypted with a random 96-bit nonce; the column name is bound as
associated data, so a value copied into another column does not decrypt. Stored text::

    enc1:<key-id>:<base64url(nonce || ciphertext || tag)>

Both keys are derived from the secret with HKDF-SHA256 (one for encryption, one for the
HMAC-SHA256 lookup hashes), so a secret is never used directly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1"
ENV = "XIAOAN_DATA_KEY"
MIN_SECRET_LENGTH = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class DataKeyError(RuntimeError):
    """XIAOAN_DATA_KEY is malformed, or a value was encrypted with a key that is not in the ring."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"xiaoan-data-key-v1", info=purpose).derive(
        secret.encode("utf-8"))


@dataclass(frozen=True)
class DataKey:
    """One key of the ring: its id, the AES-GCM key and the HMAC key derived from its secret."""

    key_id: str
    enc_key: bytes
    hash_key: bytes

    @classmethod
    def from_entry(cls, entry: str) -> "DataKey":
        entry = entry.strip()
        key_id, sep, secret = entry.partition(":")
        if not sep:
            secret = entry
            key_id = "k" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]
        if not _KEY_ID.match(key_id):
            raise DataKeyError(f"{ENV}: key id {key_id!r} must be 1-32 letters, digits, '_', '.', '-'")
        if len(secret) < MIN_SECRET_LENGTH:
            raise DataKeyError(f"{ENV}: key {key_id!r} is shorter than {MIN_SECRET_LENGTH} characters "
                               "(xiaoan keys generate prints a new one)")
        return cls(key_id, _derive(secret, b"encrypt"), _derive(secret, b"lookup-hash"))


class KeyRing:
    """The data keys: `primary` encrypts and hashes; every key decrypts its own values."""

    def __init__(self, entries: list[str]) -> None:
        keys = [DataKey.from_entry(e) for e in entries if e.strip()]
        if not keys:
            raise DataKeyError(f"{ENV} holds no key")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise DataKeyError(f"{ENV}: duplicate key id in {ids}")
        self.primary = keys[0]
        self.keys = {k.key_id: k for k in keys}

    @classmethod
    def parse(cls, value: str) -> "KeyRing":
        return cls(value.split(","))

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """`enc1:<id>:<b64>` of `plaintext` under the primary key, bound to `purpose` (the column)."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.primary.enc_key).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
        return f"{PREFIX}:{self.primary.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str, purpose: str) -> str:
        """The plaintext of a stored value (a value without the `enc1:` prefix is returned as is:
        rows written before encryption, until `xiaoan db upgrade` encrypted them)."""
        if not is_encrypted(stored):
            return stored
        _, key_id, payload = stored.split(":", 2)
        key = self.keys.get(key_id)
        if key is None:
            raise DataKeyError(f"value encrypted with key {key_id!r}, which is not in {ENV} "
                               f"(keys: {', '.join(self.keys)})")
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
        try:
            return AESGCM(key.enc_key).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
        except InvalidTag as exc:
            raise DataKeyError(f"value under key {key_id!r} does not decrypt (tampered or another column)") from exc

    def lookup_hash(self, value: str) -> str:
        """HMAC-SHA256 (hex) of `value` under the primary key: equal values, equal hashes."""
        return hmac.new(self.primary.hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def is_encrypted(value: Any) -> bool:
    """Whether a stored value is in the `enc1:` format."""
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def key_id_of(stored: str | None) -> str | None:
    """The key id a stored value was encrypted with (None for NULL or plaintext)."""
    return stored.split(":", 2)[1] if is_encrypted(stored) else None


def new_key_entry() -> str:
    """A fresh `key-id:secret` entry for XIAOAN_DATA_KEY (`xiaoan keys generate`)."""
    return f"k{secrets.token_hex(4)}:{secrets.token_urlsafe(48)}"


def data_key_setting() -> str:
    """`XIAOAN_DATA_KEY`, else a key generated once into `var/data_key` (development)."""
    from xiaoan import config

    value = os.environ.get(ENV)
    if value:
        return value
    return config._secret_from_env_or_var(ENV, "data_key")


@functools.lru_cache(maxsize=8)
def _ring_for(value: str) -> KeyRing:
    return KeyRing.parse(value)


def keyring() -> KeyRing:
    """The process's key ring (re-read when XIAOAN_DATA_KEY changes, e.g. in tests)."""
    return _ring_for(data_key_setting())


def phone_lookup_hash(phone: str | None) -> str | None:
    """The keyed hash stored next to an encrypted phone number (None for None)."""
    return None if phone is None else keyring().lookup_hash(phone)


class EncryptedText(TypeDecorator):
    """Text encrypted with the key ring; reads and writes plain `str` (see the module docstring).

    Args:
        purpose: The column, bound into each value ("tickets.phone").
    """

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{self.purpose} takes text, got {type(value).__name__}")
        return keyring().encrypt(value, self.purpose)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().decrypt(value, self.purpose)


class EncryptedJSON(EncryptedText):
    """A JSON document encrypted as one value (the outbox payload, which carries the phone)."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keyring().encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True), self.purpose)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        text = keyring().decrypt(value, self.purpose)
        return json.loads(text)
