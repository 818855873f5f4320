"""The uploads app: the city platform, batches, retries, retention, the contract's open choices, link
monitoring."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from .base import env

CITY_PLATFORM_BASE_URL = env("CITY_PLATFORM_BASE_URL", default="http://afxq.cdnet110.com").rstrip("/")
# Batches: at most 50 records (the contract) and a byte ceiling per request (pass records carry two images).
UPLOAD_BATCH_SIZE = min(50, env.int("UPLOAD_BATCH_SIZE", default=50))
UPLOAD_MAX_BODY_BYTES = env.int("UPLOAD_MAX_BODY_BYTES", default=8 * 2**20)
UPLOAD_CONNECT_TIMEOUT = env.float("UPLOAD_CONNECT_TIMEOUT", default=5.0)
UPLOAD_READ_TIMEOUT = env.float("UPLOAD_READ_TIMEOUT", default=30.0)
# A claimed row whose worker died is claimed again after this; longer than one request can take.
UPLOAD_LEASE_SECONDS = env.float("UPLOAD_LEASE_SECONDS", default=300.0)
UPLOAD_RETRY_BASE_SECONDS = env.float("UPLOAD_RETRY_BASE_SECONDS", default=10.0)
UPLOAD_RETRY_MAX_SECONDS = env.float("UPLOAD_RETRY_MAX_SECONDS", default=1800.0)
UPLOAD_MAX_ATTEMPTS = env.int("UPLOAD_MAX_ATTEMPTS", default=50)
UPLOAD_MAX_AGE_HOURS = env.float("UPLOAD_MAX_AGE_HOURS", default=72.0)
# One drain task stops after this many seconds and re-queues itself behind other communities' work: short,
# so that with a backlog every community gets a turn soon (bench/README.md, backlog recovery).
UPLOAD_DRAIN_BUDGET_SECONDS = env.float("UPLOAD_DRAIN_BUDGET_SECONDS", default=10.0)
UPLOAD_LOGIN_LOCK_SECONDS = env.float("UPLOAD_LOGIN_LOCK_SECONDS", default=30.0)
UPLOAD_SWEEP_SECONDS = env.float("UPLOAD_SWEEP_SECONDS", default=15.0)
UPLOAD_RETENTION_DAYS = env.float("UPLOAD_RETENTION_DAYS", default=30.0)
# Images of sent records (faces, plates) are deleted sooner than the rows: they have served their purpose.
UPLOAD_SENT_IMAGE_RETENTION_DAYS = env.float("UPLOAD_SENT_IMAGE_RETENTION_DAYS", default=1.0)
UPLOAD_DEAD_RETENTION_DAYS = env.float("UPLOAD_DEAD_RETENTION_DAYS", default=90.0)
# The manual does not say whether licensePlateType is a number (its example: 2) or the table's two-digit code
# ("02"): "number" or "string". The one setting for it: ingest stores the code, the transport formats it.
CITY_PLATE_TYPE_FORMAT = env("CITY_PLATE_TYPE_FORMAT", default="number")
if CITY_PLATE_TYPE_FORMAT not in ("number", "string"):
    raise ImproperlyConfigured(f"CITY_PLATE_TYPE_FORMAT must be number or string, not {CITY_PLATE_TYPE_FORMAT!r}")
if "CITY_PLATE_TYPE_AS_NUMBER" in os.environ:
    raise ImproperlyConfigured("CITY_PLATE_TYPE_AS_NUMBER is gone: set CITY_PLATE_TYPE_FORMAT=number or string")
# Link monitoring: a community with a backlog and no success for this long is down (掉线).
LINK_CHECK_SECONDS = env.float("LINK_CHECK_SECONDS", default=60.0)
LINK_DOWN_AFTER_SECONDS = env.float("LINK_DOWN_AFTER_SECONDS", default=600.0)
LINK_ALERT_WEBHOOK_URL = env("LINK_ALERT_WEBHOOK_URL", default="")
