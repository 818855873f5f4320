"""URLconf of the gunicorn benchmarks: the product's URLs plus their floors, bare Django views on the same stack.
``/bench-floor`` does one insert (the same call row apply-access writes first); ``/bench-image-floor`` does only
the image work of a pass event: it reads the same JSON body, takes the capture out of its base64 and makes the
outputs the pipeline made of it (sizes and qualities in ``out``, e.g. ``out=1067x600q82&out=1506x847q52``) with
one decode at the reduced scale, one resize and one encode each, storing nothing."""

import base64
import json

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from afxq_portal.urls import urlpatterns as product_urlpatterns
from devices import images
from residents.models import ApplyAccessCall


@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    ApplyAccessCall.objects.create(body_bytes=len(request.body), summary=request.body.decode()[:400],
                                   content_type=request.content_type)
    return JsonResponse({"code": 1, "message": ""})


@csrf_exempt
def image_floor(request: HttpRequest) -> JsonResponse:
    capture = base64.b64decode(json.loads(request.body)["image"])
    upright = images.decode(capture, images.RULES[images.FACE_PANEL])
    for spec in request.GET.getlist("out"):
        width, rest = spec.split("x")
        height, quality = rest.split("q")
        images.encode(images.resized(upright, (int(width), int(height))), int(quality))
    return JsonResponse({"accepted": 1, "refused": 0})


urlpatterns = [path("bench-floor", floor), path("bench-image-floor", image_floor), *product_urlpatterns]
