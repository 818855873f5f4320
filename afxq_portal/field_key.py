"""The check of FIELD_ENCRYPTION_KEY, kept free of Django imports so that settings.py can run it at start."""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

# A valid Fernet key (32 url-safe base64 bytes, "dev-field-key-change-me-01234567"), for laptops and tests only:
# production has no default (settings.py).
DEV_FIELD_ENCRYPTION_KEY = "ZGV2LWZpZWxkLWtleS1jaGFuZ2UtbWUtMDEyMzQ1Njc="
HOW_TO_MAKE_ONE = ('python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"')


def fernet_key(value: object) -> str:
    """``value`` if it is a Fernet key, else ImproperlyConfigured. No key is ever derived from another string:
    a typo or a placeholder ("a", "change-me") would otherwise encrypt personal data under a guessable key."""
    text = value if isinstance(value, str) else ""
    try:
        Fernet(text.strip().encode())
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes, 44 characters); "
            f"make one with: {HOW_TO_MAKE_ONE}") from exc
    return text.strip()
