"""
The site's URLs plus /bench/audit-ceiling: the bare-Django ceiling for the single-event POST.
It reads the body and does one INSERT per request (into bench_ceiling, created by the bench
script), with no authentication, validation or chain: what a POST costs in this deployment.
"""

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from integration_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def audit_ceiling(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling (body) VALUES (%s)", [request.body.decode()])
    return HttpResponse(status=201, content_type="text/plain; charset=utf-8")


urlpatterns = [path("bench/audit-ceiling", audit_ceiling), *site_urlpatterns]
