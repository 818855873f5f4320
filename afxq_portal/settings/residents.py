"""The residents app: apply-access (the city pushes people to us), photo fetching, the guards' login,
retention; the Excel import and export."""

from __future__ import annotations

from afxq_portal.netlist import parse_allowed_networks

from .base import env
from .tasks import REDIS_URL

APPLY_ACCESS_MAX_BODY_BYTES = env.int("APPLY_ACCESS_MAX_BODY_BYTES", default=64 * 1024)
# Optional hardening: source networks allowed to call apply-access (comma CIDRs; empty: any) and a
# per-IP rate such as "120/min" (empty: none). Refusals still answer the contract's JSON envelope.
APPLY_ACCESS_ALLOWED_NETWORKS = env.list("APPLY_ACCESS_ALLOWED_NETWORKS", default=[])
# In production an empty allow-list is refused at start (system check residents.E001) unless this
# documented opt-out says, on purpose, that any address may call (another layer filters the callers).
APPLY_ACCESS_OPEN_TO_ALL = env.bool("APPLY_ACCESS_OPEN_TO_ALL", default=False)
APPLY_ACCESS_RATE = env("APPLY_ACCESS_RATE", default="")
# Reverse proxies in front of the web server (comma CIDRs): behind them the caller's address is taken from
# X-Forwarded-For for the allow-list, the rate limit and the stored call. Empty: REMOTE_ADDR as is.
APPLY_ACCESS_TRUSTED_PROXIES = env.list("APPLY_ACCESS_TRUSTED_PROXIES", default=[])
APPLY_ACCESS_CALL_RETENTION_DAYS = env.int("APPLY_ACCESS_CALL_RETENTION_DAYS", default=30)
# How long a process may answer from a community it read (communities.lookup): staff's changes to a
# community reach the apply-access answers of other processes within this many seconds.
COMMUNITY_LOOKUP_CACHE_SECONDS = env.float("COMMUNITY_LOOKUP_CACHE_SECONDS", default=10.0)
# Accepted calls are applied by a worker (residents.apply_calls): per transaction, at most this many
# calls of one community; a task stops after this many seconds and queues the next one.
APPLY_ACCESS_APPLY_BATCH = env.int("APPLY_ACCESS_APPLY_BATCH", default=100)
APPLY_ACCESS_APPLY_BUDGET_SECONDS = env.float("APPLY_ACCESS_APPLY_BUDGET_SECONDS", default=10.0)
# Each web process asks for that task at most once per interval (the task lingers as long, so no call
# is left behind), and one task is queued at a time through a key in the shared cache (Redis; without it
# every ask queues a task). The key's lifetime bounds how long a lost task can hold the next one back.
APPLY_ACCESS_NUDGE_INTERVAL_SECONDS = env.float("APPLY_ACCESS_NUDGE_INTERVAL_SECONDS", default=0.25)
APPLY_ACCESS_NUDGE_DEBOUNCE = bool(REDIS_URL)
APPLY_ACCESS_NUDGE_TTL_SECONDS = env.int("APPLY_ACCESS_NUDGE_TTL_SECONDS", default=30)
# An accepted call older than this is stalled (no worker applies): the admin's list of calls says so.
APPLY_ACCESS_STALLED_AFTER_SECONDS = env.int("APPLY_ACCESS_STALLED_AFTER_SECONDS", default=300)
# The safety net: beat applies whatever a lost nudge left, this often.
APPLY_ACCESS_SWEEP_SECONDS = env.float("APPLY_ACCESS_SWEEP_SECONDS", default=15.0)
# Networks the photo fetcher may reach although they are private/loopback (tests, an intranet city), each
# optionally limited to ports: "10.1.0.0/16:80|443", "[fd00::1]/128:8080"; without ports, every port
# (afxq_portal/netlist.py). A bad entry stops the process at start, naming it.
PHOTO_FETCH_ALLOWED_NETWORKS = parse_allowed_networks(
    "PHOTO_FETCH_ALLOWED_NETWORKS", env.list("PHOTO_FETCH_ALLOWED_NETWORKS", default=[]))
