"""The device API (``/api/v1/devices/``): ingest of events and the face list. Authenticated by the
device key only; a device sees and writes only its own point's community."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from afxq_portal.jsonbody import BoundedJSONParser
from afxq_portal.text import ascii_digits
from communities.models import MonitoringPoint
from residents.models import Resident

from . import faces, ingest
from .auth import DeviceKeyAuthentication, IsDevice
from .models import Device, DeviceEvent

_INDEXED_KEY = re.compile(r"^([0-9]+)\.(.+)$")
# Multipart fields that carry a list (repeated parts); every other field takes its last value.
LIST_FIELDS = {"images"}


def max_body_bytes() -> int:
    return settings.DEVICE_API_MAX_BODY_BYTES


class DeviceJSONParser(BoundedJSONParser):
    """A JSON batch of events with their images: up to DEVICE_API_MAX_BODY_BYTES, not Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE. Multipart bodies stream their files to disk through Django's parser."""

    def max_bytes(self) -> int:
        return max_body_bytes()


class DeviceView(APIView):
    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsDevice]

    @property
    def device(self) -> Device:
        return self.request.auth


def multipart_events(request: Request) -> list[dict[str, Any]] | dict[str, Any]:
    """One event as plain fields, or several as ``0.person``, ``0.image``, ``1.person``…"""
    plain: dict[str, Any] = {}
    indexed: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, values in request.data.lists():
        match = _INDEXED_KEY.match(key)
        target, name = (indexed[int(match.group(1))], match.group(2)) if match else (plain, key)
        target[name] = list(values) if name in LIST_FIELDS else values[-1]
    if plain and indexed:
        raise ParseError(_("Use either plain field names (one event) or indexed ones (0.time, 1.time…), not both."))
    if not indexed:
        return plain
    if sorted(indexed) != list(range(len(indexed))):
        raise ParseError(_("Indexed events must be numbered 0, 1, 2… without gaps."))
    return [indexed[i] for i in range(len(indexed))]


class IngestView(DeviceView):
    parser_classes = [DeviceJSONParser, MultiPartParser]
    kind: str = ""

    def post(self, request: Request) -> Response:
        # The request's time budget counts from here, before the body is parsed (multipart parses lazily).
        started = time.monotonic()
        if request.auth.point.kind != ingest.POINT_KIND[self.kind]:
            return Response({"detail": _("This device is at a %(kind)s point and cannot send these events.")
                             % {"kind": request.auth.point.get_kind_display()}}, status=status.HTTP_403_FORBIDDEN)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        length = int(declared) if ascii_digits(declared) else 0
        if length > max_body_bytes():
            return Response({"detail": _("The request is %(n)d bytes; at most %(max)d are accepted: send fewer "
                                         "events per request.") % {"n": length, "max": max_body_bytes()}},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            body = multipart_events(request) if request.content_type.startswith("multipart/") else request.data
        except (TooManyFilesSent, TooManyFieldsSent) as exc:
            # Django's limits on multipart parts (DATA_UPLOAD_MAX_NUMBER_FILES / _FIELDS): say so in JSON.
            return Response({"detail": _("Too many parts in the multipart body (%(error)s): send fewer events per "
                                         "request.") % {"error": exc}}, status=status.HTTP_400_BAD_REQUEST)
        events = body if isinstance(body, list) else [body]
        if not isinstance(body, (list, dict)):
            return Response({"detail": _("The body must be an event object or an array of events.")},
                            status=status.HTTP_400_BAD_REQUEST)
        if not events:
            return Response({"detail": _("The array of events is empty.")}, status=status.HTTP_400_BAD_REQUEST)
        if len(events) > ingest.MAX_EVENTS_PER_REQUEST:
            return Response({"detail": _("At most %(max)d events per request, got %(n)d.")
                             % {"max": ingest.MAX_EVENTS_PER_REQUEST, "n": len(events)}},
                            status=status.HTTP_400_BAD_REQUEST)
        answers = ingest.ingest_events(self.device, self.kind, events, started)
        results = [answer.as_dict() for answer in answers]
        return Response({
            "accepted": sum(1 for r in results if r["status"] == "accepted"),
            "refused": sum(1 for r in results if r["status"] == "refused"),
            "results": results,
        })


class PassEventsView(IngestView):
    kind = DeviceEvent.Kind.PASS


class FaceSnapshotsView(IngestView):
    kind = DeviceEvent.Kind.FACE


class CarSnapshotsView(IngestView):
    kind = DeviceEvent.Kind.CAR


def face_item(request: Request, resident: Resident) -> dict[str, Any]:
    photo_url = (request.build_absolute_uri(reverse("devices:face-photo", args=[resident.pk]))
                 if resident.photo else None)
    return {
        "id": resident.pk,
        "userId": resident.user_id,
        "name": resident.name,
        "personType": resident.person_type,
        "type": resident.pass_record_type,
        "validFrom": resident.valid_from.isoformat() if resident.valid_from else None,
        "validUntil": resident.valid_until.isoformat() if resident.valid_until else None,
        "photoUrl": photo_url,
        "updatedAt": resident.updated_at.isoformat(),
    }


class FaceListView(DeviceView):
    def get(self, request: Request) -> Response:
        if request.auth.point.kind != MonitoringPoint.Kind.FACE_PANEL:
            return Response({"detail": _("Only face panels read the face list.")}, status=status.HTTP_403_FORBIDDEN)
        try:
            limit = int(request.query_params.get("limit", faces.DEFAULT_PAGE))
        except ValueError:
            return Response({"detail": _("limit must be a number.")}, status=status.HTTP_400_BAD_REQUEST)
        try:
            page = faces.face_page(self.device.point.community_id, request.query_params.get("since") or None, limit)
        except faces.BadCursor:
            return Response({"detail": _("since is not a cursor this API gave out.")},
                            status=status.HTTP_400_BAD_REQUEST)
        except faces.CursorTooOld:
            return Response({"detail": _("The cursor is too old: start a full sync again (without since).")},
                            status=status.HTTP_410_GONE)
        return Response({
            "faces": [face_item(request, r) for r in page.faces],
            "removed": [{"id": pk, "reason": why} for pk, why in page.removed],
            "cursor": page.cursor.encode(),
            "more": page.more,
        })


class FacePhotoView(DeviceView):
    def get(self, request: Request, pk: int) -> FileResponse:
        if request.auth.point.kind != MonitoringPoint.Kind.FACE_PANEL:
            raise Http404
        resident = (Resident.objects.filter(pk=pk, community_id=self.device.point.community_id,
                                            status=Resident.Status.ACTIVE).first())
        if resident is None or not resident.photo:
            raise Http404
        response = FileResponse(resident.photo.open("rb"))
        response["Cache-Control"] = "private, no-store"
        return response
