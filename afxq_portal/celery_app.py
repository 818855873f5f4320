"""The Celery app. Tasks only nudge: the database is the source of truth for anything that must
reach the city (see uploads/), so a lost task costs latency, never data."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")

logger = logging.getLogger(__name__)

app = Celery("afxq_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="afxq_portal.ping")
def ping() -> str:
    """Round trip used by health checks and the worker fixture of the tests."""
    return "pong"


def start_task(name: str, *args: object, what: str) -> bool:
    """The one way our code starts a task: by name (a service need not import its app's tasks module),
    best effort, never raising. Every caller has a sweep or a page that finds work whose task was lost;
    no publish retries, so that a request never waits on a dead broker. ``what`` names the work in the
    warning logged when the broker cannot be reached."""
    try:
        app.send_task(name, args=list(args), retry=False)
    except Exception:  # the broker is down
        logger.warning("could not queue %s", what, exc_info=True)
        return False
    return True
