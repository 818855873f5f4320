"""Static files, media (outbox images) and private media (face photos, uploaded workbooks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .base import BASE_DIR, PRODUCTION, RUN_ID, TESTING, env

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
# Face photos and uploaded workbooks (afxq_portal.storage): never under MEDIA_ROOT (published by the dev
# server), served only by views that check tenancy.
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
