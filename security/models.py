"""The audit log (PIPL accountability): who logged in or failed to, and who exported personal data."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from communities.models import Community

# Apps above this one name their export kinds here (residents: the Excel exports), so that the log shows
# "初始化包" rather than the code "package" without importing them. Each returns a label or "" if not its kind.
EXPORT_KIND_LABELS: list[Callable[[str], str]] = []
# The stored detail of an export (security.services.record_export): kept in one fixed form, shown translated.
_EXPORT_DETAIL = re.compile(r"^(?P<kind>.+): (?P<rows>\d+) rows, in clear: (?P<clear>yes|no)$")


def export_kind_label(kind: str) -> str:
    return next((label for labeller in EXPORT_KIND_LABELS if (label := labeller(kind))), kind)


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

    @property
    def detail_display(self) -> str:
        match = _EXPORT_DETAIL.match(self.detail) if self.kind == self.Kind.EXPORT else None
        if match is None:
            return self.detail
        return gettext("%(kind)s: %(rows)s rows, in clear: %(clear)s") % {
            "kind": export_kind_label(match["kind"]), "rows": match["rows"],
            "clear": gettext("yes") if match["clear"] == "yes" else gettext("no")}
