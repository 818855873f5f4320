from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import AuditEvent


class LoginLockMixin(forms.Form):
    """A login form whose (login, address) pair is refused for a while after too many failures, whatever the
    password then is (it is not even checked, so a guess cannot be confirmed during the lock).

    The count is keyed on the login exactly as authentication will read it (services.login_name), so no other
    spelling of the same name (full-width, mathematical letters, ligatures, another case) escapes it."""

    lock_message = _("Too many failed logins for this account from your address: try again in %(minutes)d minutes.")
    request: Any

    def lock_policy(self) -> services.LoginLockPolicy:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        policy = self.lock_policy()
        username = self.fields["username"].to_python(self.data.get("username") or "")
        if services.login_locked(policy, self.request, username):
            services.record_event(AuditEvent.Kind.LOGIN_LOCKED, request=self.request, username=username)
            raise ValidationError(self.lock_message % {"minutes": max(1, policy.lock_seconds // 60)}, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            services.count_login_failure(policy, self.request, username)
            raise
        services.clear_login_failures(policy, self.request, username)
        return cleaned


class ThrottledAdminLoginForm(LoginLockMixin, AdminAuthenticationForm):
    """The admin login: ADMIN_LOGIN_MAX_FAILURES failures for one login from one address lock that pair for
    ADMIN_LOGIN_LOCK_SECONDS."""

    def lock_policy(self) -> services.LoginLockPolicy:
        return services.LoginLockPolicy("admin", settings.ADMIN_LOGIN_MAX_FAILURES, settings.ADMIN_LOGIN_LOCK_SECONDS)
