from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _


class RefuseNulCharactersMiddleware:
    """A NUL character in the path or the query string is refused with HTTP 400. PostgreSQL text cannot hold one,
    so any query fed from the URL (the admin's list filters, e.g. `?status=%00`) was an internal error (found by
    the security pass). APIs answer in their envelopes; form bodies are checked by Django's form fields."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in request.GET.lists()):
            message = _("The address contains a NUL character.")
            if request.path.startswith("/apply-access"):
                return JsonResponse({"code": 0, "message": message}, status=400)
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)
