"""System checks of the residents app.

``residents.E001``: in production, apply-access must not be left open to the whole internet by
accident. The endpoint is unauthenticated by contract (the city platform signs nothing), so the only
thing standing between an attacker and the review queue is the source-network allow-list.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from afxq_portal.checks import SERVING_TAG

E001 = "residents.E001"


@register(SERVING_TAG)
def check_apply_access_exposure(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Error unless, in production, APPLY_ACCESS_ALLOWED_NETWORKS is set or APPLY_ACCESS_OPEN_TO_ALL
    says, on purpose, that any address may call (e.g. a firewall in front does the filtering)."""
    if not getattr(settings, "PRODUCTION", False):
        return []
    if settings.APPLY_ACCESS_ALLOWED_NETWORKS or settings.APPLY_ACCESS_OPEN_TO_ALL:
        return []
    return [Error(
        "APPLY_ACCESS_ALLOWED_NETWORKS is empty: /apply-access would accept calls from any address.",
        hint="Set APPLY_ACCESS_ALLOWED_NETWORKS to the city platform's networks (comma-separated CIDRs), "
             "or set APPLY_ACCESS_OPEN_TO_ALL=1 if another layer filters the callers (see docs/deploy.md).",
        id=E001,
    )]

