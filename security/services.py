"""Writing the audit log and the login lock. Other apps call these (never the models directly)."""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from afxq_portal.pii import mask_text
from communities.models import Community

from .models import AuditEvent

log = logging.getLogger("afxq.audit")


def client_ip(request: HttpRequest | None) -> str | None:
    """REMOTE_ADDR, or behind a proxy listed in APPLY_ACCESS_TRUSTED_PROXIES the right-most X-Forwarded-For hop
    that is not one (the same rule as apply-access: the left part of the header is the client's to forge)."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR") or None
    proxies = [ipaddress.ip_network(c.strip(), strict=False) for c in settings.APPLY_ACCESS_TRUSTED_PROXIES
               if c.strip()]
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in [address, *reversed(hops)] if proxies else [address]:
        try:
            ip = ipaddress.ip_address(hop or "")
        except ValueError:
            return None
        if not any(ip in network for network in proxies):
            return str(ip)
    return address


def record_event(kind: str, *, request: HttpRequest | None = None, user: AbstractBaseUser | None = None,
                 username: str = "", community: Community | None = None, detail: str = "") -> AuditEvent:
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    login = mask_text(username or getattr(user, "username", "") or "")[:150]
    event = AuditEvent.objects.create(
        kind=kind, user=user, username=login, ip=client_ip(request), community=community,
        path=(request.path if request is not None else "")[:200], detail=mask_text(detail)[:300])
    log.info("audit %s user=%s ip=%s path=%s community=%s %s", kind, login, event.ip, event.path,
             community.city_id if community else "", event.detail)
    return event


def record_export(*, community: Community, user: AbstractBaseUser | None, kind: str, rows: int,
                  in_clear: bool) -> AuditEvent:
    """Every export of personal data (residents.excel.exports calls this beside its ExportLog row)."""
    return record_event(AuditEvent.Kind.EXPORT, user=user, community=community,
                        detail=f"{kind}: {rows} rows, in clear: {'yes' if in_clear else 'no'}")


# --- Retention ---------------------------------------------------------------------------------------------
PURGE_CHUNK = 5000


def purge_audit_events(*, now: datetime | None = None, chunk: int = PURGE_CHUNK) -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS; returns how many. In chunks of ``chunk`` ids, each
    its own DELETE (and, outside a transaction, its own commit), so that a large backlog never holds one long
    lock on the table that every login writes to."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    old = AuditEvent.objects.filter(at__lt=cutoff).order_by().values_list("pk", flat=True)
    total = 0
    while ids := list(old[:chunk]):
        total += AuditEvent.objects.filter(pk__in=ids).delete()[0]
    log.info("audit retention: %d event(s) older than %d days deleted", total, settings.AUDIT_RETENTION_DAYS)
    return total


# --- Login lock: failures per login and address in the shared cache (Redis in production) ----------------
def _failure_key(scope: str, request: HttpRequest | None, username: str) -> str:
    return f"login-failures:{scope}:{client_ip(request) or '-'}:{username.strip().lower()}"


def login_locked(scope: str, request: HttpRequest | None, username: str) -> bool:
    return (cache.get(_failure_key(scope, request, username)) or 0) >= settings.ADMIN_LOGIN_MAX_FAILURES


def count_login_failure(scope: str, request: HttpRequest | None, username: str) -> None:
    key = _failure_key(scope, request, username)
    # add + incr: atomic in Redis, so failures from several web processes all count.
    cache.add(key, 0, settings.ADMIN_LOGIN_LOCK_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, settings.ADMIN_LOGIN_LOCK_SECONDS)


def clear_login_failures(scope: str, request: HttpRequest | None, username: str) -> None:
    cache.delete(_failure_key(scope, request, username))
