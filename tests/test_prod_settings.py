"""Production settings, checked in fresh processes with DJANGO_PRODUCTION=1 (as gunicorn and the workers run):
no secret has a default, `check --deploy` is clean, the cookies and HTTPS settings are on, and LOG_FORMAT=json
prints one JSON object per line on stdout with ID numbers and phones masked (tracebacks too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
ID_CARD, PHONE = "510104198503151239", "13812345678"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFXQ_", "DJANGO_", "CELERY_", "DATABASE_",
                                                                    "REDIS_", "LOG_"))}
    env.update({"DJANGO_PRODUCTION": "1", "DJANGO_SECRET_KEY": "k" * 20 + Fernet.generate_key().decode(),
                "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(), "DJANGO_ALLOWED_HOSTS": "portal.example.com",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/10",
                "DJANGO_SETTINGS_MODULE": "afxq_portal.settings", "APPLY_ACCESS_ALLOWED_NETWORKS": "203.0.113.0/24"})
    env.update(extra)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_it_refuses_to_start_in_production_without_a_secret(tmp_path):
    env = production_env(tmp_path)
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
        missing = {k: v for k, v in env.items() if k != name}
        done = run(missing, "manage.py", "check")
        assert done.returncode != 0 and name in done.stderr, (name, done.stderr[-500:])


@pytest.mark.parametrize("production", ["1", "0"])
def test_it_refuses_to_start_with_a_field_key_that_is_not_a_fernet_key(tmp_path, production: str) -> None:
    env = production_env(tmp_path, DJANGO_PRODUCTION=production)
    for key in ("a", "change-me-a-fernet-key-or-long-random-string", Fernet.generate_key().decode()[:-2]):
        done = run({**env, "FIELD_ENCRYPTION_KEY": key}, "manage.py", "check")
        assert done.returncode != 0, (key, done.stdout)
        assert "FIELD_ENCRYPTION_KEY is not a valid Fernet key" in done.stderr and "generate_key" in done.stderr, done.stderr[-800:]
    assert run(env, "manage.py", "check").returncode == 0  # a real key starts


def test_it_refuses_to_start_in_production_with_apply_access_open_to_all(tmp_path):
    env = {k: v for k, v in production_env(tmp_path).items() if k != "APPLY_ACCESS_ALLOWED_NETWORKS"}
    done = run(env, "manage.py", "check")
    assert done.returncode != 0, done.stdout + done.stderr
    assert "residents.E001" in done.stderr and "APPLY_ACCESS_ALLOWED_NETWORKS" in done.stderr, done.stderr[-800:]
    # gunicorn runs no system checks: the WSGI module itself refuses.
    served = run(env, "-c", "import afxq_portal.wsgi")
    assert served.returncode != 0 and "residents.E001" in served.stderr, served.stderr[-800:]


def test_it_starts_in_production_with_apply_access_explicitly_open_to_all(tmp_path):
    env = {k: v for k, v in production_env(tmp_path, APPLY_ACCESS_OPEN_TO_ALL="1").items()
           if k != "APPLY_ACCESS_ALLOWED_NETWORKS"}
    done = run(env, "manage.py", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    served = run(env, "-c", "import afxq_portal.wsgi")
    assert served.returncode == 0, served.stderr[-800:]


def test_it_passes_the_deployment_check_with_secure_cookies_and_https(tmp_path):
    env = production_env(tmp_path)
    deploy = run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    names = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
             "SESSION_COOKIE_HTTPONLY", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SESSION_COOKIE_SAMESITE", "X_FRAME_OPTIONS",
             "SECURE_PROXY_SSL_HEADER"]
    shown = run(env, "-c", "import django, json; django.setup(); from django.conf import settings as s; "
                f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))")
    values = json.loads(shown.stdout.strip().splitlines()[-1])
    assert values == {"DEBUG": False, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
                      "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000, "SESSION_COOKIE_HTTPONLY": True,
                      "SESSION_EXPIRE_AT_BROWSER_CLOSE": True, "SESSION_COOKIE_SAMESITE": "Lax",
                      "X_FRAME_OPTIONS": "DENY", "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}


def test_it_logs_json_lines_on_stdout_with_personal_data_masked(tmp_path):
    code = (
        "import django, logging; django.setup(); log = logging.getLogger('residents.apply_access'); "
        f"log.info('stored %s phone %s', '{ID_CARD}', '{PHONE}', extra={{'ywlsh': 'YW-1', 'who': '{PHONE}'}}); "
        "\ntry:\n"
        f"    raise ValueError('bad id {ID_CARD}')\n"
        "except ValueError:\n"
        "    log.exception('failed')\n"
    )
    done = run(production_env(tmp_path, LOG_FORMAT="json"), "-c", code)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [(e["level"], e["logger"]) for e in lines] == [("INFO", "residents.apply_access"),
                                                         ("ERROR", "residents.apply_access")]
    assert lines[0]["message"] == "stored 5101**********1239 phone 138****5678"
    assert lines[0]["ywlsh"] == "YW-1" and lines[0]["who"] == "138****5678"
    assert "ValueError: bad id 5101**********1239" in lines[1]["exception"]
    assert ID_CARD not in done.stdout + done.stderr and PHONE not in done.stdout + done.stderr
