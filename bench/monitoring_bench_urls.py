"""The site's URLs plus /bench/ceiling: parse a JSON body (POST) or return [] (GET), no auth."""

import json
import time

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from integration_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def ceiling(request):
    if request.method == "POST":
        json.loads(request.body)
        return JsonResponse({"issued": int(time.time())}, status=202)
    return JsonResponse([], safe=False)


urlpatterns = [path("bench/ceiling", ceiling), *site_urlpatterns]
