"""Device API keys: issued once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from communities.models import MonitoringPoint

from .models import Device

# A key looks like "dk_<prefix>.<secret>": the prefix finds the row, the hash of the whole key proves it.
KEY_SCHEME = "dk_"
PREFIX_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if not key.startswith(KEY_SCHEME) or "." not in key:
        return None
    prefix = key[len(KEY_SCHEME):].split(".", 1)[0]
    return prefix if len(prefix) == PREFIX_BYTES * 2 else None


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{KEY_SCHEME}{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"


@transaction.atomic
def issue_device_key(*, point: MonitoringPoint, name: str = "", acting_user: AbstractBaseUser | None) -> tuple[Device, str]:
    """Register a device at ``point`` and return it with its key: the only time the key exists in clear."""
    prefix, key = new_key()
    device = Device.objects.create(point=point, name=name, key_prefix=prefix, key_hash=hash_key(key),
                                   issued_by=acting_user)
    return device, key


@transaction.atomic
def reissue_device_key(device: Device, *, acting_user: AbstractBaseUser | None) -> str:
    """Replace a device's key (the old one stops working at once) and clear a revocation."""
    prefix, key = new_key()
    Device.objects.filter(pk=device.pk).update(key_prefix=prefix, key_hash=hash_key(key), issued_by=acting_user,
                                               revoked_at=None, revoked_by=None)
    device.refresh_from_db()
    return key


@transaction.atomic
def revoke_device_key(device: Device, *, acting_user: AbstractBaseUser | None) -> None:
    Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=timezone.now(),
                                                                         revoked_by=acting_user)
    device.refresh_from_db()


def device_for_key(key: str) -> Device | None:
    """The device whose key this is (possibly revoked: the caller says so), or None."""
    prefix = split_key(key)
    if prefix is None:
        return None
    device = Device.objects.select_related("point__community").filter(key_prefix=prefix).first()
    if device is None or not hmac.compare_digest(device.key_hash, hash_key(key)):
        return None
    return device
