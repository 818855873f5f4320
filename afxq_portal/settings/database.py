"""The database: DATABASE_URL, SQLite with a laptop default."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .base import BASE_DIR, RUN_ID, TESTING, _dev_default, env

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
