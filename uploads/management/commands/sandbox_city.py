"""Run the sandbox city platform: `python manage.py sandbox_city --port 8090`."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from uploads.sandbox import make_server


class Command(BaseCommand):
    help = "Run a stand-in for the city platform (interfaces 2-5) with fault injection, for development and tests."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed on start)")
        parser.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds a token is valid")
        parser.add_argument("--credentials", action="append", default=None,
                            help="client_id:client_secret:username:password accepted by /oauth/token "
                                 "(repeatable; default SANDBOX_CITY_CREDENTIALS)")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        credentials = options["credentials"] or settings.SANDBOX_CITY_CREDENTIALS
        server = make_server(options["host"], options["port"], credentials, options["token_lifetime"])
        host, port = server.server_address[:2]
        self.stdout.write(f"sandbox city listening on http://{host}:{port}/", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
