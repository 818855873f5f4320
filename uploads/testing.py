"""Records as producers make them (through uploads.contract), for the tests and for demo traffic: small
JPEGs within the city's limits (800x600 <= 100 KB for pass records, 1200x800 <= 200 KB for snapshots)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import lru_cache

from django.utils import timezone
from PIL import Image, ImageDraw

from communities.models import Community

from . import contract
from .models import Endpoint
from .services import enqueue_record


@lru_cache(maxsize=8)
def jpeg(width: int, height: int, shade: int = 0) -> bytes:
    image = Image.new("RGB", (width, height), (90 + shade % 100, 120, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 3, height // 4, 2 * width // 3, 3 * height // 4), fill=(224, 180, 150))
    draw.rectangle((10, 10, width // 5, height // 5), fill=(40, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def ago(seconds: int = 0) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def when(seconds_ago: int = 0) -> str:
    """A time in the city's format, for tests that write the city's JSON themselves."""
    return contract.city_time(ago(seconds_ago))


def pass_record(community: Community, n: int, point: str = "PP-FACE-1",
                out_id: str | None = None) -> tuple[dict, dict]:
    record = contract.pass_record(
        community_id=community.city_id, opened_at=ago(n % 3600), person_type=("01", "03", "04", "05")[n % 4],
        user_id=f"owner-{n % 97}", police_point_id=point, direction=("in", "out")[n % 2],
        small_image=jpeg(800, 600), big_image=jpeg(800, 600, 1), out_id=out_id or f"{community.city_id}-pr-{n}")
    return record.fields, record.images


def face_snapshot(community: Community, n: int, point: str = "PP-SNAP-1") -> tuple[dict, dict]:
    record = contract.face_snapshot(community_id=community.city_id, passed_at=ago(n % 3600),
                                    direction=("in", "out")[n % 2], police_point_id=point,
                                    photos=[jpeg(1200, 800)], person_name=f"访客{n}")
    return record.fields, record.images


def car_snapshot(community: Community, n: int, point: str = "PP-CAR-1") -> tuple[dict, dict]:
    record = contract.car_snapshot(community_id=community.city_id, passed_at=ago(n % 3600),
                                   direction=("in", "out")[n % 2], police_point_id=point,
                                   plate=f"川A{n % 100000:05d}", plate_type="02" if n % 3 else "52",
                                   photos=[jpeg(1200, 800)])
    return record.fields, record.images


MAKERS = {Endpoint.PASS_RECORD: pass_record, Endpoint.FACE_SNAPSHOT: face_snapshot,
          Endpoint.CAR_SNAPSHOT: car_snapshot}


def enqueue_mixed(community: Community, count: int, start: int = 0,
                  points: dict[str, str] | None = None) -> dict[str, int]:
    """Enqueue ``count`` records: 6 pass records, 2 face and 2 car snapshots in every 10.
    ``points``: {endpoint: policePointId}, else made-up point ids."""
    cycle = [Endpoint.PASS_RECORD] * 6 + [Endpoint.FACE_SNAPSHOT] * 2 + [Endpoint.CAR_SNAPSHOT] * 2
    made: dict[str, int] = {}
    for n in range(start, start + count):
        endpoint = cycle[n % 10]
        fields, images = (MAKERS[endpoint](community, n, points[endpoint]) if points and endpoint in points
                          else MAKERS[endpoint](community, n))
        enqueue_record(community=community, endpoint=endpoint, fields=fields, images=images)
        made[endpoint] = made.get(endpoint, 0) + 1
    return made
