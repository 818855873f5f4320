"""Helpers for driving admin forms through the test client like a browser would: read the form the
page rendered, change a few fields, post it back."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse


def _add_form(data: dict[str, Any], form: forms.BaseForm) -> None:
    for name, field in form.fields.items():
        key = form.add_prefix(name)
        value = form[name].value()
        if isinstance(field.widget, forms.CheckboxInput):
            if value:
                data[key] = "on"
            continue
        if value is None or isinstance(field.widget, forms.FileInput):  # a browser re-sends no file
            continue
        if isinstance(field.widget, forms.MultiWidget):
            for index, part in enumerate(field.widget.decompress(value)):
                data[f"{key}_{index}"] = "" if part is None else part
            continue
        data[key] = list(value) if isinstance(value, (list, tuple)) else value


def admin_post_data(response: HttpResponse) -> dict[str, Any]:
    """The data a browser would post back from an admin add/change page (or a custom admin page with
    one ``form``), unchanged."""
    data: dict[str, Any] = {}
    if "adminform" not in response.context:
        _add_form(data, response.context["form"])
        return data
    _add_form(data, response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.forms:
            _add_form(data, form)
    return data


def inline_prefix(response: HttpResponse, model: type) -> str:
    """The formset prefix of the inline for ``model`` on an admin page."""
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.model is model:
            return inline.formset.prefix
    raise LookupError(f"no inline for {model.__name__}")


def all_forms(response: HttpResponse) -> list[forms.BaseForm]:
    """The main form and every inline form (including each inline's empty template form). Custom admin
    views (an upload page, say) render a plain ``form``."""
    if "adminform" not in response.context:
        return [response.context["form"]] if "form" in response.context else []
    result = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        result.extend(inline.formset.forms)
        result.append(inline.formset.empty_form)
    return result
