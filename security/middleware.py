from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

from afxq_portal.text import text_problem


def address_problem(request: HttpRequest) -> str | None:
    """Why the path or the query string holds text that cannot be stored (afxq_portal.text), or None."""
    texts = [request.path]
    for key, values in request.GET.lists():
        texts += [key, *values]
    for text in texts:
        problem = text_problem(text)
        if problem:
            return problem
    return None


class RefuseNulCharactersMiddleware:
    """A path or query string with text that cannot be stored (a NUL: PostgreSQL text cannot hold one, so any
    query fed from the URL, the admin's list filters such as `?status=%00`, was an internal error; a control
    character) is refused with HTTP 400 by the one text rule. APIs answer in their envelopes; form bodies are
    checked by the forms (afxq_portal.text.TextRulesFormMixin)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if address_problem(request) is None:
            return self.get_response(request)
        # Before LocaleMiddleware: choose the language here (the contract's answers are always Chinese).
        language = (settings.LANGUAGE_CODE if request.path.startswith("/apply-access")
                    else translation.get_language_from_request(request))
        with translation.override(language):
            message = _("The address %(problem)s.") % {"problem": address_problem(request)}
        if request.path.startswith("/apply-access"):
            return JsonResponse({"code": 0, "message": message}, status=400)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message)
