from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework.views import APIView

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


class RefuseUnstorableAddressMiddleware:
    """A path or query string with text that cannot be stored (a NUL: PostgreSQL text cannot hold one, so any
    query fed from the URL, the admin's list filters such as `?status=%00`, was an internal error; a control
    character) is refused with HTTP 400 by the one text rule, before any view. Form bodies are checked by the
    forms (afxq_portal.text.TextRulesFormMixin).

    The answer is the view's own: a view class with ``refuse_address(message)`` answers in its format (and
    in its ``answer_language`` when it has one: a contract that always answers in Chinese), other DRF
    views ``{"detail": …}``, pages plain text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if address_problem(request) is None:
            return self.get_response(request)
        try:
            view = resolve(request.path_info).func
        except Resolver404:  # no view will run: the resolver's own 404, which reads nothing from the URL
            return self.get_response(request)
        view_class = getattr(view, "view_class", None)
        # Before LocaleMiddleware: the language is chosen here.
        language = getattr(view_class, "answer_language", None) or translation.get_language_from_request(request)
        with translation.override(language):
            message = _("The address %(problem)s.") % {"problem": address_problem(request)}
        if hasattr(view_class, "refuse_address"):
            return view_class.refuse_address(message)
        if view_class is not None and issubclass(view_class, APIView):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message)
