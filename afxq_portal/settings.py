"""Settings for afxq-portal.

Every setting comes from the environment (django-environ) and has a working default for a laptop:
SQLite, an embedded filesystem Celery broker and the sandbox city platform. Production sets
``DJANGO_PRODUCTION=1``, which removes the defaults of every secret (see docs/deploy.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from afxq_portal.field_key import DEV_FIELD_ENCRYPTION_KEY, fernet_key
from afxq_portal.netlist import parse_allowed_networks

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
# Under pytest every run gets its own database, broker folder, queue and media folder so that
# several test runs (and the worker processes they start) never see each other's data.
# Processes started by the tests (Celery workers, the sandbox) set AFXQ_TEST_CHILD and the parent's
# AFXQ_RUN_ID so that they compute the same folders, queue and cache prefix.
TESTING = "pytest" in sys.modules or env.bool("AFXQ_TEST_CHILD", default=False)
RUN_ID = env("AFXQ_RUN_ID", default=str(os.getpid()))


def _dev_default(value: str) -> str | environ.NoValue:
    """A default that exists only outside production, so production must set the secret."""
    return environ.Env.NOTSET if PRODUCTION else value


SECRET_KEY = env("DJANGO_SECRET_KEY", default=_dev_default("dev-insecure-key-change-me-0123456789abcdef"))
# Key for the secrets stored in the database (credentials, ID numbers, phones): a Fernet key, refused at start
# otherwise, in every mode. Rotating it needs `manage.py rotate_field_key` (not yet written).
FIELD_ENCRYPTION_KEY = fernet_key(env("FIELD_ENCRYPTION_KEY", default=_dev_default(DEV_FIELD_ENCRYPTION_KEY)))
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "communities",
    "residents",
    "devices",
    "uploads",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "afxq_portal.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "afxq_portal.wsgi.application"

# --- Database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=_dev_default(f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Workers and the web server write concurrently: wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
    if TESTING:
        # A file, not :memory:, so that the Celery worker processes of integration tests share it.
        DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"afxq-test-{RUN_ID}.sqlite3")}
elif TESTING:
    DATABASES["default"]["TEST"] = {"NAME": f"test_afxq_{RUN_ID}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time: Simplified Chinese first, English available -------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
if not PRODUCTION:
    # WhiteNoise serves STATIC_ROOT and warns at every start when it is missing, as it is in development
    # and tests until someone runs collectstatic. In production a missing one stays a warning worth seeing.
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
if TESTING:
    MEDIA_ROOT = Path(tempfile.gettempdir()) / f"afxq-test-media-{RUN_ID}"
# Face photos of residents: never under MEDIA_ROOT (published by the dev server), served only by a
# view that checks tenancy (residents.views).
PRIVATE_MEDIA_ROOT = env.path("PRIVATE_MEDIA_ROOT", default=BASE_DIR / "private-media")
if TESTING:
    PRIVATE_MEDIA_ROOT = Path(tempfile.gettempdir()) / f"afxq-test-private-{RUN_ID}"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"

# --- Redis and cache ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"afxq-test-{RUN_ID}" if TESTING else "afxq",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------------
# With no broker configured, kombu's filesystem transport: no server needed, shared by every
# process on this machine that points at the same folder.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_dev_default("filesystem://"))
CELERY_BROKER_FOLDER = env.path("CELERY_BROKER_FOLDER", default=BASE_DIR / "var" / "broker")
if TESTING and CELERY_BROKER_URL == "filesystem://" and "CELERY_BROKER_FOLDER" not in os.environ:
    CELERY_BROKER_FOLDER = Path(tempfile.gettempdir()) / f"afxq-test-broker-{RUN_ID}"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, writing and claiming each message file atomically (a worker that reads
    # a half-written file dies): see afxq_portal/broker.py.
    CELERY_BROKER_TRANSPORT = "afxq_portal.broker:Transport"
    for _sub in ("queue", "processed", "control"):
        (Path(CELERY_BROKER_FOLDER) / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(Path(CELERY_BROKER_FOLDER) / "queue"),
        "data_folder_out": str(Path(CELERY_BROKER_FOLDER) / "queue"),
        "processed_folder": str(Path(CELERY_BROKER_FOLDER) / "processed"),
        "store_processed": False,
        # Fanout/pidbox exchange files; kombu's default is ./control in the current directory.
        "control_folder": str(Path(CELERY_BROKER_FOLDER) / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default=f"afxq-test-{RUN_ID}" if TESTING else "afxq")
# Photo fetches wait on hosts the city names, which may be slow or hostile: on their own queue, with their
# own workers (`-Q` this name), they can never take the workers that apply calls and send the outbox.
CELERY_PHOTO_QUEUE = env("CELERY_PHOTO_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-photos")
CELERY_TASK_ROUTES = {"residents.fetch_photo": {"queue": CELERY_PHOTO_QUEUE}}
# Every task gets a soft limit (SoftTimeLimitExceeded raised in the task) and a hard one (the pool child
# is killed), so that no task holds a worker for ever; tasks that need other bounds set their own.
CELERY_TASK_SOFT_TIME_LIMIT = env.float("CELERY_TASK_SOFT_TIME_LIMIT", default=300.0)
CELERY_TASK_TIME_LIMIT = env.float("CELERY_TASK_TIME_LIMIT", default=360.0)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT:g}) must be greater than CELERY_TASK_SOFT_TIME_LIMIT "
        f"({CELERY_TASK_SOFT_TIME_LIMIT:g}): the soft limit lets the task clean up before the hard one kills it")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep Django's LOGGING (with the PII-masking filter) in workers: Celery's own root handlers would
# print message bodies (a person's ID number and phone) in clear.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(env.path("CELERY_BEAT_SCHEDULE", default=BASE_DIR / "var" / "celerybeat-schedule"))
# Periodic tasks: each app's entries are added below, beside its own settings (its tasks module has the task).
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE["residents-expire"] = {"task": "residents.expire_residents", "schedule": 300.0}

# --- The city platform ----------------------------------------------------------------------------
CITY_PLATFORM_BASE_URL = env("CITY_PLATFORM_BASE_URL", default="http://afxq.cdnet110.com").rstrip("/")

# --- Devices (ingest API, face list) -------------------------------------------------------------
# Events dated further in the future than this are refused (device clocks drift); older than the
# age limit too. The face list holds back changes younger than the settle time (see devices/faces.py).
DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS = env.int("DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS", default=300)
DEVICE_EVENT_MAX_AGE_DAYS = env.int("DEVICE_EVENT_MAX_AGE_DAYS", default=30)
DEVICE_FACE_LIST_SETTLE_SECONDS = env.int("DEVICE_FACE_LIST_SETTLE_SECONDS", default=5)
DEVICE_API_MAX_BODY_BYTES = env.int("DEVICE_API_MAX_BODY_BYTES", default=64 * 1024 * 1024)
# What one ingest request may ask of the image pipeline, so that it always gets its answer before gunicorn's
# timeout (GUNICORN_TIMEOUT, deploy/gunicorn.conf.py): decoded pixels (read from the images' headers) and seconds
# since it arrived. The events beyond either are refused with "send it again" (devices/ingest.py, Budget).
DEVICE_API_MAX_PIXELS_PER_REQUEST = env.int("DEVICE_API_MAX_PIXELS_PER_REQUEST", default=150_000_000)
# GUNICORN_TIMEOUT is read by deploy/gunicorn.conf.py as well; a budget above half of it fails `manage.py check`.
GUNICORN_TIMEOUT = env.float("GUNICORN_TIMEOUT", default=30.0)
DEVICE_API_BUDGET_SECONDS = env.float("DEVICE_API_BUDGET_SECONDS", default=GUNICORN_TIMEOUT / 3)
# Deletions are kept this long for the face list; a device whose cursor is older must resync.
DEVICE_FACE_TOMBSTONE_DAYS = env.int("DEVICE_FACE_TOMBSTONE_DAYS", default=30)
CELERY_BEAT_SCHEDULE["devices-purge-face-tombstones"] = {"task": "devices.purge_face_tombstones", "schedule": 3600.0}
DEVICE_EVENT_RETENTION_DAYS = env.int("DEVICE_EVENT_RETENTION_DAYS", default=90)
CELERY_BEAT_SCHEDULE["devices-purge-events"] = {"task": "devices.purge_device_events", "schedule": 3600.0}

# --- REST framework -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# --- Security -------------------------------------------------------------------------------------
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

# --- Mail (link-down alerts) ----------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="afxq-portal@localhost")

# --- Logging: to stdout, ID numbers and phones masked by a filter on every handler ---------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "afxq_portal.pii.MaskPIIFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_pii"], "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's default handlers for these (an unfiltered console, mail to ADMINS) would print
        # request lines and errors that carry query strings (an admin search for an ID number) in clear.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Production: LOG_FORMAT=json prints one JSON object per line on stdout (afxq_portal.logs), still through
# the masking filter; the default is the plain format on stderr.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["formatters"]["json"] = {"()": "afxq_portal.logs.JsonFormatter"}
if LOG_FORMAT == "json":
    LOGGING["handlers"]["console"].update({"formatter": "json", "stream": "ext://sys.stdout"})

# --- Security pass (security/): audit log, admin login throttling, the OpenAPI schema -----------------
INSTALLED_APPS += ["drf_spectacular", "security"]
# NUL characters in URLs refused with 400 before any view (PostgreSQL text cannot hold them).
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
                  "security.middleware.RefuseNulCharactersMiddleware")
# The admin login (like the guards' page, residents.forms): failures per username and address before a lock.
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_LOCK_SECONDS = env.int("ADMIN_LOGIN_LOCK_SECONDS", default=900)
# Audit events (logins, exports of personal data) are deleted this many days after they happened.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
CELERY_BEAT_SCHEDULE["security-purge-audit-events"] = {"task": "security.purge_audit_events", "schedule": 3600.0}
# Sessions end with the browser as well as after SESSION_COOKIE_AGE: admin and guard pages are used on shared
# machines and phones. Cookies are never sent cross-site (Lax) and the CSRF token lives in the session
# cookie's companion cookie only over HTTPS in production (CSRF_COOKIE_SECURE above).
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
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

# --- Excel import and export (residents/excel) -------------------------------------------------
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
EXCEL_IMPORT_RETENTION_DAYS = env.int("EXCEL_IMPORT_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["residents-purge-import-files"] = {"task": "residents.purge_import_files", "schedule": 3600.0}

# --- apply-access (the city pushes people to us) and photo fetching (residents) ---------------------
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
CELERY_BEAT_SCHEDULE["residents-apply-calls"] = {
    "task": "residents.apply_calls", "schedule": env.float("APPLY_ACCESS_SWEEP_SECONDS", default=15.0)}
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
# Face photos of rejected or expired people are deleted this many days after the decision (PIPL).
RESIDENT_PHOTO_RETENTION_DAYS = env.int("RESIDENT_PHOTO_RETENTION_DAYS", default=30)

# --- Uploads to the city platform (uploads/) ------------------------------------------------------
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
# One drain task stops after this many seconds and re-queues itself behind other communities' work.
# Short, so that with a backlog every community gets a turn soon (bench_backlog: with 60 s one of five
# communities waited 65 s for its first batch; with 10 s about 25 s, and the whole drain was as fast).
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
# For EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend (alerts written to files).
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
# The sandbox city platform's accepted 场所侧 credentials (client_id:client_secret:username:password).
SANDBOX_CITY_CREDENTIALS = env.list("SANDBOX_CITY_CREDENTIALS", default=["demo-client:demo-secret:demo-site:demo-password"])
CELERY_BEAT_SCHEDULE.update({
    "uploads-sweep": {"task": "uploads.sweep_outbox", "schedule": UPLOAD_SWEEP_SECONDS},
    "uploads-check-links": {"task": "uploads.check_links", "schedule": LINK_CHECK_SECONDS},
    "uploads-purge": {"task": "uploads.purge_outbox", "schedule": 3600.0},
})
