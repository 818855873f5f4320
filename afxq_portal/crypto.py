"""Encryption at rest for secrets and personal data, and keyed hashes for looking them up.

Values are encrypted with Fernet (AES-128-CBC + HMAC) under ``FIELD_ENCRYPTION_KEY``, which must be a Fernet
key. A column that must be searched or kept unique (an ID number) keeps an HMAC-SHA256 of the value beside it.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

from afxq_portal.field_key import fernet_key


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    # Checked again here, not only in settings: override_settings and a settings module of its own bypass that.
    return Fernet(fernet_key(key).encode())


def encrypt(value: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("encrypted value cannot be decrypted with FIELD_ENCRYPTION_KEY") from exc


def keyed_hash(value: str) -> str:
    """A stable HMAC of a normalised value, for lookups and unique constraints."""
    key = hashlib.sha256(("afxq-hmac:" + settings.FIELD_ENCRYPTION_KEY).encode()).digest()
    return hmac.new(key, value.strip().upper().encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted. Python code sees the clear value; the database never does.

    Not searchable: keep a :func:`keyed_hash` column beside it when lookups are needed.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
