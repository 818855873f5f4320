"""Silent devices alert the community's support contacts once per incident, and once when they are back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from communities.models import SupportContact
from devices.keys import issue_device_key
from devices.models import Device
from devices.silence import check_silent_devices
from devices.tasks import check_silent_devices as check_task
from tests.factories import PointFactory


@pytest.fixture
def contacts(community_a, community_b):
    SupportContact.objects.create(community=community_a, name="张工", phone="13800000001", email="zhang@a.test")
    SupportContact.objects.create(community=community_b, name="李工", phone="13800000002", email="li@b.test")


def device_at(community, name: str, seen_minutes_ago: float | None) -> Device:
    device, _key = issue_device_key(point=PointFactory(community=community), name=name, acting_user=None)
    if seen_minutes_ago is not None:
        Device.objects.filter(pk=device.pk).update(last_seen_at=timezone.now() - timedelta(minutes=seen_minutes_ago))
    device.refresh_from_db()
    return device


def test_it_tells_the_contacts_once_per_incident_one_message_per_community(community_a, community_b, contacts,
                                                                           settings) -> None:
    settings.DEVICE_SILENT_AFTER_SECONDS = 600
    gate = device_at(community_a, "东门人脸", 30)
    camera = device_at(community_a, "地库相机", 45)
    device_at(community_a, "北门人脸", 1)  # talking
    device_at(community_a, "未安装", None)  # never heard from: not an incident
    device_at(community_b, "南门人脸", 1)

    assert check_silent_devices() == {"silent": 2, "back": 0}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["zhang@a.test"]
    assert "东门人脸" in message.body and "地库相机" in message.body and "北门人脸" not in message.body
    assert "2" in message.subject

    # Still silent on the next checks: no second message.
    assert check_task() == {"silent": 0, "back": 0}
    assert len(mail.outbox) == 1

    Device.objects.filter(pk=gate.pk).update(last_seen_at=timezone.now())
    assert check_silent_devices() == {"silent": 0, "back": 1}
    assert len(mail.outbox) == 2 and "东门人脸" in mail.outbox[1].body and "地库相机" not in mail.outbox[1].body
    camera.refresh_from_db()
    assert camera.silent_alerted_at is not None

    # Silent again later: a new incident, a new message.
    Device.objects.filter(pk=gate.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    assert check_silent_devices() == {"silent": 1, "back": 0}
    assert len(mail.outbox) == 3


def test_it_posts_the_webhook_and_says_it_is_about_a_device(community_a, contacts, settings, sandbox_city) -> None:
    settings.DEVICE_SILENT_AFTER_SECONDS = 600
    settings.LINK_ALERT_WEBHOOK_URL = f"{sandbox_city.url}/_sandbox/webhook"
    device_at(community_a, "东门人脸", 30)
    check_silent_devices()
    posted = sandbox_city.webhooks()
    assert [(w["communityId"], w["about"], w["state"]) for w in posted] == [("CITY-A", "device", "silent")]


def test_it_ends_a_revoked_devices_incident_without_a_message(community_a, contacts, settings) -> None:
    settings.DEVICE_SILENT_AFTER_SECONDS = 600
    device = device_at(community_a, "东门人脸", 30)
    check_silent_devices()
    Device.objects.filter(pk=device.pk).update(revoked_at=timezone.now())
    assert check_silent_devices() == {"silent": 0, "back": 0}
    assert len(mail.outbox) == 1
    device.refresh_from_db()
    assert device.silent_alerted_at is None


def test_it_writes_the_alert_in_chinese(community_a, contacts, settings) -> None:
    from django.utils import translation

    settings.DEVICE_SILENT_AFTER_SECONDS = 600
    device_at(community_a, "东门人脸", 30)
    with translation.override("zh-hans"):
        check_silent_devices()
    assert mail.outbox[0].subject == "[afxq] 锦江花园：1 台设备失联"  # the dashboard's word (失联)
    assert "超过 10 分钟无联系" in mail.outbox[0].body
