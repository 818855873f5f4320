"""Talking to the city platform: tokens (interface 2) and uploads (interfaces 3-5).

One ``requests.Session`` per process, explicit connect/read timeouts and no retries inside it: retrying
is the outbox's job, which knows about backoff, leases and dead letters.

Tokens are cached per community and shared by every worker process: in Redis when ``REDIS_URL`` is set,
in the community's ``LinkState`` row otherwise. Only one process logs in at a time for a community; the
others wait for its token instead of stampeding the login.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django.utils.translation import gettext, gettext_noop

from communities.models import Community, SiteCredential

from .models import LinkState

log = logging.getLogger(__name__)

def session() -> requests.Session:
    """The process's session (a new one after a fork: a pool child must not share its parent's sockets)."""
    return _session_of_process(os.getpid())


@functools.cache
def _session_of_process(pid: int) -> requests.Session:
    made = requests.Session()
    # No hidden retries: one call is one request.
    adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_maxsize=4)
    made.mount("http://", adapter)
    made.mount("https://", adapter)
    return made


def timeouts() -> tuple[float, float]:
    return (settings.UPLOAD_CONNECT_TIMEOUT, settings.UPLOAD_READ_TIMEOUT)


class BadCredentials(Exception):
    """The city refused the community's 场所侧 credentials: a configuration error, not a transient one."""


class TransientError(Exception):
    """Worth retrying later: 5xx, `_500`, timeouts, dropped connections, a login held by another process."""


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- the shared token store ------------------------------------------------------------------------

def _expiry_margin(expires_in: float) -> float:
    """Refresh a little before the city's expiry: a tenth of the lifetime, at most a minute."""
    return min(60.0, expires_in / 10)


class CacheTokenStore:
    """Redis (through Django's cache): tokens expire with the key; the lock is an atomic add."""

    def _key(self, community_id: int) -> str:
        return f"uploads:token:{community_id}"

    def get(self, community_id: int) -> str | None:
        return cache.get(self._key(community_id))

    def put(self, community_id: int, token: str, expires_in: float) -> None:
        cache.set(self._key(community_id), token, timeout=max(1.0, expires_in - _expiry_margin(expires_in)))

    def drop(self, community_id: int, token: str) -> None:
        # Not atomic, but harmless: at worst a fresh token is dropped and one more login happens.
        if cache.get(self._key(community_id)) == token:
            cache.delete(self._key(community_id))

    def lock(self, community_id: int) -> bool:
        return cache.add(f"uploads:login-lock:{community_id}", os.getpid(), timeout=settings.UPLOAD_LOGIN_LOCK_SECONDS)

    def unlock(self, community_id: int) -> None:
        cache.delete(f"uploads:login-lock:{community_id}")


class DatabaseTokenStore:
    """The LinkState row: the token encrypted, the lock a guarded update."""

    def _state(self, community_id: int) -> LinkState:
        state, _created = LinkState.objects.get_or_create(community_id=community_id)
        return state

    def get(self, community_id: int) -> str | None:
        state = LinkState.objects.filter(community_id=community_id).first()
        if state and state.access_token and state.token_expires_at and state.token_expires_at > timezone.now():
            return state.access_token
        return None

    def put(self, community_id: int, token: str, expires_in: float) -> None:
        self._state(community_id)
        LinkState.objects.filter(community_id=community_id).update(
            access_token=token,
            token_fingerprint=fingerprint(token),
            token_expires_at=timezone.now() + timedelta(seconds=max(1.0, expires_in - _expiry_margin(expires_in))))

    def drop(self, community_id: int, token: str) -> None:
        LinkState.objects.filter(community_id=community_id, token_fingerprint=fingerprint(token)).update(
            access_token="", token_fingerprint="", token_expires_at=None)

    def lock(self, community_id: int) -> bool:
        self._state(community_id)
        now = timezone.now()
        return bool(LinkState.objects.filter(community_id=community_id).filter(
            Q(login_lock_until__isnull=True) | Q(login_lock_until__lt=now)
        ).update(login_lock_until=now + timedelta(seconds=settings.UPLOAD_LOGIN_LOCK_SECONDS)))

    def unlock(self, community_id: int) -> None:
        LinkState.objects.filter(community_id=community_id).update(login_lock_until=None)


def token_store() -> CacheTokenStore | DatabaseTokenStore:
    return CacheTokenStore() if settings.REDIS_URL else DatabaseTokenStore()


# --- interface 2: the token -----------------------------------------------------------------------

NO_CREDENTIALS = gettext_noop("no site-side credentials (场所侧授权账号) configured")
REFUSED_CREDENTIALS = gettext_noop("city refused the credentials: %(answer)s (%(meaning)s)")
# The city's OAuth answers (RFC 6749 codes), shown beside their meaning.
OAUTH_ERRORS = {"invalid_grant": gettext_noop("wrong login or password"),
                "invalid_client": gettext_noop("wrong client id or secret"),
                "unauthorized_client": gettext_noop("this client may not log in")}


