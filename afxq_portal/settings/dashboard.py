"""The admin's landing page (dashboard/): when a device counts as silent, how often the page refreshes."""

from __future__ import annotations

from .base import env

# A device with no contact for longer than this stands out on the dashboard (face panels post at least a
# heartbeat-like face-list poll every few minutes; cameras post on every passer-by).
DEVICE_SILENT_AFTER_SECONDS = env.int("DEVICE_SILENT_AFTER_SECONDS", default=30 * 60)
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=15)
