import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: the checks an app tags SERVING_TAG (afxq_portal.checks) stop the web
# process itself, not only `manage.py check`.
from afxq_portal.checks import SERVING_TAG  # noqa: E402

_serious = [error for error in checks.run_checks(tags=[SERVING_TAG]) if error.is_serious()]
if _serious:
    raise ImproperlyConfigured(" ".join(f"{e.id}: {e.msg} {e.hint or ''}".strip() for e in _serious))
