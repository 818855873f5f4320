from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from security.forms import LoginLockMixin
from security.services import LoginLockPolicy


class GuardPhoneField(forms.CharField):
    """A guard's login is their phone number, read as the validators read one (full-width digits, spaces,
    hyphens and brackets as typed on a phone), so that authentication and the lock see one spelling."""

    def to_python(self, value: Any) -> str:
        value = unicodedata.normalize("NFKC", super().to_python(value))
        return re.sub(r"[\s()\-]", "", value)


class GuardLoginForm(LoginLockMixin, AuthenticationForm):
    """Guards log in with their phone number (their username, see communities.Guard).

    The page is on the internet (guards use their own phones): GUARD_LOGIN_MAX_FAILURES failures for one
    phone number from one address lock that pair for GUARD_LOGIN_LOCK_SECONDS."""

    lock_message = _("Too many failed attempts: try again in %(minutes)d minutes.")
    # Django's message names the username field ("用户名"); a guard's login is their phone number.
    error_messages = {**AuthenticationForm.error_messages,
                      "invalid_login": _("Please enter a correct phone number and password.")}
    username = GuardPhoneField(label=_("Phone number"), max_length=20,
                               widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel",
                                                             "autocomplete": "username"}))

    def lock_policy(self) -> LoginLockPolicy:
        return LoginLockPolicy("guard", settings.GUARD_LOGIN_MAX_FAILURES, settings.GUARD_LOGIN_LOCK_SECONDS)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason for rejection"), max_length=200, strip=True,
                             widget=forms.TextInput(attrs={"placeholder": _("Reason (required)")}))
