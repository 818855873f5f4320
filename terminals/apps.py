from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TerminalsConfig(AppConfig):
    name = "terminals"
    verbose_name = _("Face terminals")

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers of residents' changes
