"""Cookies, HTTPS, login locks, the audit log; the REST framework and its OpenAPI schema."""

from __future__ import annotations

from .base import PRODUCTION, env

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
# The admin login (like the guards' page, residents.forms): failures per username and address before a lock.
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_LOCK_SECONDS = env.int("ADMIN_LOGIN_LOCK_SECONDS", default=900)
# Audit events (logins, exports of personal data) are deleted this many days after they happened.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Sessions end with the browser as well as after SESSION_COOKIE_AGE: admin and guard pages are used on shared
# machines and phones. Cookies are never sent cross-site (Lax) and the CSRF token lives in the session
# cookie's companion cookie only over HTTPS in production (CSRF_COOKIE_SECURE above).
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "afxq-portal API",
    "DESCRIPTION": "apply-access (the city pushes people) and the device API (face panels, snapshot cameras).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # The views read their bodies themselves, so the request and answer schemas are written out in one place.
    "OAS_VERSION": "3.1.0",
    "PREPROCESSING_HOOKS": ["security.schema.drop_hand_read_views"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "security.schema.contract_schemas"],
}
