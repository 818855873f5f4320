from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TerminalsConfig(AppConfig):
    name = "terminals"
    verbose_name = _("Face terminals")

    def ready(self) -> None:
        from devices.silence import watched_elsewhere

        from . import signals  # noqa: F401 - connects the receivers of residents' changes
        from .models import Terminal

        # A terminal offline is alerted by terminals.health (probed every minute, its own incident): its device row
        # is not alerted a second time as a silent device.
        watched_elsewhere(lambda: Terminal.objects.values_list("device_id", flat=True))
