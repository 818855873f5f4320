from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TerminalsConfig(AppConfig):
    name = "terminals"
    verbose_name = _("Face terminals")
