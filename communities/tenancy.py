"""Who may see which community. Every query of community data goes through here.

Three roles: platform administrators (superusers) see everything; property staff see the communities
they are assigned to (Membership); guards see only the review queue of their own community.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from .models import Community, Guard

User = AbstractBaseUser | AnonymousUser


def guard_of(user: User) -> Guard | None:
    if not user.is_authenticated or not user.is_active:
        return None
    try:
        return user.guard
    except Guard.DoesNotExist:
        return None


def managed_communities(user: User) -> QuerySet[Community]:
    """Communities whose configuration and data the user may manage in the admin."""
    if not user.is_authenticated or not user.is_active:
        return Community.objects.none()
    if user.is_superuser:
        return Community.objects.all()
    if not user.is_staff:
        return Community.objects.none()
    return Community.objects.filter(memberships__user=user)


def reviewable_communities(user: User) -> QuerySet[Community]:
    """Communities whose pending residents the user may review (guards: their own; staff: theirs)."""
    guard = guard_of(user)
    if guard is not None:
        return Community.objects.filter(pk=guard.community_id)
    return managed_communities(user)


def scope(queryset: QuerySet, user: User, community_path: str) -> QuerySet:
    """Filter ``queryset`` to the user's managed communities; ``community_path`` is the lookup
    from the model to its community ("community", "building__community", ...)."""
    if user.is_active and user.is_superuser:
        return queryset
    return queryset.filter(**{f"{community_path}__in": managed_communities(user)})
