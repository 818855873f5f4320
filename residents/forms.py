from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from security.services import client_ip


class GuardLoginForm(AuthenticationForm):
    """Guards log in with their phone number (their username, see communities.Guard).

    The page is on the internet (guards use their own phones), so failed attempts are counted per
    phone number and source address in the shared cache, and a pair that failed too often is locked
    for a while, whatever the password then is."""

    username = forms.CharField(label=_("Phone number"), max_length=20,
                               widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel",
                                                             "autocomplete": "username"}))

    def _failure_key(self) -> str:
        # Behind the reverse proxy the same rule as everywhere: the trusted right-most forwarded hop.
        address = client_ip(self.request) or ""
        return f"guard-login-failures:{address}:{(self.data.get('username') or '').strip()}"

    def clean(self):  # noqa: ANN201
        key = self._failure_key()
        if (cache.get(key) or 0) >= settings.GUARD_LOGIN_MAX_FAILURES:
            raise ValidationError(_("Too many failed attempts: try again in %(minutes)d minutes.")
                                  % {"minutes": max(1, settings.GUARD_LOGIN_LOCK_SECONDS // 60)}, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            cache.add(key, 0, settings.GUARD_LOGIN_LOCK_SECONDS)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, settings.GUARD_LOGIN_LOCK_SECONDS)
            raise
        cache.delete(key)
        return cleaned


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason for rejection"), max_length=200, strip=True,
                             widget=forms.TextInput(attrs={"placeholder": _("Reason (required)")}))
