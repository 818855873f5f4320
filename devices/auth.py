"""DRF authentication for devices: ``Authorization: Token <device key>``."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from security.services import client_ip

from .keys import device_for_key
from .models import Device

# Recording the last contact costs a write: once a minute per device is enough to see it is alive.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


class DevicePrincipal:
    """What ``request.user`` is for a device: authenticated, never staff, never a person."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, device: Device) -> None:
        self.device = device
        self.pk = None

    def __str__(self) -> str:
        return f"device {self.device.key_prefix}"


class DeviceKeyAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[DevicePrincipal, Device] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Authorization must be “Token <device key>”."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("The device key is not valid.")) from exc
        device = device_for_key(key)
        if device is None:
            raise exceptions.AuthenticationFailed(_("The device key is not valid."))
        if device.is_revoked:
            raise exceptions.AuthenticationFailed(_("The device key has been revoked."))
        record_contact(device, request)
        return DevicePrincipal(device), device

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def record_contact(device: Device, request: Request) -> None:
    now = timezone.now()
    # Behind a trusted reverse proxy, the device's own address (the same rule as the rest of the portal).
    address = client_ip(request._request)
    if device.last_seen_at and now - device.last_seen_at < LAST_SEEN_RESOLUTION and device.last_seen_ip == address:
        return
    Device.objects.filter(pk=device.pk).update(last_seen_at=now, last_seen_ip=address)
    device.last_seen_at, device.last_seen_ip = now, address


class IsDevice(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, Device)
