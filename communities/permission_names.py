"""Permission names in the user's language on the user and group pages.

Django stores a permission's name in English when it migrates ("Can add building"): the pick lists would
show English on a Chinese page. Shown here from the codename and the model's (translated) name instead;
a custom permission's stored name is looked up in the catalogues as it is.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db.models import ManyToManyField
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext

_ACTIONS = {"add": "Can add %(model)s", "change": "Can change %(model)s", "delete": "Can delete %(model)s",
            "view": "Can view %(model)s"}


def permission_label(permission: Permission) -> str:
    model = permission.content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is not None and action in _ACTIONS and model_name == model._meta.model_name:
        name = gettext(_ACTIONS[action]) % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)
    app = model._meta.app_config.verbose_name if model is not None else permission.content_type.app_label
    model_label = model._meta.verbose_name if model is not None else permission.content_type.model
    return f"{app} | {model_label} | {name}"


class PermissionNamesMixin:
    """For a ModelAdmin whose form picks permissions (users, groups)."""

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest,
                                 **kwargs: object) -> ModelMultipleChoiceField | None:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Permission:
            field.label_from_instance = permission_label
        return field
