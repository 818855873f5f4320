"""The admin's landing page (dashboard/): how often the page refreshes. (When a device counts as silent is the
devices app's: settings/devices.py.)"""

from __future__ import annotations

from .base import env

DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=15)