PHOTO_FETCH_MAX_BYTES = env.int("PHOTO_FETCH_MAX_BYTES", default=5 * 1024 * 1024)
PHOTO_FETCH_CONNECT_TIMEOUT = env.float("PHOTO_FETCH_CONNECT_TIMEOUT", default=5.0)
PHOTO_FETCH_READ_TIMEOUT = env.float("PHOTO_FETCH_READ_TIMEOUT", default=10.0)
# Wall-clock bound on one fetch attempt (every redirect hop's connect, headers and body).
PHOTO_FETCH_TOTAL_TIMEOUT = env.float("PHOTO_FETCH_TOTAL_TIMEOUT", default=30.0)
PHOTO_FETCH_MAX_PIXELS = env.int("PHOTO_FETCH_MAX_PIXELS", default=40_000_000)
PHOTO_FETCH_MAX_RETRIES = env.int("PHOTO_FETCH_MAX_RETRIES", default=5)
PHOTO_FETCH_RETRY_BASE_SECONDS = env.float("PHOTO_FETCH_RETRY_BASE_SECONDS", default=30.0)
# CA certificates for https photo URLs (a PEM file); empty: the Mozilla bundle (certifi).
PHOTO_FETCH_CA_BUNDLE = env("PHOTO_FETCH_CA_BUNDLE", default="")
# The guards' login page (/guard/login/): failures per phone number and address before a lock.
GUARD_LOGIN_MAX_FAILURES = env.int("GUARD_LOGIN_MAX_FAILURES", default=5)
GUARD_LOGIN_LOCK_SECONDS = env.int("GUARD_LOGIN_LOCK_SECONDS", default=900)
# How often the open queue page asks whether it changed (reloading itself when it did).
GUARD_QUEUE_POLL_SECONDS = env.float("GUARD_QUEUE_POLL_SECONDS", default=15.0)
# Face photos of rejected or expired people are deleted this many days after the decision (PIPL).
RESIDENT_PHOTO_RETENTION_DAYS = env.int("RESIDENT_PHOTO_RETENTION_DAYS", default=30)

# --- Excel import and export (residents/excel) ---
EXCEL_MAX_UPLOAD_BYTES = env.int("EXCEL_MAX_UPLOAD_BYTES", default=60 * 2**20)
EXCEL_MAX_UNCOMPRESSED_BYTES = env.int("EXCEL_MAX_UNCOMPRESSED_BYTES", default=400 * 2**20)
EXCEL_MAX_ZIP_MEMBERS = env.int("EXCEL_MAX_ZIP_MEMBERS", default=500)
EXCEL_MAX_ROWS = env.int("EXCEL_MAX_ROWS", default=200_000)
EXCEL_IMPORT_BATCH_SIZE = env.int("EXCEL_IMPORT_BATCH_SIZE", default=1000)
# An import of EXCEL_MAX_ROWS rows (and a zip of photos) takes minutes, not CELERY_TASK_SOFT_TIME_LIMIT.
EXCEL_IMPORT_SOFT_TIME_LIMIT = env.float("EXCEL_IMPORT_SOFT_TIME_LIMIT", default=3600.0)
# A .zip upload: the workbook plus photos named by ID number or row number.
EXCEL_MAX_ZIP_PHOTOS = env.int("EXCEL_MAX_ZIP_PHOTOS", default=20_000)
EXCEL_MAX_ZIP_UNCOMPRESSED_BYTES = env.int("EXCEL_MAX_ZIP_UNCOMPRESSED_BYTES", default=2 * 2**30)
EXCEL_MAX_ZIP_UPLOAD_BYTES = env.int("EXCEL_MAX_ZIP_UPLOAD_BYTES", default=1 * 2**30)
# Uploaded workbooks and result copies (ID numbers in clear) are deleted this long after the upload;
# the job row (who, when, counts) stays.
# A job queued this long is asked for again (residents.requeue_import_jobs): its task message may have been lost.
EXCEL_IMPORT_REQUEUE_SECONDS = env.int("EXCEL_IMPORT_REQUEUE_SECONDS", default=120)
EXCEL_IMPORT_RETENTION_DAYS = env.int("EXCEL_IMPORT_RETENTION_DAYS", default=30)
