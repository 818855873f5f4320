"""Write the residents template of a community: ``residents_template --community CITY_ID OUT.xlsx``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.models import Community
from residents.excel.template import build_template


class Command(BaseCommand):
    help = "Write the residents (initialisation) template of a community as .xlsx."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="the .xlsx file to write")
        parser.add_argument("--community", required=True, help="the community's city id (communityId)")

    def handle(self, *args: object, **options: object) -> None:
        try:
            community = Community.objects.get(city_id=options["community"])
        except Community.DoesNotExist as exc:
            raise CommandError(f"no community with city id {options['community']!r}") from exc
        out = Path(str(options["out"]))
        if out.suffix.lower() != ".xlsx":
            raise CommandError("the output file must end in .xlsx")
        build_template(community, out)
        self.stdout.write(f"wrote {out}")
