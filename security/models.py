"""The audit log (PIPL accountability): who logged in or failed to, and who exported personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community


class AuditEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", _("login")
        LOGIN_FAILED = "login_failed", _("failed login")
        LOGIN_LOCKED = "login_locked", _("login refused: locked")
        LOGOUT = "logout", _("logout")
        EXPORT = "export", _("export of personal data")
        DISCARD = "discard", _("outbox records discarded")

    # Platform administrators only (security.admin): no community path, logins are not community data.
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("event"), max_length=16, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("user"))
    # What was typed as the login (masked: a guard's login is a phone number), kept when the user is gone.
    username = models.CharField(_("login"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    path = models.CharField(_("page"), max_length=200, blank=True)
    community = models.ForeignKey(Community, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                  verbose_name=_("community"))
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.username} {timezone.localtime(self.at):%Y-%m-%d %H:%M}"
