from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class GuardLoginForm(AuthenticationForm):
    """Guards log in with their phone number (their username, see communities.Guard)."""

    username = forms.CharField(label=_("Phone number"), max_length=20,
                               widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel",
                                                             "autocomplete": "username"}))


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason for rejection"), max_length=200, strip=True,
                             widget=forms.TextInput(attrs={"placeholder": _("Reason (required)")}))
