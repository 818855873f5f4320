"""The terminals app: face terminals' health, the receiver of their events, the reconciler's pace."""

from __future__ import annotations

from .base import env

# Where terminals push their events: the portal as the terminal reaches it (on the community's network or the
# VPN); the receiver is {this}/terminals/<secret>/events.
TERMINAL_RECEIVER_BASE_URL = env("TERMINAL_RECEIVER_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# A terminal offline this long alerts the community's support contacts, once per incident.
TERMINAL_OFFLINE_ALERT_SECONDS = env.int("TERMINAL_OFFLINE_ALERT_SECONDS", default=600)
# Each call to a terminal: short, so that a dead terminal costs its own task little and holds no other.
TERMINAL_TIMEOUT_SECONDS = env.float("TERMINAL_TIMEOUT_SECONDS", default=5.0)
# How long one worker holds a terminal (it releases it when done; a dead worker's claim expires).
TERMINAL_CLAIM_SECONDS = env.int("TERMINAL_CLAIM_SECONDS", default=300)
# One reconciliation task works this long at most, then hands on to the next (well within CELERY_TASK_SOFT_TIME_LIMIT).
TERMINAL_RECONCILE_BUDGET_SECONDS = env.float("TERMINAL_RECONCILE_BUDGET_SECONDS", default=120.0)
# Retries of a person: exponential from the base, capped.
TERMINAL_RETRY_BASE_SECONDS = env.int("TERMINAL_RETRY_BASE_SECONDS", default=10)
TERMINAL_RETRY_MAX_SECONDS = env.int("TERMINAL_RETRY_MAX_SECONDS", default=3600)
# The event search looks back this far before the time up to which events are known complete (clock skew,
# events stored late by the terminal); duplicates are answered by their serialNo, so overlap is harmless.
TERMINAL_EVENT_MARGIN_SECONDS = env.int("TERMINAL_EVENT_MARGIN_SECONDS", default=120)
# What a terminal holds is read back at least this often (and when it was reset or comes back).
TERMINAL_RESYNC_SECONDS = env.int("TERMINAL_RESYNC_SECONDS", default=86400)
TERMINAL_SWEEP_SECONDS = env.float("TERMINAL_SWEEP_SECONDS", default=60.0)
