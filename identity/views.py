"""
The Replicated Identity API (/identity/v1/...) and the Console API's credential check
(/console/v1/auth). Thin: parse, call services, map directory trouble to clear statuses.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.directories import DirectoryUnavailable, SearchCredentialsInvalid
from identity.selectors import directories_all, directories_matching
from identity.services import (
    USERNAME_MAX_LENGTH,
    LoginLockedOut,
    LoginRejected,
    directory_login,
    directory_user_find,
)
from integration_site.errors import ServiceUnavailable, SignInLockedOut
from integration_site.fields import StrictCharField
from integration_site.parsers import JSONParser
from integration_site.permissions import principal_has_scope
from integration_site.scopes import Scope


class InvalidCredentials(exceptions.APIException):
    # Not DRF's AuthenticationFailed: that one would carry the API's Bearer challenge, but
    # here the rejected credentials are the end user's, not the caller's.
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "Invalid username or password."
    default_code = "invalid_credentials"


class DirectoryCredentialsInvalid(exceptions.APIException):
    # Replicated answers 401 when the directory rejects its own search account.
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "The directory rejected the configured search account."
    default_code = "directory_credentials_invalid"


def _plausible_username(value: str) -> bool:
    # Control characters (NUL above all) are never part of a login name; PostgreSQL cannot
    # even store NUL, and LDAP servers differ on them.
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _validate_username(value: str) -> str:
    if not _plausible_username(value):
        raise serializers.ValidationError("Usernames cannot contain control characters.")
    return value


class CredentialsSerializer(serializers.Serializer):
    username = StrictCharField(
        max_length=USERNAME_MAX_LENGTH, trim_whitespace=False, validators=[_validate_username]
    )
    # Blank is a bad credential (401), not a malformed request.
    password = StrictCharField(max_length=1024, trim_whitespace=False, allow_blank=True)
    # Our extension (Replicated has no such field): the address of the person signing in,
    # stated by an application that holds identity:forward. The lockout's per-address cap
    # applies to it; without it, failures count per username only.
    remote_address = serializers.IPAddressField(
        required=False,
        help_text=(
            "The end user's IP address (needs the identity:forward scope). Failures count "
            "per username and this address, and against this address's cap; without it, "
            "per username only."
        ),
    )


SOURCE_PARAMETERS = [
    OpenApiParameter("hostname", str, description="Pick the source with this hostname."),
    OpenApiParameter("base_dn", str, description="Pick the source with this base DN."),
]
USER_ENTRY = inline_serializer(
    "IdentityUser",
    {
        "DN": serializers.CharField(),
        "Username": serializers.CharField(),
        "Groups": serializers.ListField(child=serializers.DictField()),
        "Attributes": serializers.DictField(child=serializers.ListField()),
    },
)


def _directories(request):
    hostname = request.query_params.get("hostname", "")
    base_dn = request.query_params.get("base_dn", "")
    directories = directories_matching(hostname=hostname, base_dn=base_dn)
    if not directories:
        raise exceptions.ValidationError(
            {"hostname": [f"No identity source matches hostname={hostname!r} base_dn={base_dn!r}."]}
        )
    return directories


def _end_user_address(request, validated: dict) -> str | None:
    """
    The stated address of the person signing in, or None. The caller's own address is
    not theirs (it is the application's, shared by all its users), so it is never used.
    """
    address = validated.get("remote_address")
    if address is not None and not principal_has_scope(request.user, Scope.IDENTITY_FORWARD):
        raise exceptions.PermissionDenied(
            f"Stating the end user's address (remote_address) needs the "
            f"'{Scope.IDENTITY_FORWARD}' scope."
        )
    return address


def _login(request, serializer_class, *, channel: str, staff_only_on_site: bool):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    end_user_address = _end_user_address(request, serializer.validated_data)
    directories = _directories(request)
    try:
        return directory_login(
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
            end_user_address=end_user_address,
            directories=directories,
            channel=channel,
            staff_only_on_site=staff_only_on_site,
        )
    except LoginLockedOut as exc:
        raise SignInLockedOut(exc.retry_after) from exc
    except LoginRejected as exc:
        raise InvalidCredentials() from exc
    except DirectoryUnavailable as exc:
        raise ServiceUnavailable(f"The directory cannot be reached: {exc}") from exc


class IdentitySourcesView(APIView):
    required_scopes = {"GET": Scope.IDENTITY_READ}

    @extend_schema(
        responses=inline_serializer(
            "IdentitySources",
            {"sources": serializers.ListField(child=serializers.DictField())},
        )
    )
    def get(self, request):
        return Response(
            {"sources": [{"base_dn": d.base_dn, "hostname": d.hostname} for d in directories_all()]}
        )


class IdentityLoginView(APIView):
    required_scopes = {"POST": Scope.IDENTITY_READ}
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        parameters=SOURCE_PARAMETERS,
        request=CredentialsSerializer,
        responses={
            200: USER_ENTRY,
            400: OpenApiTypes.OBJECT,
            401: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,  # remote_address without identity:forward
            429: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request):
        outcome = _login(
            request, CredentialsSerializer, channel="identity", staff_only_on_site=False
        )
        return Response(outcome.user.as_identity())


class IdentityUserView(APIView):
    required_scopes = {"GET": Scope.IDENTITY_READ}

    def lookup(self, request, username: str):
        if not _plausible_username(username) or len(username) > USERNAME_MAX_LENGTH:
            return None
        try:
            return directory_user_find(username=username, directories=_directories(request))
        except SearchCredentialsInvalid as exc:
            raise DirectoryCredentialsInvalid(str(exc)) from exc
        except DirectoryUnavailable as exc:
            raise ServiceUnavailable(f"The directory cannot be reached: {exc}") from exc

    @extend_schema(
        parameters=SOURCE_PARAMETERS, responses={200: USER_ENTRY, 404: OpenApiTypes.OBJECT}
    )
    def get(self, request, username: str):
        user = self.lookup(request, username)
        if user is None:
            raise exceptions.NotFound(f"No user {username!r} in the identity sources.")
        return Response(user.as_identity())


class IdentityUserExistsView(IdentityUserView):
    @extend_schema(parameters=SOURCE_PARAMETERS, responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request, username: str):
        user = self.lookup(request, username)
        return HttpResponse("true" if user else "false", content_type="text/plain")


class ConsoleAuthView(APIView):
    """
    GET describes the sign-in form; POST checks it. Site users must be staff here (these
    are the admin console's credentials); directory users as their source allows.
    """

    required_scopes = {"*": Scope.CONSOLE_READ}
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        responses=inline_serializer(
            "ConsoleAuthForm",
            {"authType": serializers.CharField(), "form": serializers.DictField()},
        )
    )
    def get(self, request):
        uses_ldap = any(d.key != "site" for d in directories_all())
        return Response(
            {
                "authType": "ldap" if uses_ldap else "password",
                "form": {"username": "", "password": ""},
            }
        )

    @extend_schema(
        parameters=SOURCE_PARAMETERS,
        request=CredentialsSerializer,
        responses={
            200: None,
            400: OpenApiTypes.OBJECT,
            401: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,  # remote_address without identity:forward
            429: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request):
        _login(request, CredentialsSerializer, channel="console", staff_only_on_site=True)
        return Response(status=status.HTTP_200_OK)
