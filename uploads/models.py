"""The outbox: everything that must reach the city platform is a row here first."""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from afxq_portal.crypto import EncryptedTextField
from communities.models import Community

from . import contract

# Contract fields that are personal data: kept encrypted at rest, merged back only to send.
SEALED_FIELDS = contract.PERSONAL_DATA_FIELDS


class Endpoint(models.TextChoices):
    """Where a record goes: the path under CITY_PLATFORM_BASE_URL, or the registration callback."""

    PASS_RECORD = contract.PASS_RECORDS, _("pass records (通行记录)")
    FACE_SNAPSHOT = contract.FACE_SNAPSHOTS, _("face snapshots (抓拍人像)")
    CAR_SNAPSHOT = contract.CAR_SNAPSHOTS, _("vehicle snapshots (抓拍车辆)")
    REGISTRATION_CALLBACK = contract.REGISTRATION_CALLBACK, _("registration callback (人员登记回调)")


class UploadBatch(models.Model):
    """One request to the city: which records went, and what came back."""

    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="upload_batches",
                                  verbose_name=_("community"))
    endpoint = models.CharField(_("endpoint"), max_length=32, choices=Endpoint.choices)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    record_count = models.PositiveIntegerField(_("records"), default=0)
    body_bytes = models.PositiveIntegerField(_("body bytes"), default=0)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_code = models.CharField(_("response code"), max_length=16, blank=True)
    error = models.TextField(_("error"), blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("upload batch")
        verbose_name_plural = _("upload batches")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.get_endpoint_display()} × {self.record_count} @ {timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S}"


class OutboxRecord(models.Model):
    COMMUNITY_PATH = "community"

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        IN_FLIGHT = "in_flight", _("being sent")
        SENT = "sent", _("sent")
        DEAD = "dead", _("dead letter")
        # Never sent and never to be: set aside by a platform administrator with a reason (the row is
        # kept, as a record of what the city was not sent and why; retention deletes it later).
        DISCARDED = "discarded", _("discarded")

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="outbox",
                                  verbose_name=_("community"))
    endpoint = models.CharField(_("endpoint"), max_length=32, choices=Endpoint.choices)
    # The record's fields exactly as the contract names them, without the images and without the
    # sensitive ones (SEALED_FIELDS), which are kept encrypted in `sealed`: see `all_fields`.
    fields = models.JSONField(_("fields"), default=dict)
    sealed = EncryptedTextField(_("sealed fields"), blank=True, default="")
    # Contract image field name -> path in default storage (MEDIA_ROOT), e.g. {"imageBase64": "outbox/…jpg"}.
    images = models.JSONField(_("images"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    batch = models.ForeignKey(UploadBatch, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="records", verbose_name=_("last batch"))
    # Set when a drain claims the row: marking it sent is guarded by it, so a worker whose lease
    # expired (and whose rows another worker re-claimed) cannot mark them.
    claim = models.CharField(_("claim"), max_length=32, blank=True, editable=False)
    # When a dead letter was put back in the queue: the age limit counts from here, not from creation.
    requeued_at = models.DateTimeField(_("requeued at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    discarded_at = models.DateTimeField(_("discarded at"), null=True, blank=True)
    discarded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("discarded by"))
    discard_reason = models.CharField(_("reason for discarding"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("outbox record")
        verbose_name_plural = _("outbox records")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["community", "endpoint", "status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["status", "sent_at"], name="outbox_retention"),
        ]

    def __str__(self) -> str:
        # The contract's endpoint code stays beside its meaning (staff quote it to the city's support).
        return gettext("%(endpoint)s #%(pk)s (%(status)s)") % {
            "endpoint": self.get_endpoint_display(), "pk": self.pk, "status": self.get_status_display()}

    @property
    def all_fields(self) -> dict:
        """Every field for the city: the plain ones and the decrypted sealed ones."""
        return {**self.fields, **(json.loads(self.sealed) if self.sealed else {})}

    def set_fields(self, fields: Mapping) -> None:
        """Split ``fields`` into the plain JSON column and the encrypted one (PIPL: an ID number is
        sensitive personal information and is not stored in clear)."""
        plain = {k: v for k, v in fields.items() if k not in SEALED_FIELDS}
        secret = {k: v for k, v in fields.items() if k in SEALED_FIELDS}
        self.fields = plain
        self.sealed = json.dumps(secret, ensure_ascii=False) if secret else ""


class LinkState(models.Model):
    """What the portal knows about one community's link to the city: the shared token (when no Redis
    is configured), the login lock, the last success and error, and the alert state. One row per
    community, created on first use."""

    COMMUNITY_PATH = "community"

    class Alert(models.TextChoices):
        UP = "up", _("up")
        DOWN = "down", _("down")

    community = models.OneToOneField(Community, on_delete=models.CASCADE, related_name="link_state",
                                     verbose_name=_("community"))
    access_token = EncryptedTextField(_("access token"), blank=True)
    # sha256 of the token: lets a worker drop "the token it used" without dropping a newer one.
    token_fingerprint = models.CharField(max_length=64, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    login_lock_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    alert_state = models.CharField(_("alert state"), max_length=8, choices=Alert.choices, default=Alert.UP)
    down_since = models.DateTimeField(_("down since"), null=True, blank=True)
    alerts_sent = models.PositiveIntegerField(_("alerts sent"), default=0)
    # {endpoint: records per batch}: halved when the city refuses a batch with `_500`, doubled after each
    # success. One bad record in a batch of 50 is thus isolated in a few requests instead of taking 49
    # good ones down with it; after an outage the size climbs back to 50 in a handful of requests.
    batch_limits = models.JSONField(default=dict, blank=True)
    # While the link is failing, one request at a time probes it (whatever the endpoint), so that a
    # hanging community holds at most one worker process and the others keep flowing.
    probe_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("link state")
        verbose_name_plural = _("link states")

    def __str__(self) -> str:
        return f"{self.community.city_id}: {self.alert_state}"
