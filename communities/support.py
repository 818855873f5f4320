"""Telling a community's technical support (技术支持人员, its SupportContacts) that something needs them: the city
link down or back, a device or terminal silent or back. E-mail to the contacts, and the chat webhook
(LINK_ALERT_WEBHOOK_URL). Callers decide *when* (once per incident, by a guarded UPDATE of their own state);
this only delivers, and never raises: an alert must not break the work that noticed the incident."""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.core.mail import send_mail

from .models import Community, SupportContact

log = logging.getLogger(__name__)


def notify_support(community: Community, subject: str, text: str, state: str, *, about: str = "link") -> None:
    """E-mail ``subject``/``text`` to the community's contacts and post them to the webhook with ``state`` (what
    happened: "down", "up", "credentials", "silent" …) and ``about`` (what it concerns: "link", "device",
    "terminal"). Failures are logged, not raised."""
    recipients = [c.email for c in SupportContact.objects.filter(community=community).exclude(email="")]
    if recipients:
        try:
            send_mail(subject, text, None, recipients)
        except Exception:
            log.exception("could not e-mail the %s alert for %s", about, community.city_id)
    if settings.LINK_ALERT_WEBHOOK_URL:
        try:
            requests.post(settings.LINK_ALERT_WEBHOOK_URL, timeout=(5, 10), json={
                "communityId": community.city_id, "community": community.name, "about": about, "state": state,
                "subject": subject, "text": text})
        except Exception:
            log.exception("could not post the %s alert webhook for %s", about, community.city_id)
