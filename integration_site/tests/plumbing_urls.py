"""A tiny echo API used to test the shared plumbing (auth, scopes, errors) in isolation."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_site.scopes import Scope


class EchoView(APIView):
    required_scopes = {"POST": Scope.AUDIT_WRITE, "GET": Scope.AUDIT_READ}

    def get(self, request):
        return Response({"user": str(request.user)})

    def post(self, request):
        return Response({"received": request.data}, status=201)


class BoomView(APIView):
    required_scopes = {"GET": Scope.AUDIT_READ}

    def get(self, request):
        raise RuntimeError("deliberate failure")


urlpatterns = [
    path("api/echo", EchoView.as_view()),
    path("api/boom", BoomView.as_view()),
    path("", include("integration_site.urls")),
]
