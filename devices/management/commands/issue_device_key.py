"""Register a device at a monitoring point and print its key (once: only its hash is kept)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.models import MonitoringPoint
from devices.keys import issue_device_key


class Command(BaseCommand):
    help = "Register a device at a monitoring point and print its API key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--community", required=True, help="the community's city id (communityId)")
        parser.add_argument("--point", required=True, help="the point's policePointId")
        parser.add_argument("--name", default="", help="a name for the device (vendor, serial number)")

    def handle(self, *args: Any, **options: Any) -> None:
        point = MonitoringPoint.objects.filter(community__city_id=options["community"],
                                               police_point_id=options["point"]).select_related("community").first()
        if point is None:
            raise CommandError(f"no point with policePointId {options['point']!r} in community "
                               f"{options['community']!r}")
        device, key = issue_device_key(point=point, name=options["name"], acting_user=None)
        self.stderr.write(f"device #{device.pk} at {point} ({point.get_kind_display()}) of {point.community}. "
                          "Store the key now: it cannot be shown again.")
        self.stdout.write(key)
