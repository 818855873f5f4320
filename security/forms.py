from __future__ import annotations

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import AuditEvent


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin login: after ADMIN_LOGIN_MAX_FAILURES failures for one login from one address, that pair is
    refused for ADMIN_LOGIN_LOCK_SECONDS whatever the password (the password is not even checked, so a
    guess cannot be confirmed during the lock)."""

    SCOPE = "admin"

    def clean(self):  # noqa: ANN201
        username = self.data.get("username") or ""
        if services.login_locked(self.SCOPE, self.request, username):
            services.record_event(AuditEvent.Kind.LOGIN_LOCKED, request=self.request, username=username)
            raise ValidationError(_("Too many failed logins for this account from your address: try again in "
                                    "%(minutes)d minutes.") % {"minutes": max(1, settings.ADMIN_LOGIN_LOCK_SECONDS // 60)},
                                  code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            services.count_login_failure(self.SCOPE, self.request, username)
            raise
        services.clear_login_failures(self.SCOPE, self.request, username)
        return cleaned
