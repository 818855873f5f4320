"""The container stack's file (no container engine runs here, so it is read, not started): residents' photos and
outbox images live on volumes every app service shares, and no secret is written in it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings

DEPLOY = Path(settings.BASE_DIR) / "deploy"
APP_SERVICES = ("web", "worker", "beat")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_it_puts_media_and_private_media_on_named_volumes_shared_by_every_app_service() -> None:
    stack = compose()
    for name in APP_SERVICES:
        service = stack["services"][name]
        mounts = dict(reversed(m.split(":", 1)) for m in service["volumes"])
        for variable in ("MEDIA_ROOT", "PRIVATE_MEDIA_ROOT"):
            folder = service["environment"][variable]
            assert folder in mounts, (name, variable, service["volumes"])
            assert mounts[folder] in stack["volumes"], (name, mounts[folder])  # named: outlives a redeploy
    assert len({tuple(stack["services"][n]["volumes"]) for n in APP_SERVICES}) == 1


def test_it_takes_the_database_password_from_the_environment() -> None:
    stack = compose()
    assert stack["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for name in APP_SERVICES:
        url = stack["services"][name]["environment"]["DATABASE_URL"]
        assert re.fullmatch(r"postgres://afxq:\$\{POSTGRES_PASSWORD:\?[^}]*\}@db:5432/afxq", url), (name, url)
    assert "POSTGRES_PASSWORD=" in (DEPLOY / "env.example").read_text()
