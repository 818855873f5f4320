"""Check (and with ``--commit`` write) a residents workbook from a shell, for integrators onboarding
many communities: ``import_residents FILE --community CITY_ID [--commit] [--create-rooms]``.
Prints the summary and writes the result workbook beside the file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from communities.models import Community
from residents.excel.importer import run_import
from residents.excel.safety import WorkbookError, check_file_name


class Command(BaseCommand):
    help = "Check a residents workbook against a community; with --commit, write the accepted rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--community", required=True, help="the community's city id (communityId)")
        parser.add_argument("--commit", action="store_true", help="write the accepted rows (default: check only)")
        parser.add_argument("--create-rooms", action="store_true", help="create rooms that do not exist yet")
        parser.add_argument("--problems", type=int, default=20, help="how many refused rows to print")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["file"]))
        try:
            community = Community.objects.get(city_id=options["community"])
        except Community.DoesNotExist as exc:
            raise CommandError(f"no community with city id {options['community']!r}") from exc
        if not path.is_file():
            raise CommandError(f"{path} does not exist")
        commit = bool(options["commit"])
        result_path = path.with_name(f"{path.stem}-{'imported' if commit else 'checked'}.xlsx")
        try:
            check_file_name(path.name)
            summary = run_import(path, community, commit=commit, create_rooms=bool(options["create_rooms"]),
                                 result_path=result_path)
        except WorkbookError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"sheet {summary.sheet}: {summary.rows} rows, {summary.accepted} accepted, "
                          f"{summary.refused} refused, {summary.written} written, "
                          f"{summary.rooms_created} rooms created, {summary.seconds} s")
        if summary.ignored_columns:
            self.stdout.write("columns ignored: " + ", ".join(summary.ignored_columns))
        for problem in summary.problems[: int(options["problems"])]:
            self.stdout.write(f"row {problem['row']}: {problem['message']}")
        self.stdout.write(f"result: {result_path}")
        if not commit:
            self.stdout.write("nothing written (check only): add --commit to write the accepted rows")
