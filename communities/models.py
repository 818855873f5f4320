"""Communities (场所/小区) and everything configured per community."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from afxq_portal.crypto import EncryptedTextField, keyed_hash
from afxq_portal.validators import validate_id_card, validate_phone

from .addresses import AddressError, StandardAddress, format_seven_segment, parse_standard_address


class Community(models.Model):
    COMMUNITY_PATH = "pk"

    class Category(models.TextChoices):
        NEW_BUILD = "new", _("New-build (新建小区)")
        RETROFIT = "retrofit", _("Retrofit (改造小区)")

    class Level(models.TextChoices):
        PROVINCIAL = "provincial", _("Provincial (省级)")
        CITY = "city", _("City (市级)")
        HEALTH_CODE = "health_code", _("Health code (健康码小区)")

    name = models.CharField(_("name"), max_length=100)
    city_id = models.CharField(_("city platform community id"), max_length=64, unique=True,
                               help_text=_("The communityId on the city platform."))
    province = models.CharField(_("province"), max_length=20, default="四川省")
    city = models.CharField(_("city"), max_length=20, default="成都市")
    district = models.CharField(_("district"), max_length=20)
    street = models.CharField(_("street and number"), max_length=100, help_text=_("e.g. 观音桥55号"))
    category = models.CharField(_("category"), max_length=16, choices=Category.choices, default=Category.NEW_BUILD)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices, default=Level.PROVINCIAL)
    push_address = models.URLField(_("push address"), blank=True,
                                   help_text=_("Where the city pushes people: https://host:port/apply-access"))
    requires_guard_review = models.BooleanField(_("guard review required"), default=True)
    registration_callback_url = models.URLField(
        _("registration callback URL"), blank=True,
        help_text=_("Where admission results are posted (人员登记回调接口); empty: none are sent."))
    uploads_halted_reason = models.CharField(
        _("uploads halted"), max_length=200, blank=True,
        help_text=_("Set when the city refused this community's credentials; uploads resume once cleared."))
    uploads_halted_at = models.DateTimeField(_("uploads halted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city_id})"

    @property
    def standard_address(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.street}"

    @property
    def parsed_address(self) -> StandardAddress:
        return StandardAddress(self.province, self.city, self.district, self.street)

    def set_address(self, text: str) -> None:
        parsed = parse_standard_address(text)
        self.province, self.city, self.district, self.street = (
            parsed.province, parsed.city, parsed.district, parsed.street)

    def clean(self) -> None:
        try:
            parse_standard_address(self.standard_address)
        except AddressError as exc:
            raise ValidationError({"street": str(exc)}) from exc


class SupportContact(models.Model):
    """Technical support (技术支持人员): told when the link to the city goes down and comes back."""

    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="contacts",
                                  verbose_name=_("community"))
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, validators=[validate_phone])
    email = models.EmailField(_("e-mail"), blank=True)

    class Meta:
        verbose_name = _("technical-support contact")
        verbose_name_plural = _("technical-support contacts")

    def __str__(self) -> str:
        return self.name


class SiteCredential(models.Model):
    """场所侧授权账号: used for the token call (interface 2). Secrets are write-only."""

    COMMUNITY_PATH = "community"

    community = models.OneToOneField(Community, on_delete=models.CASCADE, related_name="site_credential",
                                     verbose_name=_("community"))
    client_id = models.CharField(_("client id"), max_length=100)
    client_secret = EncryptedTextField(_("client secret"))
    username = models.CharField(_("username"), max_length=100)
    password = EncryptedTextField(_("password"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("site-side credentials (场所侧)")
        verbose_name_plural = _("site-side credentials (场所侧)")

    def __str__(self) -> str:
        # Never the secrets.
        return f"{self.community.city_id}: {self.username}"


class ProvincialCredential(models.Model):
    """授权账号（省厅侧）: the provincial platform login and its auth information. Write-only secrets."""

    COMMUNITY_PATH = "community"

    community = models.OneToOneField(Community, on_delete=models.CASCADE, related_name="provincial_credential",
                                     verbose_name=_("community"))
    login = models.CharField(_("login"), max_length=100)
    password = EncryptedTextField(_("password"))
    auth_info = EncryptedTextField(_("auth information"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("provincial credentials (省厅侧)")
        verbose_name_plural = _("provincial credentials (省厅侧)")

    def __str__(self) -> str:
        return f"{self.community.city_id}: {self.login}"


_SEGMENT_HELP = _("Digits or letters, as written in the address.")


class Building(models.Model):
    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="buildings",
                                  verbose_name=_("community"))
    number = models.CharField(_("building (栋)"), max_length=20, help_text=_SEGMENT_HELP)
    needs_confirmation = models.BooleanField(
        _("to confirm"), default=False,
        help_text=_("Created from an address the city sent; staff should confirm it exists."))

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["community", "number"]
        constraints = [models.UniqueConstraint(fields=["community", "number"], name="unique_building_number")]

    def __str__(self) -> str:
        return f"{self.number}栋"


class Room(models.Model):
    """A room: unit (单元), floor (层) and number (号) within a building."""

    COMMUNITY_PATH = "building__community"

    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="rooms",
                                 verbose_name=_("building"))
    unit = models.CharField(_("unit (单元)"), max_length=20)
    floor = models.CharField(_("floor (层)"), max_length=20)
    number = models.CharField(_("room (号)"), max_length=20)
    needs_confirmation = models.BooleanField(
        _("to confirm"), default=False,
        help_text=_("Created from an address the city sent; staff should confirm it exists."))

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        ordering = ["building", "unit", "floor", "number"]
        constraints = [
            models.UniqueConstraint(fields=["building", "unit", "floor", "number"], name="unique_room"),
        ]

    def __str__(self) -> str:
        return f"{self.building.number}栋{self.unit}单元{self.floor}楼{self.number}号"

    @property
    def community(self) -> Community:
        return self.building.community

    @property
    def seven_segment_address(self) -> str:
        return format_seven_segment(self.building.community.standard_address, self.building.number,
                                    self.unit, self.floor, self.number)


class Guard(models.Model):
    """门卫账号: a login (phone as username) limited to reviewing its own community's residents."""

    COMMUNITY_PATH = "community"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="guards",
                                  verbose_name=_("community"))
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guard",
                                verbose_name=_("login"))
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, validators=[validate_phone])
    id_card = EncryptedTextField(_("ID card"), validators=[validate_id_card])
    id_card_hash = models.CharField(max_length=64, editable=False, db_index=True)

    class Meta:
        verbose_name = _("guard")
        verbose_name_plural = _("guards")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.id_card_hash = keyed_hash(self.id_card or "")
        super().save(*args, **kwargs)


