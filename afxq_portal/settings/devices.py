"""The devices app: the ingest API, its limits, the face list, retention."""

from __future__ import annotations

from .base import env

# Events dated further in the future than this are refused (device clocks drift); older than the
# age limit too. The face list holds back changes younger than the settle time (see devices/faces.py).
DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS = env.int("DEVICE_EVENT_MAX_FUTURE_SKEW_SECONDS", default=300)
DEVICE_EVENT_MAX_AGE_DAYS = env.int("DEVICE_EVENT_MAX_AGE_DAYS", default=30)
DEVICE_FACE_LIST_SETTLE_SECONDS = env.int("DEVICE_FACE_LIST_SETTLE_SECONDS", default=5)
DEVICE_API_MAX_BODY_BYTES = env.int("DEVICE_API_MAX_BODY_BYTES", default=64 * 1024 * 1024)
# What one ingest request may ask of the image pipeline, so that it always gets its answer before gunicorn's
# timeout (GUNICORN_TIMEOUT, deploy/gunicorn.conf.py): decoded pixels (read from the images' headers) and seconds
# since it arrived. The events beyond either are refused with "send it again" (devices/ingest/answers.py, Budget).
DEVICE_API_MAX_PIXELS_PER_REQUEST = env.int("DEVICE_API_MAX_PIXELS_PER_REQUEST", default=150_000_000)
# GUNICORN_TIMEOUT is read by deploy/gunicorn.conf.py as well; a budget above half of it fails `manage.py check`.
GUNICORN_TIMEOUT = env.float("GUNICORN_TIMEOUT", default=30.0)
DEVICE_API_BUDGET_SECONDS = env.float("DEVICE_API_BUDGET_SECONDS", default=GUNICORN_TIMEOUT / 3)
# Deletions are kept this long for the face list; a device whose cursor is older must resync.
DEVICE_FACE_TOMBSTONE_DAYS = env.int("DEVICE_FACE_TOMBSTONE_DAYS", default=30)
DEVICE_EVENT_RETENTION_DAYS = env.int("DEVICE_EVENT_RETENTION_DAYS", default=90)
# Refused events (devices.RefusedEvent: field names and reasons, no submitted value) are for fixing a device's
# configuration; two weeks cover a fortnight's reporting cycle, and nothing older helps.
DEVICE_REFUSAL_RETENTION_DAYS = env.int("DEVICE_REFUSAL_RETENTION_DAYS", default=14)
# A device with no contact for longer than this is silent: it stands out on the dashboard, and the community's
# support contacts are told once (and once more when it is back). Face panels poll the face list every few
# minutes; cameras post on every passer-by. Checked every DEVICE_SILENT_CHECK_SECONDS.
DEVICE_SILENT_AFTER_SECONDS = env.int("DEVICE_SILENT_AFTER_SECONDS", default=30 * 60)
DEVICE_SILENT_CHECK_SECONDS = env.float("DEVICE_SILENT_CHECK_SECONDS", default=60.0)
