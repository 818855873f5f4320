"""Tenancy for the Django admin: every list, form, lookup and foreign-key choice is limited to the
communities the user manages. Models say how they reach their community with ``COMMUNITY_PATH``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

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
        if community_path_of(db_field.related_model) is not None:
            kwargs["queryset"] = scoped_queryset(db_field.related_model, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedModelAdmin(CommunityScopedMixin, admin.ModelAdmin):
    list_per_page = 50


class ScopedTabularInline(CommunityScopedMixin, admin.TabularInline):
    extra = 0


class ScopedStackedInline(CommunityScopedMixin, admin.StackedInline):
    extra = 0


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Models that only platform administrators manage."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)
