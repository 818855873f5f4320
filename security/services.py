"""Writing the audit log and the login lock. Other apps call these (never the models directly)."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from afxq_portal.pii import mask_text
from communities.models import Community

from .models import AuditEvent

if TYPE_CHECKING:
    from rest_framework.request import Request

log = logging.getLogger("afxq.audit")


def parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, or None when ``value`` is not one. An IPv4-mapped IPv6 address (``::ffff:10.0.0.5``, as a
    dual-stack socket reports an IPv4 peer) is its IPv4 address, so that IPv4 networks contain it."""
    try:
        ip = ipaddress.ip_address(value or "")
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


def client_ip(request: HttpRequest | Request | None) -> str | None:
    """The caller's address: REMOTE_ADDR, or behind a proxy listed in APPLY_ACCESS_TRUSTED_PROXIES the right-most
    X-Forwarded-For hop that is not one (the left part of the header is the client's to forge). None when the
    address that decides is not an IP address."""
    if request is None:
        return None
    address = parse_ip(request.META.get("REMOTE_ADDR"))
    proxies = [ipaddress.ip_network(c.strip(), strict=False) for c in settings.APPLY_ACCESS_TRUSTED_PROXIES
               if c.strip()]
    if address is None or not proxies:
        return str(address) if address is not None else None
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in [str(address), *reversed(hops)]:
        ip = parse_ip(hop)
        if ip is None:
            return None
        if not any(ip in network for network in proxies):
            return str(ip)
    return str(address)


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


# --- Login lock: failures per login and address ------------------------------------------------------
# Counted in the shared cache (Redis in production). When the cache cannot be reached the lock still holds:
# the failures are then counted from the audit log, which every failed login writes to the database anyway.
@dataclass(frozen=True)
class LoginLockPolicy:
    scope: str
    max_failures: int
    lock_seconds: int


def login_name(username: str) -> str:
    """The login as authentication sees it (Django's UsernameField: NFKC, stripped), case-folded so that
    ``Staff`` and ``staff`` share one count: ``ｓｔａｆｆ``, ``𝐬𝐭𝐚𝐟𝐟``, ``ⓢⓣⓐⓕⓕ`` and ``staﬀ`` are all ``staff``."""
    return unicodedata.normalize("NFKC", username or "").strip().casefold()


def _failure_key(policy: LoginLockPolicy, request: HttpRequest | None, username: str) -> str:
    # Hashed: the login may be a phone number (never in clear in a cache key) or any Unicode text (not a
    # valid memcached/Redis-safe key).
    digest = hashlib.sha256(login_name(username).encode("utf-8", errors="surrogatepass")).hexdigest()[:32]
    return f"login-failures:{policy.scope}:{client_ip(request) or '-'}:{digest}"


def _failures_in_audit_log(policy: LoginLockPolicy, request: HttpRequest | None, username: str) -> int:
    since = timezone.now() - timedelta(seconds=policy.lock_seconds)
    events = AuditEvent.objects.filter(ip=client_ip(request), path=(request.path if request else "")[:200],
                                       username__iexact=mask_text(login_name(username))[:150], at__gte=since)
    last_success = events.filter(kind=AuditEvent.Kind.LOGIN).order_by("-at").values_list("at", flat=True).first()
    failures = events.filter(kind=AuditEvent.Kind.LOGIN_FAILED)
    if last_success is not None:
        failures = failures.filter(at__gt=last_success)
    return failures.count()


def login_locked(policy: LoginLockPolicy, request: HttpRequest | None, username: str) -> bool:
    try:
        failures = cache.get(_failure_key(policy, request, username)) or 0
    except Exception:
        log.warning("login lock: cache unavailable, counting failures from the audit log", exc_info=True)
        failures = _failures_in_audit_log(policy, request, username)
    return failures >= policy.max_failures


def count_login_failure(policy: LoginLockPolicy, request: HttpRequest | None, username: str) -> None:
    key = _failure_key(policy, request, username)
    try:
        # add + incr: atomic in Redis, so failures from several web processes all count.
        cache.add(key, 0, policy.lock_seconds)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, policy.lock_seconds)
    except Exception:
        # The failure is in the audit log already; login_locked reads it from there while the cache is down.
        log.warning("login lock: cache unavailable, failure kept in the audit log only", exc_info=True)


def clear_login_failures(policy: LoginLockPolicy, request: HttpRequest | None, username: str) -> None:
    try:
        cache.delete(_failure_key(policy, request, username))
    except Exception:
        log.warning("login lock: cache unavailable, failures not cleared", exc_info=True)