class Membership(models.Model):
    """Property staff assigned to a community. Platform administrators are superusers."""

    COMMUNITY_PATH = "community"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships",
                             verbose_name=_("user"))
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="memberships",
                                  verbose_name=_("community"))

    class Meta:
        verbose_name = _("property staff assignment")
        verbose_name_plural = _("property staff assignments")
        constraints = [models.UniqueConstraint(fields=["user", "community"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} → {self.community}"


class Direction(models.TextChoices):
    IN = "in", _("in")
    OUT = "out", _("out")


class MonitoringPoint(models.Model):
    """A community's sensing source registered with the city (前端感知源点位, ``policePointId``): the
    devices at it are in the devices app."""

    COMMUNITY_PATH = "community"

    class Kind(models.TextChoices):
        FACE_PANEL = "face_panel", _("face panel (人脸门禁)")
        FACE_SNAPSHOT = "face_snapshot", _("face snapshot camera (人像抓拍)")
        VEHICLE_SNAPSHOT = "vehicle_snapshot", _("vehicle snapshot camera (车辆抓拍)")

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="points",
                                  verbose_name=_("community"))
    police_point_id = models.CharField(_("city point id (policePointId)"), max_length=64, unique=True)
    number = models.CharField(_("point number (点位编号)"), max_length=100)
    provincial_name = models.CharField(
        _("provincial point name (点位名称)"), max_length=100, blank=True,
        help_text=_("As on the provincial platform; must equal the point number character for character."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.FACE_PANEL)
    default_direction = models.CharField(_("default direction"), max_length=3, choices=Direction.choices,
                                         default=Direction.IN)
    location = models.CharField(_("location"), max_length=200, blank=True)

    class Meta:
        # The table keeps the name it had when points belonged to the devices app.
        db_table = "devices_monitoringpoint"
        verbose_name = _("monitoring point")
        verbose_name_plural = _("monitoring points")
        ordering = ["community", "number"]
        constraints = [models.UniqueConstraint(fields=["community", "number"], name="unique_point_number")]

    def __str__(self) -> str:
        return f"{self.number} ({self.police_point_id})"

    @property
    def name_matches(self) -> bool:
        """The manual: 点位编号 must equal the provincial 点位名称, character for character."""
        return bool(self.provincial_name) and self.number == self.provincial_name
