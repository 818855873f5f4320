"""Every login, failed login and logout (admin, guard page, any other) goes to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import services
from .models import AuditEvent


@receiver(user_logged_in, dispatch_uid="security-audit-login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    services.record_event(AuditEvent.Kind.LOGIN, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="security-audit-login-failed")
def audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # `credentials` has the password already cleansed by Django; only the login is kept.
    services.record_event(AuditEvent.Kind.LOGIN_FAILED, request=request, username=str(credentials.get("username", "")))


@receiver(user_logged_out, dispatch_uid="security-audit-logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        services.record_event(AuditEvent.Kind.LOGOUT, request=request, user=user)
