from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = _("Security")

    def ready(self) -> None:
        from django.contrib import admin

        from . import signals  # noqa: F401 - connects the login audit receivers
        from .forms import ThrottledAdminLoginForm

        # The admin's own login view, with failures counted and locked like the guards' page.
        admin.site.login_form = ThrottledAdminLoginForm
