"""Redis and the cache; Celery: the broker (Redis, or the embedded filesystem transport), queues, limits."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import BASE_DIR, RUN_ID, TESTING, TIME_ZONE, _dev_default, env

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
