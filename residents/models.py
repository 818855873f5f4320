"""People of a community: residents, staff, service staff and visitors."""

from __future__ import annotations

import datetime
import json
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from afxq_portal.crypto import EncryptedTextField, keyed_hash
from afxq_portal.pii import mask_id_card, mask_phone
from afxq_portal.storage import private_storage
from afxq_portal.validators import phone_key
from communities.models import Community, Room
from uploads.contract import PersonType, pass_record_type

# Types whose address is a 7-segment address resolved to a room.
TYPES_WITH_ROOM = frozenset({PersonType.OWNER, PersonType.TENANT, PersonType.VISITOR})


class Sex(models.TextChoices):
    FEMALE = "0", _("female")
    MALE = "1", _("male")
    UNKNOWN = "2", _("unknown")


class Source(models.TextChoices):
    QR = "01", _("01 phone QR registration")
    AI_ADMIN = "02", _("02 AI-layer admin")
    IMPORT = "import", _("Excel initialisation")
    MANUAL = "manual", _("entered in this portal")


def phone_lookup_hash(phone: str | None) -> str:
    """What ``Resident.phone_hash`` holds (and a search for a phone looks up): empty for no phone."""
    key = phone_key(phone or "")
    return keyed_hash(key) if key else ""


class Resident(models.Model):
    COMMUNITY_PATH = "community"

    class Status(models.TextChoices):
        PENDING = "pending", _("pending review")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")

    class PhotoStatus(models.TextChoices):
        NONE = "none", _("no photo")
        PENDING = "pending", _("being fetched")
        OK = "ok", _("stored")
        FAILED = "failed", _("could not be fetched")

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="residents",
                                  verbose_name=_("community"))
    name = models.CharField(_("name"), max_length=50)
    id_card = EncryptedTextField(_("ID card"))
    id_card_hash = models.CharField(max_length=64, editable=False, db_index=True)
    phone = EncryptedTextField(_("phone"))
    # The phone is encrypted: staff find a person by it through this (afxq_portal.validators.phone_key).
    phone_hash = models.CharField(max_length=64, editable=False, db_index=True, blank=True, default="")
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    person_type = models.CharField(_("person type"), max_length=2, choices=PersonType.choices)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True, related_name="residents",
                             verbose_name=_("room"))
    address = models.CharField(_("address as received"), max_length=200, blank=True)
    city_owner_id = models.CharField(_("city ownerId"), max_length=64, null=True, blank=True,
                                     help_text=_("The person's id on the city platform (apply-access ownerId)."))
    init_uuid = models.UUIDField(_("initialisation UUID"), null=True, blank=True, unique=True,
                                 help_text=_("Given to people of the initialisation package; used as userId."))
    ywlsh = models.CharField(_("business serial (ywlsh)"), max_length=64, blank=True, db_index=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.MANUAL)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True, help_text=_("Empty: long-term."))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True, help_text=_("Empty: long-term."))
    photo = models.ImageField(_("photo"), upload_to="residents/photos/%Y/%m/", blank=True,
                              storage=private_storage)
    photo_url = models.URLField(_("photo URL"), max_length=500, blank=True)
    photo_status = models.CharField(_("photo status"), max_length=8, choices=PhotoStatus.choices,
                                    default=PhotoStatus.NONE)
    photo_error = models.CharField(_("photo problem"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reject_reason = models.CharField(_("reason for rejection"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["community", "id_card_hash"], name="unique_resident_id_card"),
            models.UniqueConstraint(fields=["community", "city_owner_id"], name="unique_resident_owner_id",
                                    condition=models.Q(city_owner_id__isnull=False)),
        ]
        permissions = [("view_pii", _("Can see ID numbers and phones in clear")),
                       # The whole community's people in one file (附件1): given by name, not with the admin.
                       ("export_init_package", _("Can export the initialisation package (附件1)"))]

    def __str__(self) -> str:
        return f"{self.name} ({mask_id_card(self.id_card)})"

    def save(self, *args, **kwargs) -> None:
        self.id_card_hash = keyed_hash(self.id_card or "")
        self.phone_hash = phone_lookup_hash(self.phone)
        super().save(*args, **kwargs)

    @property
    def user_id(self) -> str:
        """The `userId` every pass record of this person carries: the city ownerId, else the UUID."""
        if self.city_owner_id:
            return self.city_owner_id
        return str(self.init_uuid) if self.init_uuid else ""

    @property
    def pass_record_type(self) -> str:
        return pass_record_type(self.person_type)

    @property
    def masked_id_card(self) -> str:
        return mask_id_card(self.id_card)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    def is_valid_at(self, moment: datetime.datetime | None = None) -> bool:
        moment = moment or timezone.now()
        if self.status != self.Status.ACTIVE:
            return False
        if self.valid_from and moment < self.valid_from:
            return False
        return not (self.valid_until and moment > self.valid_until)

    @staticmethod
    def new_init_uuid() -> uuid.UUID:
        return uuid.uuid4()


class ResidentChange(models.Model):
    """History of a person: every status change and every update from the city, who and why."""

    COMMUNITY_PATH = "resident__community"

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="changes",
                                 verbose_name=_("resident"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name=_("by"))
    actor_label = models.CharField(_("by (label)"), max_length=100, blank=True,
                                   help_text=_("For changes made by the system or the city platform."))
    from_status = models.CharField(_("from"), max_length=8, blank=True)
    to_status = models.CharField(_("to"), max_length=8, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("resident change")
        verbose_name_plural = _("resident changes")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_label}→{self.to_label}"

    @property
    def from_label(self) -> str:
        return _status_label(self.from_status)

    @property
    def to_label(self) -> str:
        return _status_label(self.to_status)

    @property
    def by(self) -> str:
        """Who, for the pages: a guard by name (their login is their phone number), else the login,
        else the system's label."""
        if self.actor is None:
            return gettext(self.actor_label)  # the system's labels are marked for translation in services
        guard = getattr(self.actor, "guard", None)
        return guard.name if guard is not None else self.actor.get_username()

    @property
    def reason_display(self) -> str:
        return gettext(self.reason) if self.reason else ""


def _status_label(value: str) -> str:
    return str(Resident.Status(value).label) if value in Resident.Status.values else value


class ApplyAccessCall(models.Model):
    """One inbound apply-access call, stored before it is trusted (dj-stripe style): what arrived,
    from where, and what we answered. The raw body is encrypted (it holds an ID number and a phone);
    ``summary`` is the masked version shown in lists."""

    COMMUNITY_PATH = "community"

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("accepted, being applied")
        STORED = "stored", _("stored")
        DUPLICATE = "duplicate", _("duplicate ywlsh (nothing changed)")
        REFUSED = "refused", _("refused")
        ERROR = "error", _("internal error")

    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    body = EncryptedTextField(_("body (encrypted)"), blank=True)
    body_bytes = models.PositiveIntegerField(_("body bytes"), default=0)
    # Masked, and encrypted all the same: it still holds the person's name and address.
    summary = EncryptedTextField(_("body (masked)"), blank=True)
    ywlsh = models.CharField(_("business serial (ywlsh)"), max_length=64, blank=True, db_index=True)
    community_city_id = models.CharField(_("communityId as sent"), max_length=64, blank=True)
    community = models.ForeignKey(Community, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="apply_access_calls", verbose_name=_("community"))
    resident = models.ForeignKey(Resident, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="apply_access_calls", verbose_name=_("resident"))
    # Set by the view before the call is saved, always.
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    answer_code = models.PositiveSmallIntegerField(_("answer code"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    # An accepted call is applied by a worker (residents.services.apply_accepted_calls): when, and
    # what stopped it if it could not be (the city had been answered code 1 already).
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    problem = models.CharField(_("problem when applying"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("apply-access call")
        verbose_name_plural = _("apply-access calls")
        ordering = ["-received_at", "-id"]
        indexes = [
            # The worker's queue: only calls waiting to be applied are in it, so it stays small.
            models.Index(fields=["community", "id"], condition=models.Q(outcome="accepted"),
                         name="apply_call_accepted_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ywlsh or '?'} {self.get_outcome_display()} @ {timezone.localtime(self.received_at):%Y-%m-%d %H:%M:%S}"


# The Excel import job and the export log live with the rest of the Excel code (residents/excel/).
from .excel.models import ExportLog, ImportJob  # noqa: E402, F401


class ResidentProposal(models.Model):
    """A new application from the city for a person who is already active, waiting for a guard.

    Why not overwrite the person: one apply-access call (from whoever reached the endpoint) must not take a
    resident's door access away. The person stays active with what was approved; the proposed data waits here
    until a guard approves it (then it is applied like an approval) or rejects it (the old data stays).
    ``data`` holds an ID number and a phone in clear inside the JSON, so it is encrypted like them."""

    COMMUNITY_PATH = "resident__community"

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for review")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        SUPERSEDED = "superseded", _("replaced by a newer application")

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="proposals",
                                 verbose_name=_("resident"))
    call = models.ForeignKey(ApplyAccessCall, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("apply-access call"))
    # Kept in clear (not personal data): the duplicate check and the city's callback need it after the
    # call itself is purged.
    ywlsh = models.CharField(_("business serial (ywlsh)"), max_length=64, db_index=True)
    data = EncryptedTextField(_("proposed data (encrypted)"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    reject_reason = models.CharField(_("reason for rejection"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("proposed change")
        verbose_name_plural = _("proposed changes")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A further application replaces a still-pending one (residents.services._propose_update).
            models.UniqueConstraint(fields=["resident"], condition=models.Q(status="pending"),
                                    name="one_pending_proposal_per_resident"),
        ]

    def __str__(self) -> str:
        return f"{self.ywlsh} {self.get_status_display()}"

    @property
    def fields(self) -> dict:
        return json.loads(self.data) if self.data else {}
