"""
What every Retraced route shares: Retraced's error body `{"status", "type", "error"}` (plus
`invalid` for a rejected batch), the `X-Retraced-RequestId` header, and, on the routes the
widget calls from the vendor's own pages, Retraced's wide-open CORS.
"""

from django.http import HttpResponse
from rest_framework.views import APIView

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, X-Requested-With",
    # logs-viewer reads the CSV's file name from Content-Disposition.
    "Access-Control-Expose-Headers": "Content-Disposition, X-Retraced-RequestId",
    "Access-Control-Max-Age": "600",
}


class RetracedAPIView(APIView):
    """
    A Retraced route. `cors = True` on routes a browser calls cross-origin (the viewer API):
    a preflight OPTIONS is answered 204 before authentication, as Retraced does, and every
    answer carries the CORS headers. Credentials travel in the Authorization header, never
    cookies, so the wide-open origin grants a page nothing its token does not.
    """

    cors = False

    def format_error(self, body: dict, status: int) -> dict:
        error = {"status": status, "type": "Error", "error": body["message"]}
        if body.get("errors"):
            error["invalid"] = body["errors"]
        return error

    def initial(self, request, *args, **kwargs):
        if self.cors and request.method == "OPTIONS":
            return  # a preflight carries no credentials; `options` answers it
        super().initial(request, *args, **kwargs)

    def options(self, request, *args, **kwargs):
        if self.cors:
            return HttpResponse(status=204)
        return super().options(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Retraced-RequestId"] = getattr(request, "request_id", "")
        if self.cors:
            for name, value in CORS_HEADERS.items():
                response[name] = value
        return response
