"""Who may call the back-office API: a client holding a live API key.

`Authorization: Bearer sh_<prefix>_<secret>`. A missing, malformed, unknown, wrong or
revoked key is `401 unauthorized` with `WWW-Authenticate: Bearer` (config/api_errors.py
adds the header). Storefront views have no authentication; cart tokens are not keys.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from backoffice.models import ApiKey
from backoffice.selectors import api_key_get_for_key
from backoffice.services import api_key_touch

SECURITY_SCHEME = "apiKeyAuth"


class Unauthorized(exceptions.AuthenticationFailed):
    """No live API key: always 401, whatever went wrong with the key."""

    status_code = 401
    default_code = "unauthorized"
    default_detail = "An API key is required: send `Authorization: Bearer <key>`."


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate a request by its `Authorization: Bearer <key>`; `request.auth` is the
    ApiKey, `request.user` None."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None  # HasApiKey refuses the request, with the same 401
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("The Authorization header must be `Bearer <key>`.")
        api_key = api_key_get_for_key(key=key.strip())
        if api_key is None:
            raise Unauthorized("This API key is not valid.")
        if api_key.revoked_at is not None:
            raise Unauthorized("This API key has been revoked.")
        api_key_touch(api_key=api_key)
        return (None, api_key)

    def authenticate_header(self, request):
        # Also what turns DRF's authentication errors into 401 rather than 403.
        return 'Bearer realm="back-office"'


class HasApiKey(permissions.BasePermission):
    """Let through only requests authenticated by a live API key."""

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The Bearer security scheme of the OpenAPI schema, on every back-office operation."""

    target_class = ApiKeyAuthentication
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sh_<prefix>_<secret>",
            "description": "A back-office API key, from `manage.py api_key_create` or the "
            "admin. A missing, malformed, wrong or revoked key is `401 unauthorized`.",
        }
