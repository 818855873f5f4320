"""The devices at a community's monitoring points, and the events they send."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community, Direction, MonitoringPoint


class Device(models.Model):
    """A face panel or snapshot camera at one monitoring point. It authenticates with an API key
    (``Authorization: Token <key>``) that is shown once and stored only as a SHA-256 hash: keys are
    256-bit random, so a fast hash is enough and a database leak reveals no usable key."""

    COMMUNITY_PATH = "point__community"

    point = models.ForeignKey(MonitoringPoint, on_delete=models.CASCADE, related_name="devices",
                              verbose_name=_("monitoring point"))
    name = models.CharField(_("name"), max_length=100, blank=True,
                            help_text=_("e.g. the vendor and serial number"))
    key_prefix = models.CharField(_("key prefix"), max_length=16, unique=True, editable=False,
                                  help_text=_("The first characters of the key, to recognise it; not secret."))
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", verbose_name=_("key issued by"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("revoked by"))
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_seen_ip = models.GenericIPAddressField(_("last address"), null=True, blank=True)
    accepted_count = models.PositiveIntegerField(_("events accepted"), default=0)
    refused_count = models.PositiveIntegerField(_("events refused"), default=0)
    last_refusal = models.CharField(_("last refusal"), max_length=300, blank=True)
    # Set when the support contacts were told that the device went silent, cleared when they are told it is back:
    # one incident, one alert each way (devices/silence.py).
    silent_alerted_at = models.DateTimeField(_("silence alerted at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["point", "name"]

    def __str__(self) -> str:
        return f"{self.name or self.key_prefix} @ {self.point.number}"

    @property
    def community(self) -> Community:
        return self.point.community

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class DeviceEvent(models.Model):
    """One event a device sent and we accepted: its id is the ``outId`` the city sees."""

    COMMUNITY_PATH = "community"

    class Kind(models.TextChoices):
        PASS = "pass", _("pass (通行记录)")
        FACE = "face", _("face snapshot (抓拍人像)")
        CAR = "car", _("vehicle snapshot (抓拍车辆)")

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="device_events",
                                  verbose_name=_("community"))
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, related_name="events",
                               verbose_name=_("device"))
    point = models.ForeignKey(MonitoringPoint, on_delete=models.SET_NULL, null=True, related_name="+",
                              verbose_name=_("monitoring point"))
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("time of the event"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    # Residents belong to another app; a plain id keeps the event when the person is deleted.
    resident_id = models.BigIntegerField(_("resident id"), null=True, blank=True)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices, blank=True)
    plate = models.CharField(_("licence plate"), max_length=16, blank=True)
    outbox_record = models.ForeignKey("uploads.OutboxRecord", on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+", verbose_name=_("outbox record"))
    # The device's own id of the event (optional ``eventId``): a device that resends after a lost
    # answer gets the first answer again instead of creating a second record for the city.
    device_event_id = models.CharField(_("device's event id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("device event")
        verbose_name_plural = _("device events")
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["device", "device_event_id"], name="unique_device_event_id",
                                               condition=~models.Q(device_event_id=""))]
        # The dashboard's counts (today per point, the last 24 hours and 30 days) read a community's time range.
        indexes = [models.Index(fields=["community", "occurred_at"], name="device_event_community_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def out_id(self) -> str:
        return str(self.pk)


class FaceTombstone(models.Model):
    """A resident deleted from the database, kept so the face list can tell devices to forget them."""

    COMMUNITY_PATH = "community"

    # No database constraint: tombstones are written while a community's residents are deleted with
    # it, and a deferred foreign key would then fail at commit.
    community = models.ForeignKey(Community, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    resident_id = models.BigIntegerField()
    deleted_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["deleted_at", "id"]
        # Named in permission lists (user and group pages).
        verbose_name = _("face list tombstone")
        verbose_name_plural = _("face list tombstones")

    def __str__(self) -> str:
        return f"resident #{self.resident_id} deleted {timezone.localtime(self.deleted_at):%Y-%m-%d %H:%M:%S}"


class RefusedEvent(models.Model):
    """One event a device sent and we refused, with every reason by field: what staff need to fix a device's
    configuration. No submitted value is kept (the reasons never contain one), so no personal data is here."""

    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="refused_events",
                                  verbose_name=_("community"))
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, related_name="refusals",
                               verbose_name=_("device"))
    point = models.ForeignKey(MonitoringPoint, on_delete=models.SET_NULL, null=True, related_name="+",
                              verbose_name=_("monitoring point"))
    kind = models.CharField(_("kind"), max_length=4, choices=DeviceEvent.Kind.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    index = models.PositiveIntegerField(_("index in its request"))
    field = models.CharField(_("field"), max_length=100)
    reason = models.CharField(_("reason"), max_length=300)
    # Every refusal of the event as [{"field": …, "reason": …}], the first being ``field`` and ``reason``.
    errors = models.JSONField(_("all refusals"), default=list)
    # Refused for the server's limits (request budget, storage), not the device's fault: it is to be sent again.
    resend = models.BooleanField(_("to be sent again"), default=False)

    class Meta:
        verbose_name = _("refused device event")
        verbose_name_plural = _("refused device events")
        ordering = ["-received_at", "-id"]
        # The dashboard's figures of today read a community's time range.
        indexes = [models.Index(fields=["community", "received_at"], name="refused_event_community_time")]

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"[:100]
