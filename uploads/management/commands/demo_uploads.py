"""Queue a few demo records for the demo community, to watch them reach the sandbox city:
`python manage.py demo_uploads --count 30` while `make run` is up."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from communities.models import Community
from uploads.models import Endpoint
from uploads.testing import enqueue_mixed


class Command(BaseCommand):
    help = "Queue demo pass records and snapshots for a community (default: the seed_demo community)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--community", default="DEMO-0001", help="the community's city id")
        parser.add_argument("--count", type=int, default=30)

    def handle(self, *args, **options) -> None:
        community = Community.objects.filter(city_id=options["community"]).first()
        if community is None:
            raise CommandError(f"no community with city id {options['community']!r} (run seed_demo first)")
        start = community.outbox.count()
        kinds = {"face_panel": Endpoint.PASS_RECORD, "face_snapshot": Endpoint.FACE_SNAPSHOT,
                 "vehicle_snapshot": Endpoint.CAR_SNAPSHOT}
        points = {kinds[kind]: point_id for kind, point_id in community.points.values_list("kind", "police_point_id")
                  if kind in kinds}
        with transaction.atomic():
            made = enqueue_mixed(community, options["count"], start=start, points=points)
        self.stdout.write(self.style.SUCCESS(f"queued {dict((str(k), v) for k, v in made.items())} for {community}; watch the sandbox city page"))
