"""Face terminals (a vendor's access-control panel at a face-panel point) and, per resident, what should be on
each terminal and what the portal last saw there."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from afxq_portal.crypto import EncryptedTextField
from communities.models import Community, MonitoringPoint
from devices.models import Device

VENDOR_LABELS = {"hikvision": _("Hikvision (海康威视)")}


def vendor_choices() -> list[tuple[str, str]]:
    # Read when a form or a check needs them: a vendor registered later (a test's fake driver) is a choice too.
    from .vendors import VENDORS

    return [(name, str(VENDOR_LABELS.get(name, name))) for name in sorted(VENDORS)]


class Terminal(models.Model):
    """One terminal. Its events go through ``device`` (created with it), so the ingest, the outbox and the
    device pages treat them like any device's; the receiver URL carries ``event_secret`` instead of a key."""

    COMMUNITY_PATH = "point__community"

    class Alert(models.TextChoices):
        UP = "up", _("online")
        DOWN = "down", _("offline, alerted")

    point = models.ForeignKey(MonitoringPoint, on_delete=models.CASCADE, related_name="terminals",
                              limit_choices_to={"kind": MonitoringPoint.Kind.FACE_PANEL},
                              verbose_name=_("monitoring point"))
    vendor = models.CharField(_("vendor"), max_length=20, choices=vendor_choices, default="hikvision")
    base_url = models.URLField(_("terminal address"), max_length=200,
                               help_text=_("e.g. http://192.168.1.64 (on the community's network)"))
    username = models.CharField(_("login"), max_length=64)
    password = EncryptedTextField(_("password"))
    door = models.PositiveSmallIntegerField(_("door number"), default=1)
    device = models.OneToOneField(Device, on_delete=models.RESTRICT, related_name="terminal", editable=False,
                                  verbose_name=_("device"))
    event_secret = models.CharField(max_length=64, unique=True, editable=False)
    sync_enabled = models.BooleanField(_("people and faces pushed"), default=True,
                                       help_text=_("The portal keeps the terminal's people and faces converged."))
    events_enabled = models.BooleanField(_("events received"), default=True,
                                         help_text=_("The terminal's passes are received and fetched."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Health, from the probe.
    model = models.CharField(_("model"), max_length=100, blank=True)
    firmware = models.CharField(_("firmware"), max_length=100, blank=True)
    serial = models.CharField(_("serial number"), max_length=100, blank=True)
    online = models.BooleanField(_("online"), default=False)
    last_probe_at = models.DateTimeField(_("last probe"), null=True, blank=True)
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last event"), null=True, blank=True)
    offline_since = models.DateTimeField(_("offline since"), null=True, blank=True)
    alert_state = models.CharField(_("alert"), max_length=4, choices=Alert.choices, default=Alert.UP)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    # Where the terminal was told to push its events; empty: to be told (after the next successful probe).
    event_host_url = models.CharField(_("event address set on the terminal"), max_length=300, blank=True)
    # What it holds is read back before the next reconciliation (new, reset, back online, daily).
    resync_needed = models.BooleanField(_("to be re-read"), default=True)
    last_resync_at = models.DateTimeField(_("last re-read"), null=True, blank=True)
    # One worker at a time per terminal (guarded UPDATE), released when done, expiring if the worker died.
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Events: the highest serialNo seen, and the time up to which every event is known to be received.
    last_serial_no = models.BigIntegerField(_("last event serial number"), default=0)
    events_checked_until = models.DateTimeField(_("events complete until"), null=True, blank=True)

    class Meta:
        verbose_name = _("face terminal")
        verbose_name_plural = _("face terminals")
        ordering = ["point", "base_url"]
        constraints = [models.UniqueConstraint(fields=["point", "base_url"], name="unique_terminal_url")]

    def __str__(self) -> str:
        return f"{self.point.number} {self.base_url}"

    @property
    def community(self) -> Community:
        return self.point.community


class TerminalMember(models.Model):
    """One resident on one terminal: the desired columns come from the resident (``plan``), the ``seen_``
    columns from what the terminal accepted or holds; the reconciler works until they match."""

    COMMUNITY_PATH = "terminal__point__community"

    class Status(models.TextChoices):
        IN_SYNC = "in_sync", _("on the terminal as it should be")
        PENDING = "pending", _("to be sent")
        RETRYING = "retrying", _("retrying")
        REFUSED = "refused", _("refused by the terminal")

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="members",
                                 verbose_name=_("face terminal"))
    # Residents belong to another app; a plain id keeps the row (to delete the person from the terminal).
    resident_id = models.BigIntegerField(_("resident id"))
    employee_no = models.CharField(_("employee number on the terminal"), max_length=32)
    # Desired.
    present = models.BooleanField(_("should be on the terminal"), default=False)
    name = models.CharField(_("name"), max_length=50, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_to = models.DateTimeField(_("valid until"), null=True, blank=True)
    # The resident's photo file; face_sha256 is the JPEG made from it for the terminal (empty: not made yet).
    face_source = models.CharField(_("photo"), max_length=200, blank=True)
    face_sha256 = models.CharField(_("face sent (SHA-256)"), max_length=64, blank=True)
    # Observed.
    seen_present = models.BooleanField(_("on the terminal"), default=False)
    seen_name = models.CharField(_("name on the terminal"), max_length=50, blank=True)
    seen_valid_from = models.DateTimeField(_("valid from on the terminal"), null=True, blank=True)
    seen_valid_to = models.DateTimeField(_("valid until on the terminal"), null=True, blank=True)
    seen_face_sha256 = models.CharField(_("face on the terminal (SHA-256)"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    refusal_code = models.CharField(_("refusal code"), max_length=20, blank=True)
    refusal_reason = models.CharField(_("terminal's reason"), max_length=300, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("person on a terminal")
        verbose_name_plural = _("people on terminals")
        ordering = ["terminal", "employee_no"]
        constraints = [
            models.UniqueConstraint(fields=["terminal", "resident_id"], name="unique_terminal_resident"),
            models.UniqueConstraint(fields=["terminal", "employee_no"], name="unique_terminal_employee_no"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.employee_no} @ {self.terminal_id}"
