"""The Celery app. Tasks only nudge: the database is the source of truth for anything that must
reach the city (see uploads/), so a lost task costs latency, never data."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

app = Celery("afxq_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="afxq_portal.ping")
def ping() -> str:
    """Round trip used by health checks and the worker fixture of the tests."""
    return "pong"
