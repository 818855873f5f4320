"""Work on terminals, each terminal its own task (one slow or dead terminal holds no other); the sweeps start
them every minute (settings: CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from afxq_portal.celery_app import start_task

from . import events, health, reconcile
from .models import Terminal


@shared_task(name="terminals.reconcile_terminal")
def reconcile_terminal(terminal_id: int) -> str:
    return reconcile.reconcile_terminal(terminal_id)


@shared_task(name="terminals.probe_terminal")
def probe_terminal(terminal_id: int) -> str:
    return health.probe_terminal(terminal_id)


@shared_task(name="terminals.fetch_gap")
def fetch_gap(terminal_id: int) -> str:
    return events.fetch_gap(terminal_id)


@shared_task(name="terminals.sweep")
def sweep() -> int:
    """Every minute: each terminal probed; the synced ones reconciled (expiries, retries due, a daily re-read);
    the online ones searched for events their pushes missed."""
    started = 0
    for pk, sync, receive, online in Terminal.objects.values_list("pk", "sync_enabled", "events_enabled", "online"):
        started += start_task("terminals.probe_terminal", pk, what=f"terminal {pk} probe")
        if sync:
            started += start_task("terminals.reconcile_terminal", pk, what=f"terminal {pk}")
        if receive and online:
            started += start_task("terminals.fetch_gap", pk, what=f"terminal {pk} events")
    return started
