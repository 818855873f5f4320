"""Mail (alerts) and logging: ID numbers and phones masked by a filter on every handler."""

from __future__ import annotations

from .base import BASE_DIR, PRODUCTION, env

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="afxq-portal@localhost")
# For EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend (alerts written to files).
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "afxq_portal.pii.MaskPIIFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_pii"], "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's default handlers for these (an unfiltered console, mail to ADMINS) would print
        # request lines and errors that carry query strings (an admin search for an ID number) in clear.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Production: LOG_FORMAT=json prints one JSON object per line on stdout (afxq_portal.logs), still through
# the masking filter; the default is the plain format on stderr.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["formatters"]["json"] = {"()": "afxq_portal.logs.JsonFormatter"}
if LOG_FORMAT == "json":
    LOGGING["handlers"]["console"].update({"formatter": "json", "stream": "ext://sys.stdout"})
