from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.points import PointSpec
from communities.services import configure_community


class Command(BaseCommand):
    help = "Create or update a community (idempotent), its site-side credentials and its points."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-id", required=True, help="communityId on the city platform")
        parser.add_argument("--name")
        parser.add_argument("--address", help="standard address, e.g. 四川省成都市锦江区观音桥55号")
        parser.add_argument("--client-id")
        parser.add_argument("--client-secret")
        parser.add_argument("--username")
        parser.add_argument("--password")
        parser.add_argument("--point", action="append", default=[], metavar="POLICE_POINT_ID:NUMBER[:KIND]")

    def handle(self, *args, **options) -> None:
        credential_keys = ("client_id", "client_secret", "username", "password")
        given = {k: options[k] for k in credential_keys if options[k] is not None}
        if given and len(given) != len(credential_keys):
            raise CommandError("site credentials need all of --client-id --client-secret --username --password")
        try:
            points = [PointSpec.parse(text) for text in options["point"]]
            community, changes = configure_community(
                city_id=options["city_id"], name=options["name"], address=options["address"],
                site_credentials=given or None, points=points)
        except (ValueError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        for change in changes:
            self.stdout.write(f"  {change}")
        self.stdout.write(self.style.SUCCESS(
            f"{community.city_id}: {len(changes)} change(s)" if changes else f"{community.city_id}: unchanged"))
