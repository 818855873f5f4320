"""Register (or update) a face terminal at a face-panel point from a shell; idempotent by point and address."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from afxq_portal.pii import mask_text
from communities.models import MonitoringPoint
from terminals.registry import receiver_url, register_terminal
from terminals.vendors import VENDORS

# Never the password, nor its length.
MASKED = "********"


class Command(BaseCommand):
    help = "Register a face terminal at a face-panel point (or update the one with this address there)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--community", required=True, help="the community's city id (communityId)")
        parser.add_argument("--point", required=True, help="the point's policePointId (a face-panel point)")
        parser.add_argument("--vendor", required=True, help=f"one of: {', '.join(sorted(VENDORS))}")
        parser.add_argument("--url", required=True, help="the terminal's address, e.g. http://192.168.1.64")
        parser.add_argument("--username", required=True, help="the terminal's login (Digest)")
        parser.add_argument("--password", required=True, help="the terminal's password (stored encrypted)")
        parser.add_argument("--door", type=int, default=1, help="the door number on the terminal (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        point = self.point_of(options["community"], options["point"])
        vendor, url = options["vendor"], options["url"].strip().rstrip("/")
        if vendor not in VENDORS:
            raise CommandError(_("unknown vendor %(vendor)r: one of %(known)s")
                               % {"vendor": vendor, "known": ", ".join(sorted(VENDORS))})
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError as exc:
            raise CommandError(_("--url %(url)r is not an http(s) address") % {"url": url}) from exc
        if not options["username"].strip():
            raise CommandError(_("--username is empty"))
        if not options["password"]:
            raise CommandError(_("--password is empty"))
        if not 1 <= options["door"] <= 99:
            raise CommandError(_("--door must be a number from 1 to 99"))
        done = register_terminal(point=point, vendor=vendor, base_url=url, username=options["username"].strip(),
                                 password=options["password"], door=options["door"])
        terminal = done.terminal
        if done.created:
            what = _("created terminal #%(id)d") % {"id": terminal.pk}
        elif done.changed:
            what = _("updated terminal #%(id)d: %(fields)s") % {"id": terminal.pk, "fields": ", ".join(done.changed)}
        else:
            what = _("terminal #%(id)d unchanged") % {"id": terminal.pk}
        self.stdout.write(
            f"{what}\n  {point} — {point.community}\n  {terminal.vendor} {terminal.base_url} door {terminal.door}\n"
            f"  login {mask_text(terminal.username)} / {MASKED}\n"
            f"  events to {receiver_url(terminal)}")

    @staticmethod
    def point_of(community: str, police_point_id: str) -> MonitoringPoint:
        point = (MonitoringPoint.objects.filter(community__city_id=community, police_point_id=police_point_id)
                 .select_related("community").first())
        if point is None:
            raise CommandError(_("no point with policePointId %(point)r in community %(community)r")
                               % {"point": police_point_id, "community": community})
        if point.kind != MonitoringPoint.Kind.FACE_PANEL:
            raise CommandError(_("point %(point)s is a %(kind)s point; terminals are at face-panel points")
                               % {"point": point, "kind": point.get_kind_display()})
        return point
