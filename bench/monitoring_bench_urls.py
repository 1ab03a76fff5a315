"""
The site's URLs plus the bare-Django ceilings bench/monitoring_bench.py compares with, no auth:

- /bench/ceiling parses a JSON body and answers 202 (POST) or returns [] (GET);
- /bench/insert-ceiling also INSERTs the body (into bench_ceiling, created by the bench) in
  autocommit before answering: the least any accept path that commits the result can cost
  in this deployment.
"""

import json
import time

from django.db import connection
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


@csrf_exempt
def insert_ceiling(request):
    json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling (body) VALUES (%s)", [request.body.decode()])
    return JsonResponse({"issued": int(time.time())}, status=202)


urlpatterns = [
    path("bench/ceiling", ceiling),
    path("bench/insert-ceiling", insert_ceiling),
    *site_urlpatterns,
]