def refusal_text(message: str, *, answer: str = "", description: str = "") -> str:
    """The reason a community's uploads stop, as staff read it (stored in uploads_halted_reason and
    shown as it is): in the site's language, whatever request or worker refused, with the city's code
    beside its meaning. An unknown code keeps the city's own description."""
    with translation.override(settings.LANGUAGE_CODE):
        meaning = gettext(OAUTH_ERRORS[answer]) if answer in OAUTH_ERRORS else description or answer
        return gettext(message) % {"answer": answer, "meaning": meaning}

def login(community: Community) -> tuple[str, float]:
    """POST /oauth/token with the community's 场所侧 credentials. Returns (token, expires_in)."""
    try:
        credential = community.site_credential
    except SiteCredential.DoesNotExist as exc:
        raise BadCredentials(refusal_text(NO_CREDENTIALS)) from exc
    try:
        response = session().post(
            f"{settings.CITY_PLATFORM_BASE_URL}/oauth/token",
            data={"grant_type": "password", "client_id": credential.client_id,
                  "client_secret": credential.client_secret, "username": credential.username,
                  "password": credential.password},
            timeout=timeouts())
    except requests.RequestException as exc:
        raise TransientError(f"token request failed: {type(exc).__name__}") from exc
    body = _json(response)
    if response.status_code >= 500:
        raise TransientError(f"token request: HTTP {response.status_code}")
    if isinstance(body, dict) and body.get("access_token"):
        return str(body["access_token"]), float(body.get("expires_in") or 3600)
    error = body.get("error") if isinstance(body, dict) else None
    if error in ("invalid_grant", "invalid_client", "unauthorized_client") or response.status_code in (400, 401, 403):
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise BadCredentials(refusal_text(REFUSED_CREDENTIALS, answer=error or str(response.status_code),
                                          description=description))
    raise TransientError(f"token request: HTTP {response.status_code}, unexpected answer")


def get_token(community: Community, *, wait_seconds: float = 10.0,
              on_bad_credentials: Callable[[str], None] | None = None) -> str:
    """A valid token for the community: the shared one, or a fresh login by exactly one process.
    ``on_bad_credentials`` runs while the login lock is held, so that the process waiting behind a
    refused login sees the community halted and does not try the same credentials again."""
    store = token_store()
    deadline = time.monotonic() + wait_seconds
    while True:
        token = store.get(community.pk)
        if token:
            return token
        if store.lock(community.pk):
            try:
                token = store.get(community.pk)  # someone may have finished just before we locked
                if token:
                    return token
                halted = Community.objects.filter(pk=community.pk).values_list("uploads_halted_reason", flat=True).first()
                if halted:
                    raise BadCredentials(halted)
                try:
                    token, expires_in = login(community)
                except BadCredentials as exc:
                    if on_bad_credentials:
                        on_bad_credentials(str(exc))
                    raise
                store.put(community.pk, token, expires_in)
                return token
            finally:
                store.unlock(community.pk)
        if time.monotonic() > deadline:
            raise TransientError("another process is logging in to the city and has not finished")
        time.sleep(0.05)


# --- interfaces 3-5 and the registration callback -------------------------------------------------

@dataclass
class Answer:
    http_status: int | None
    response_code: str  # "_200", "_500", "_401", or "" when there was no envelope
    error: str

    @property
    def ok(self) -> bool:
        return self.response_code == "_200"

    @property
    def unauthorized(self) -> bool:
        return self.response_code == "_401" or self.http_status == 401


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def post_upload(path: str, body: bytes, token: str) -> Answer:
    """One POST of a JSON array to /api/platform/{path}. Never raises for the answer's content;
    raises TransientError when there is no answer (timeout, dropped connection)."""
    try:
        response = session().post(
            f"{settings.CITY_PLATFORM_BASE_URL}/api/platform/{path}", data=body, timeout=timeouts(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"})
    except requests.RequestException as exc:
        raise TransientError(f"no answer: {type(exc).__name__}: {exc}"[:500]) from exc
    envelope = _json(response)
    if isinstance(envelope, dict) and "responseCode" in envelope:
        code = str(envelope.get("responseCode") or "")
        error = str(envelope.get("errorMsg") or "")
        if code != "_200" and not error:
            error = f"HTTP {response.status_code}, {code}"
        return Answer(response.status_code, code, error)
    return Answer(response.status_code, "", f"HTTP {response.status_code}: {answer_text(response)}")


def answer_text(response: requests.Response) -> str:
    """A short excerpt of an answer that is not the city's JSON (a gateway's error page, say), for staff: an HTML
    page as its text, without markup, whitespace collapsed."""
    text = response.text[:2000]
    if "html" in response.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
        text = strip_tags(text)
    return " ".join(text.split())[:200]


def post_callback(url: str, fields: dict) -> Answer:
    """The registration callback: one JSON object per request, success is any 2xx."""
    try:
        response = session().post(url, data=json.dumps(fields, ensure_ascii=False).encode(), timeout=timeouts(),
                                  headers={"Content-Type": "application/json; charset=utf-8"})
    except requests.RequestException as exc:
        raise TransientError(f"no answer: {type(exc).__name__}") from exc
    if 200 <= response.status_code < 300:
        return Answer(response.status_code, "_200", "")
    # The status only: the answer's body (from an address someone configured) is not shown in the admin.
    return Answer(response.status_code, "", f"HTTP {response.status_code}")
