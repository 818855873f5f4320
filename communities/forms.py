"""Forms whose rules matter beyond the admin: write-only secrets, guard logins."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from afxq_portal.pii import mask_id_card
from afxq_portal.text import TextRulesFormMixin
from afxq_portal.validators import normalise_phone, validate_id_card

from .models import Community, Guard, ProvincialCredential, SiteCredential

_SET_HELP = _("Set: stored encrypted and never shown again. Leave empty to keep the current value.")
_NOT_SET_HELP = _("Not set. Stored encrypted and never shown again.")


class WriteOnlySecretsForm(forms.ModelForm):
    """Secrets can be replaced but never read: the inputs are always empty, and empty means keep."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        has_instance = self.instance.pk is not None
        for name in self.secret_fields:
            field = self.fields[name]
            # Whether a value is stored, never what it is: staff need to know a secret was entered.
            is_set = has_instance and bool(getattr(self.instance, name))
            attrs = {"autocomplete": "new-password", **({"placeholder": _("set — leave empty to keep")} if is_set else {})}
            self.fields[name] = forms.CharField(
                label=field.label, required=not has_instance and field.required, strip=False,
                widget=forms.PasswordInput(render_value=False, attrs=attrs),
                help_text=_SET_HELP if is_set else (_NOT_SET_HELP if has_instance
                                                    else _("Stored encrypted and never shown again.")),
            )
            # Never put the clear value into the form's initial data (it would reach the page).
            self.initial[name] = ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk is not None:
                cleaned[name] = getattr(type(self.instance).objects.get(pk=self.instance.pk), name)
        return cleaned


class SiteCredentialForm(WriteOnlySecretsForm):
    secret_fields = ("client_secret", "password")

    class Meta:
        model = SiteCredential
        fields = ["client_id", "client_secret", "username", "password"]


class ProvincialCredentialForm(WriteOnlySecretsForm):
    secret_fields = ("password", "auth_info")

    class Meta:
        model = ProvincialCredential
        fields = ["login", "password", "auth_info"]


class GuardForm(TextRulesFormMixin, forms.ModelForm):
    """A guard is also a login: the phone is the username; the password is set here."""

    password = forms.CharField(
        label=_("password"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Required for a new guard; leave empty to keep the current password."),
    )
    id_card = forms.CharField(label=_("ID card"), max_length=18)

    class Meta:
        model = Guard
        fields = ["community", "name", "phone", "id_card"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The ID card is not shown again in clear; empty keeps it.
            self.fields["id_card"].required = False
            self.fields["id_card"].help_text = _("Leave empty to keep: %(masked)s") % {
                "masked": mask_id_card(self.instance.id_card)}
            self.initial["id_card"] = ""

    def clean_phone(self) -> str:
        phone = normalise_phone(self.cleaned_data["phone"])
        users = get_user_model().objects.filter(username=phone)
        if self.instance.pk:
            users = users.exclude(pk=self.instance.user_id)
        if users.exists():
            raise forms.ValidationError(_("A login with this phone number already exists."))
        return phone

    def clean_id_card(self) -> str:
        value = (self.cleaned_data.get("id_card") or "").strip().upper()
        if not value and self.instance.pk:
            return self.instance.id_card
        validate_id_card(value)
        return value

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if not password and not self.instance.pk:
            raise forms.ValidationError(_("A new guard needs a password."))
        if password:
            validate_password(password)
        return password

    def save(self, commit: bool = True) -> Guard:
        guard: Guard = super().save(commit=False)
        User = get_user_model()
        if guard.user_id is None:
            guard.user = User.objects.create_user(username=guard.phone, first_name=guard.name, is_staff=False)
        user = guard.user
        user.username, user.first_name = guard.phone, guard.name
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        user.save()
        if commit:
            guard.save()
        return guard


class PropertyStaffForm(TextRulesFormMixin, forms.Form):
    """A property-staff login with its communities (communities.services.add_property_staff)."""

    line_fields = ("username", "first_name")
    username = forms.CharField(label=_("username"), max_length=150,
                               help_text=_("Letters, digits and @/./+/-/_ only."))
    first_name = forms.CharField(label=_("name"), max_length=150, required=False)
    password1 = forms.CharField(label=_("password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("password again"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    communities = forms.ModelMultipleChoiceField(label=_("communities"), queryset=Community.objects.none(),
                                                 widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, communities: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["communities"].queryset = communities

    def clean_username(self) -> str:
        username = get_user_model().normalize_username(self.cleaned_data["username"].strip())
        get_user_model().username_validator(username)
        if get_user_model()._default_manager.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("A login with this username already exists."))
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                validate_password(first, get_user_model()(username=cleaned.get("username", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
