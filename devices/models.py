"""Monitoring points (前端感知源点位) and the devices behind them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from communities.models import Community


class Direction(models.TextChoices):
    IN = "in", _("in")
    OUT = "out", _("out")


class MonitoringPoint(models.Model):
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
