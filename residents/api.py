"""POST /apply-access: the city platform pushes each registered person here (interface 1).

Whatever happens the answer is the contract's envelope, ``{"code": 1, "message": ""}`` when the
person is accepted and ``{"code": 0, "message": "<contract field>: <why, in Chinese>"}`` otherwise:
malformed JSON, an array, a wrong content type, an oversized body, an unknown community, a refused
source address, too many calls, an internal error.

Answering is kept to what the body alone decides: its types, the person's rules
(residents.validation, shared with the Excel import) and that the community is ours. A valid call is
then stored as *accepted* (ApplyAccessCall, PII encrypted/masked), one INSERT, and answered code 1; a
worker applies it (residents.services.apply_accepted_calls: duplicates by ywlsh, the person's row, the
room, the history, the photo fetch) within about a second. So the answer costs what a bare insert
costs and a burst of registrations queues instead of stretching every answer (see docs/architecture.md).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from afxq_portal import jsonbody
from afxq_portal.pii import mask_json_text, mask_text
from afxq_portal.text import ascii_digits, field_problems, without_nul
from communities.lookup import community_by_city_id
from security.services import client_ip, parse_ip

from . import services
from .contract import TEXT_FIELDS, format_problems, type_problems
from .models import ApplyAccessCall
from .validation import FieldProblem, check_application

logger = logging.getLogger("residents.apply_access")

class EnvelopeError(Exception):
    """A refusal answered with ``{"code": 0}`` and an HTTP status."""

    def __init__(self, message: str, http_status: int = status.HTTP_200_OK, outcome: str = "refused") -> None:
        super().__init__(message)
        self.message, self.http_status, self.outcome = message, http_status, outcome


def envelope(code: int, message: str = "", http_status: int = status.HTTP_200_OK) -> Response:
    return Response({"code": code, "message": message}, status=http_status)


def envelope_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's handler for this view: everything DRF raises (throttling, a wrong method...) and
    anything unexpected becomes the envelope, never an HTML page."""
    if isinstance(exc, exceptions.Throttled):
        request = context.get("request")
        logger.warning("apply-access call refused: rate limit (from %s)", client_ip(request) if request else "?")
        return envelope(0, _("too many calls, retry in %(s)d seconds") % {"s": exc.wait or 1}, 429)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return envelope(0, _("only POST is accepted"), 405)
    if isinstance(exc, exceptions.APIException):
        return envelope(0, str(exc.detail), exc.status_code)
    logger.exception("apply-access: internal error")
    return envelope(0, _("internal error, please retry later"), 500)


class ApplyAccessThrottle(SimpleRateThrottle):
    """Per source IP, when APPLY_ACCESS_RATE is set ("120/min"); no limit otherwise."""

    scope = "apply-access"

    def get_rate(self) -> str | None:
        return settings.APPLY_ACCESS_RATE or None

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}


