"""System checks of the device API's settings (``manage.py check``, run by every deploy)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def budget_under_gunicorn_timeout(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The request budget must leave room for the last admitted event and the commit before gunicorn kills the
    worker, or a batch's answer is lost again."""
    budget = settings.DEVICE_API_BUDGET_SECONDS
    timeout = settings.GUNICORN_TIMEOUT
    if budget > timeout / 2:
        return [Error(f"DEVICE_API_BUDGET_SECONDS is {budget:g} s: at most half of GUNICORN_TIMEOUT ({timeout:g} s) "
                      "is allowed, so that a device batch is answered before gunicorn's timeout",
                      hint="Lower DEVICE_API_BUDGET_SECONDS or leave it unset (a third of GUNICORN_TIMEOUT).",
                      id="devices.E001")]
    return []
