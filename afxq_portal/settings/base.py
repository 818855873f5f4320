"""The project itself: paths, the mode (production, tests), secrets, apps, middleware, templates,
language and time."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import environ

from afxq_portal.field_key import DEV_FIELD_ENCRYPTION_KEY, fernet_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
# Under pytest every run gets its own database, broker folder, queue and media folder so that
# several test runs (and the worker processes they start) never see each other's data.
# Processes started by the tests (Celery workers, the sandbox) set AFXQ_TEST_CHILD and the parent's
# AFXQ_RUN_ID so that they compute the same folders, queue and cache prefix.
TESTING = "pytest" in sys.modules or env.bool("AFXQ_TEST_CHILD", default=False)
RUN_ID = env("AFXQ_RUN_ID", default=str(os.getpid()))


def _dev_default(value: str) -> str | environ.NoValue:
    """A default that exists only outside production, so production must set the secret."""
    return environ.Env.NOTSET if PRODUCTION else value


SECRET_KEY = env("DJANGO_SECRET_KEY", default=_dev_default("dev-insecure-key-change-me-0123456789abcdef"))
# Key for the secrets stored in the database (credentials, ID numbers, phones): a Fernet key, refused at start
# otherwise, in every mode. Rotating it needs `manage.py rotate_field_key` (not yet written).
FIELD_ENCRYPTION_KEY = fernet_key(env("FIELD_ENCRYPTION_KEY", default=_dev_default(DEV_FIELD_ENCRYPTION_KEY)))
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "communities",
    "residents",
    "devices",
    "uploads",
    "drf_spectacular",
    "security",
    "terminals",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A path or query string with text that cannot be stored (afxq_portal.text: a NUL, which PostgreSQL text
    # cannot hold, a control character) refused with 400 before any view, and before LocaleMiddleware.
    "security.middleware.RefuseUnstorableAddressMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "afxq_portal.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "afxq_portal.wsgi.application"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Language and time: Simplified Chinese first, English available -------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
