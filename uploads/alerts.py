"""Telling technical support (技术支持人员) when a community's link to the city goes down (掉线) and
when it comes back: e-mail to the community's SupportContacts, and a webhook for chat tools.

Once per incident: the transition up -> down (and back) is a guarded UPDATE, so however many
processes evaluate the link at once, only one of them sends.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from communities.models import Community
from communities.support import notify_support

from . import monitoring
from .models import LinkState, OutboxRecord

BACKLOG_STATUSES = (OutboxRecord.Status.PENDING, OutboxRecord.Status.IN_FLIGHT)


def notify(community: Community, subject: str, text: str, state: str) -> None:
    """E-mail and webhook (communities.support); counted on the community's link state."""
    notify_support(community, subject, text, state, about="link")
    LinkState.objects.filter(community=community).update(alerts_sent=F("alerts_sent") + 1)


def alert_credentials(community: Community, reason: str) -> None:
    LinkState.objects.get_or_create(community=community)
    notify(community, _("[afxq] %(name)s: uploads stopped, the city refused the credentials") % {"name": community.name},
           _("The city platform refused the site-side credentials (场所侧授权账号) of %(name)s (%(id)s): %(reason)s\n"
             "Uploads of this community are stopped and nothing is lost; they resume when the credentials are "
             "corrected in the admin.") % {"name": community.name, "id": community.city_id, "reason": reason},
           "credentials")


def check_link(community: Community) -> str:
    """Evaluate one community, alert on a transition (an incident: down or halted, by the one rule,
    ``monitoring.link_state``); returns the alert state after."""
    state, _created = LinkState.objects.get_or_create(community=community)
    now = timezone.now()
    down = monitoring.link_of(community, now).health.alerting
    if down and state.alert_state == LinkState.Alert.UP:
        if LinkState.objects.filter(pk=state.pk, alert_state=LinkState.Alert.UP).update(
                alert_state=LinkState.Alert.DOWN, down_since=now) and not community.uploads_halted_reason:
            # (A halt for bad credentials was alerted when it happened: that is this incident's alert.)
            reason = community.uploads_halted_reason or state.last_error or _("no answer")
            notify(community, _("[afxq] %(name)s: link to the city platform is down (掉线)") % {"name": community.name},
                   _("%(name)s (%(id)s) has records waiting and no successful upload for over %(minutes)d minutes.\n"
                     "Last error: %(error)s") % {"name": community.name, "id": community.city_id,
                                                 "minutes": settings.LINK_DOWN_AFTER_SECONDS // 60, "error": reason},
                   "down")
        return LinkState.Alert.DOWN
    if not down and state.alert_state == LinkState.Alert.DOWN:
        if LinkState.objects.filter(pk=state.pk, alert_state=LinkState.Alert.DOWN).update(
                alert_state=LinkState.Alert.UP, down_since=None):
            notify(community, _("[afxq] %(name)s: link to the city platform is back") % {"name": community.name},
                   _("%(name)s (%(id)s) is uploading again (down since %(since)s).") % {
                       "name": community.name, "id": community.city_id,
                       "since": timezone.localtime(state.down_since).strftime("%Y-%m-%d %H:%M:%S")
                       if state.down_since else "?"},
                   "up")
        return LinkState.Alert.UP
    return state.alert_state


def check_links() -> dict[str, str]:
    """Every community with outbox rows, a link state or a halt."""
    ids = set(OutboxRecord.objects.filter(status__in=BACKLOG_STATUSES).values_list("community_id", flat=True))
    ids |= set(LinkState.objects.values_list("community_id", flat=True))
    ids |= set(Community.objects.exclude(uploads_halted_reason="").values_list("pk", flat=True))
    return {c.city_id: check_link(c) for c in Community.objects.filter(pk__in=ids)}
