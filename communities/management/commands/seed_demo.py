"""A demo community with buildings, rooms, points, a guard and a staff user. Runs once: a second
call leaves existing data alone."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from communities.models import Building, Community, Guard, Membership, Room, SupportContact
from communities.points import PointSpec
from communities.services import configure_community

DEMO_CITY_ID = "DEMO-0001"
DEMO_PASSWORDS = {"admin": "admin-demo-2026", "staff": "staff-demo-2026", "13900000000": "guard-demo-2026"}


class Command(BaseCommand):
    help = "Create the demo community and logins (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        if Community.objects.filter(city_id=DEMO_CITY_ID).exists():
            self.stdout.write("demo data already present")
            return
        community, _changes = configure_community(
            city_id=DEMO_CITY_ID, name="锦江区观音桥演示小区", address="四川省成都市锦江区观音桥55号",
            site_credentials={"client_id": "demo-client", "client_secret": "demo-secret",
                              "username": "demo-site", "password": "demo-password"},
            points=[PointSpec("DEMO-PP-001", "观音桥55号东门人脸1", "face_panel"),
                    PointSpec("DEMO-PP-002", "观音桥55号东门抓拍1", "face_snapshot"),
                    PointSpec("DEMO-PP-003", "观音桥55号车库入口", "vehicle_snapshot")],
        )
        community.points.filter(police_point_id="DEMO-PP-001").update(provincial_name="观音桥55号东门人脸1")
        community.points.filter(police_point_id="DEMO-PP-002").update(provincial_name="观音桥55号东门抓拍01")
        for building_no in ("1", "2"):
            building = Building.objects.create(community=community, number=building_no)
            Room.objects.bulk_create(
                Room(building=building, unit=str(unit), floor=str(floor), number=f"{room:02d}")
                for unit in (1, 2) for floor in range(1, 7) for room in (1, 2))
        SupportContact.objects.create(community=community, name="技术支持小李", phone="13800000000",
                                      email="support@example.com")
        User = get_user_model()
        User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORDS["admin"])
        staff = User.objects.create_user("staff", password=DEMO_PASSWORDS["staff"], is_staff=True, first_name="物业小张")
        Membership.objects.create(user=staff, community=community)
        guard_user = User.objects.create_user("13900000000", password=DEMO_PASSWORDS["13900000000"], first_name="门卫老王")
        Guard.objects.create(community=community, user=guard_user, name="门卫老王", phone="13900000000",
                             id_card="510104199001011230")
        self.stdout.write(self.style.SUCCESS(f"demo community {DEMO_CITY_ID} created; city platform {settings.CITY_PLATFORM_BASE_URL}"))