def check_content_type(request: Request) -> None:
    content_type = (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise EnvelopeError(_("Content-Type must be application/json"), status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        data = jsonbody.loads(raw.decode("utf-8"))
    except jsonbody.TooDeep as exc:
        raise EnvelopeError(str(exc), status.HTTP_400_BAD_REQUEST) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeError(_("the body is not valid JSON"), status.HTTP_400_BAD_REQUEST) from exc
    if not isinstance(data, dict):
        kind = _("an array") if isinstance(data, list) else _("a single value")
        raise EnvelopeError(_("the body must be one JSON object (one person), not %(kind)s") % {"kind": kind},
                            status.HTTP_400_BAD_REQUEST)
    return data


def read_body(request: Request) -> bytes:
    # Read at most one byte more than allowed: a huge body is refused, never buffered whole.
    limit = settings.APPLY_ACCESS_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    too_large = EnvelopeError(_("the body is larger than %(n)d bytes") % {"n": limit},
                              status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if ascii_digits(declared) and int(declared) > limit:
        raise too_large
    raw = request.read(limit + 1)  # DRF's Request passes read() to Django's request
    if len(raw) > limit:
        raise too_large
    return raw


def source_allowed(address: str | None) -> bool:
    networks = [cidr.strip() for cidr in settings.APPLY_ACCESS_ALLOWED_NETWORKS if cidr.strip()]
    if not networks:
        return True
    ip = parse_ip(address)
    return ip is not None and any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in networks)


class ApplyAccessView(APIView):
    # The city authenticates by where it pushes (the community's push address) and, optionally,
    # by source network (APPLY_ACCESS_ALLOWED_NETWORKS): no session, no CSRF.
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []  # we read and parse the body ourselves, to answer every failure in the envelope
    renderer_classes = [JSONRenderer]
    throttle_classes = [ApplyAccessThrottle]
    # Only POST: DRF would answer OPTIONS with its metadata, outside the envelope.
    http_method_names = ["post"]

    # The contract's messages are Chinese whatever Accept-Language the city's client sends.
    answer_language = settings.LANGUAGE_CODE

    @staticmethod
    def refuse_address(message: str) -> HttpResponse:
        """The answer to a URL the security middleware refuses, before any view: in the envelope."""
        return JsonResponse({"code": 0, "message": message}, status=400)

    def get_exception_handler(self):
        return envelope_exception_handler

    def dispatch(self, request, *args, **kwargs):
        with translation.override(self.answer_language):
            return super().dispatch(request, *args, **kwargs)

    def post(self, request: Request) -> Response:
        call = ApplyAccessCall(remote_addr=client_ip(request),
                               content_type=(request.META.get("CONTENT_TYPE") or "")[:100])
        try:
            response = self.handle_call(request, call)
        except EnvelopeError as exc:
            response = envelope(0, exc.message, exc.http_status)
            call.outcome = exc.outcome
        except Exception:
            logger.exception("apply-access call from %s: internal error", call.remote_addr)
            response = envelope(0, _("internal error, please retry later"), status.HTTP_500_INTERNAL_SERVER_ERROR)
            call.outcome = ApplyAccessCall.Outcome.ERROR
        call.answer_code, call.message = response.data["code"], response.data["message"][:300]
        # The call, with what we answer, is in the database before the answer leaves (if this fails,
        # DRF's handler answers 500 "retry later": nothing was accepted).
        call.save(force_insert=True)
        if call.outcome == ApplyAccessCall.Outcome.ACCEPTED:
            transaction.on_commit(services.nudge_apply_calls)
        logger.info("apply-access call=%s ywlsh=%s community=%s outcome=%s code=%s message=%s",
                    call.pk, call.ywlsh or "-", call.community_city_id or "-", call.outcome, call.answer_code,
                    mask_text(call.message))
        return response

    def handle_call(self, request: Request, call: ApplyAccessCall) -> Response:
        if not source_allowed(client_ip(request)):
            raise EnvelopeError(_("calls from this address are not accepted"), status.HTTP_403_FORBIDDEN)
        raw = read_body(request)
        _remember(call, raw)
        check_content_type(request)
        data = parse_json(raw)
        refuse_unstorable_text(data)
        if isinstance(data.get("ywlsh"), str):
            call.ywlsh = data["ywlsh"][:64]
        if isinstance(data.get("communityId"), str):
            call.community_city_id = data["communityId"][:64]
        ours, problems = type_problems(data)
        community = None
        if isinstance(data.get("communityId"), str) and data["communityId"].strip():
            community = community_by_city_id(data["communityId"].strip())
            if community is None:
                problems.append(FieldProblem("community_id", _("is not a community of this system")))
            call.community = community
        elif "community_id" not in {p.field for p in problems}:
            problems.append(FieldProblem("community_id", _("is required")))
        if community is not None:
            problems += check_application(community, ours)[1]
        if problems:
            raise EnvelopeError(format_problems(problems))
        # Valid: accepted. What depends on what we hold (a resend, an update, a conflict) is the
        # worker's, in the order the calls arrived.
        call.outcome = ApplyAccessCall.Outcome.ACCEPTED
        return envelope(1, "")


def refuse_unstorable_text(data: dict[str, Any]) -> None:
    """Text that cannot be stored (a lone surrogate, NUL, a control character: afxq_portal.text) is refused by
    field before anything is looked up or stored: the community lookup, the call's ywlsh and the worker's
    encryption would otherwise fail on it, after the call was answered or as an internal error."""
    problems = field_problems(data, TEXT_FIELDS)
    if problems:
        raise EnvelopeError("; ".join(f"{field}: {reason}" for field, reason in problems))


def _remember(call: ApplyAccessCall, raw: bytes) -> None:
    # A raw NUL byte (not valid JSON anyway) is kept visible but storable.
    # Kept whole (read_body bounds it): the worker applies an accepted call from this body.
    text = without_nul(raw.decode("utf-8", errors="replace"))
    call.body, call.body_bytes, call.summary = text, len(raw), mask_json_text(text)[:2000]
