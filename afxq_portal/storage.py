"""Where private files live: face photos, uploaded workbooks and their result copies (ID numbers in clear).

Outside MEDIA_ROOT (which the development server publishes), with no URL: each file goes out only through a
view that checks tenancy (residents.views.photo, the admin's import result view).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import FileSystemStorage


def private_storage() -> FileSystemStorage:
    """The storage of every private FileField (a callable, so that migrations do not record the path)."""
    return FileSystemStorage(location=settings.PRIVATE_MEDIA_ROOT, base_url=None)
