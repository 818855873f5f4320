"""factory_boy factories. Valid ID numbers are generated with a correct check digit."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from afxq_portal.validators import id_card_check_character
from communities.models import Building, Community, Guard, Membership, MonitoringPoint, Room, SiteCredential
from residents.models import PersonType, Resident, Sex, Source


def make_id_card(serial: int, birth: str = "19900101", region: str = "510104") -> str:
    first17 = f"{region}{birth}{serial % 1000:03d}"
    return first17 + id_card_check_character(first17)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True  # the password hook saves what it changed

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True

    @factory.post_generation
    def password(user, create: bool, extracted: str | None, **kwargs) -> None:
        user.set_password("password-for-tests-1" if extracted is None else extracted)
        if create:
            user.save(update_fields=["password"])


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    name = factory.Sequence(lambda n: f"测试小区{n}")
    city_id = factory.Sequence(lambda n: f"CITY{n:04d}")
    province = "四川省"
    city = "成都市"
    district = "锦江区"
    street = factory.Sequence(lambda n: f"观音桥{n + 1}号")


class SiteCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SiteCredential

    community = factory.SubFactory(CommunityFactory)
    client_id = "client"
    client_secret = "client-secret"
    username = "site-user"
    password = "site-password"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    community = factory.SubFactory(CommunityFactory)


class BuildingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Building

    community = factory.SubFactory(CommunityFactory)
    number = factory.Sequence(lambda n: str(n + 1))


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    building = factory.SubFactory(BuildingFactory)
    unit = "1"
    floor = "3"
    number = factory.Sequence(lambda n: f"{n % 100:02d}")


class PointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonitoringPoint

    community = factory.SubFactory(CommunityFactory)
    police_point_id = factory.Sequence(lambda n: f"PP-{n:05d}")
    number = factory.Sequence(lambda n: f"东门{n}")
    provincial_name = factory.LazyAttribute(lambda p: p.number)
    kind = MonitoringPoint.Kind.FACE_PANEL


class GuardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guard

    community = factory.SubFactory(CommunityFactory)
    name = factory.Sequence(lambda n: f"门卫{n}")
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    id_card = factory.Sequence(lambda n: make_id_card(n + 500))
    user = factory.SubFactory(UserFactory, username=factory.SelfAttribute("..phone"), is_staff=False)


class ResidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resident

    community = factory.SubFactory(CommunityFactory)
    name = factory.Sequence(lambda n: f"居民{n}")
    id_card = factory.Sequence(lambda n: make_id_card(n))
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    sex = Sex.MALE
    person_type = PersonType.OWNER
    room = factory.SubFactory(RoomFactory, building__community=factory.SelfAttribute("...community"))
    city_owner_id = factory.Sequence(lambda n: f"owner-{n}")
    ywlsh = factory.Sequence(lambda n: f"YW{n:08d}")
    source = Source.QR
    status = Resident.Status.ACTIVE
