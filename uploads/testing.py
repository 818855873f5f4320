"""Records as producers make them, for the tests and for demo traffic: contract fields, small JPEGs
within the city's limits (800x600 <= 100 KB for pass records, 1200x800 <= 200 KB for snapshots)."""

from __future__ import annotations

import io
from datetime import timedelta
from functools import lru_cache

from django.utils import timezone
from PIL import Image, ImageDraw

from communities.models import Community

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


def when(seconds_ago: int = 0) -> str:
    return (timezone.localtime() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%d %H:%M:%S")


def pass_record(community: Community, n: int, point: str = "PP-FACE-1") -> tuple[dict, dict]:
    fields = {"outId": f"{community.city_id}-pr-{n}", "way": "FACE", "openDate": when(n % 3600),
              "communityId": community.city_id, "type": ("USER", "PROPERTY_STAFF", "THE_WAITER", "VISITOR")[n % 4],
              "userId": f"owner-{n % 97}", "policePointId": point, "inout": ("in", "out")[n % 2],
              "source": "THIRDPARTY_CLIENT"}
    return fields, {"imageBase64": jpeg(800, 600), "bigImageBase64": jpeg(800, 600, 1)}


def face_snapshot(community: Community, n: int, point: str = "PP-SNAP-1") -> tuple[dict, dict]:
    fields = {"passType": n % 2, "passDate": when(n % 3600), "policePointId": point, "communityId": community.city_id,
              "personName": f"访客{n}"}
    return fields, {"photoBase1": jpeg(1200, 800)}


def car_snapshot(community: Community, n: int, point: str = "PP-CAR-1") -> tuple[dict, dict]:
    fields = {"licensePlate": f"川A{n % 100000:05d}", "licensePlateType": "02" if n % 3 else "52",
              "passDate": when(n % 3600), "passType": n % 2, "policePointId": point,
              "communityId": community.city_id}
    return fields, {"photoBase1": jpeg(1200, 800)}


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
