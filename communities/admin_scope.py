"""Tenancy for the Django admin: every list, form, lookup and foreign-key choice is limited to the
communities the user manages. Models say how they reach their community with ``COMMUNITY_PATH``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from afxq_portal.text import TextRulesModelForm

from . import tenancy


def community_path_of(model: type[models.Model]) -> str | None:
    return getattr(model, "COMMUNITY_PATH", None)


def scoped_queryset(model: type[models.Model], request: HttpRequest) -> models.QuerySet:
    path = community_path_of(model)
    queryset = model._default_manager.all()
    if path is None or request.user.is_superuser:
        return queryset
    if path == "pk":
        return queryset.filter(pk__in=tenancy.managed_communities(request.user))
    return tenancy.scope(queryset, request.user, path)


def scoped_users(request: HttpRequest) -> models.QuerySet:
    """Logins a user may pick in a form: staff and guards of their own communities (never another
    community's people, whose names would otherwise show in every user drop-down)."""
    users = get_user_model()._default_manager.all()
    if request.user.is_superuser:
        return users
    communities = tenancy.managed_communities(request.user)
    return users.filter(Q(memberships__community__in=communities) | Q(guard__community__in=communities)).distinct()


def choices_for(related_model: type[models.Model], request: HttpRequest) -> models.QuerySet | None:
    """The scoped choices for a relation to ``related_model``, or None when it is not community data."""
    if community_path_of(related_model) is not None:
        return scoped_queryset(related_model, request)
    if related_model is get_user_model():
        return scoped_users(request)
    return None


def is_scoped_model(model: type[models.Model]) -> bool:
    return community_path_of(model) is not None or model is get_user_model()


def is_scoped_relation(model: type[models.Model], lookup: str) -> bool:
    """Whether a list_filter path (``community``, ``building__community``) ends on scoped data."""
    for name in lookup.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # a method or a custom lookup: not ours to rewrite
            return False
        if not field.is_relation:
            return False
        model = field.related_model
    return is_scoped_model(model)


class CommunityScopedMixin:
    """For ModelAdmin and inlines alike."""

    def _may_use_admin(self, request: HttpRequest) -> bool:
        return request.user.is_active and (request.user.is_superuser or tenancy.managed_communities(request.user).exists())

    def _owns(self, request: HttpRequest, obj: models.Model | None) -> bool:
        if obj is None or obj.pk is None:
            return True
        return scoped_queryset(type(obj), request).filter(pk=obj.pk).exists()

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset & scoped_queryset(self.model, request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_use_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_use_admin(request) and self._owns(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_use_admin(request) and self._owns(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_use_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_use_admin(request) and self._owns(request, obj)

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any):
        choices = choices_for(db_field.related_model, request)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any):
        choices = choices_for(db_field.related_model, request)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest):
        # Django's related filter lists every row of the related table (every community's name, for
        # instance); "related only" lists just the values found in this user's scoped rows.
        return [
            (entry, admin.RelatedOnlyFieldListFilter)
            if isinstance(entry, str) and is_scoped_relation(self.model, entry) else entry
            for entry in super().get_list_filter(request)
        ]


class ScopedModelAdmin(CommunityScopedMixin, admin.ModelAdmin):
    list_per_page = 50
    # The same text rule as every other door (afxq_portal.text); admins with their own form mix it in.
    form = TextRulesModelForm

    def response_action(self, request: HttpRequest, queryset: models.QuerySet):
        # A forged selection ("x" for an integer key) would be a 500 inside Django's filter(pk__in=...):
        # answer it like an empty selection instead.
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                self.model._meta.pk.to_python(value)
            except ValidationError:
                self.message_user(request, _("Items must be selected in order to perform actions on them. "
                                             "No items have been changed."), messages.WARNING)
                return None
        return super().response_action(request, queryset)


class ScopedTabularInline(CommunityScopedMixin, admin.TabularInline):
    extra = 0


class ScopedStackedInline(CommunityScopedMixin, admin.StackedInline):
    extra = 0


class SuperuserOnlyMixin:
    """Models that only platform administrators manage (whatever Django permissions a user was given)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class SuperuserOnlyAdmin(SuperuserOnlyMixin, admin.ModelAdmin):
    pass
