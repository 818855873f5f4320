"""URLconf of the apply-access benchmark: the product's URLs plus the floor, a bare Django view that does
one insert (the same call row apply-access writes first) on the same stack."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from afxq_portal.urls import urlpatterns as product_urlpatterns
from residents.models import ApplyAccessCall


@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    ApplyAccessCall.objects.create(body_bytes=len(request.body), summary=request.body.decode()[:400],
                                   content_type=request.content_type)
    return JsonResponse({"code": 1, "message": ""})


urlpatterns = [path("bench-floor", floor), *product_urlpatterns]
