import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "afxq_portal.settings")
application = get_wsgi_application()

# System checks do not run under gunicorn: refuse to serve with apply-access open to all by accident.
from residents.checks import raise_for_apply_access_exposure  # noqa: E402

raise_for_apply_access_exposure()
