"""What every back-office view shares: API-key authentication, the answers it documents,
pagination, and the replay of writes sent with an `Idempotency-Key`."""

from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.auth import ApiKeyAuthentication, HasApiKey, Unauthorized
from backoffice.errors import IdempotencyKeyRequired
from backoffice.models import ApiKey, IdempotentRequest
from backoffice.serializers import BackOfficeErrorOutput
from backoffice.services import (
    idempotent_request_claim,
    idempotent_request_complete,
    request_fingerprint,
)
from core.idempotency import IDEMPOTENCY_KEY_PATTERN, idempotency_key_valid
from reservations.errors import InvalidIdempotencyKey


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(BackOfficeErrorOutput, description=description)


# Sent with every 401 (config/api_errors.py copies DRF's `auth_header`).
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    response=[401], description="`Bearer`: how to authenticate.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True,
    response=[503], description="Seconds to wait before trying again.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="1 to 255 printable ASCII characters, new for each batch. Sent again with "
    "the same body, the first answer is given again (`Idempotent-Replayed: true`) and "
    "nothing is applied twice; with another body it is `422 idempotency_key_reused`.",
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    response=[200], enum=["true"],
    description="Present on a repeat: this is the answer the first request with this "
    "Idempotency-Key was given.",
)
# Every back-office operation can answer these.
COMMON_PARAMETERS = [WWW_AUTHENTICATE, RETRY_AFTER]
COMMON_RESPONSES = {
    401: error(
        "`unauthorized`: no API key, or one that is malformed, wrong or revoked "
        "(`Authorization: Bearer <key>`)."
    ),
    503: error("`unavailable`: the database cannot be reached right now."),
}


class BackOfficePagination(LimitOffsetPagination):
    # Uncapped, a `limit` past PostgreSQL's bigint range is a database error: a 500.
    max_limit = 1000
    limit_query_description = "Number of results to return per page, at most 1000."


class BackOfficeApi(APIView):
    """A back-office view: only for a live API key, which `self.api_key` (and
    `request.auth`) is."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]

    def permission_denied(self, request, message=None, code=None):
        if not isinstance(request.auth, ApiKey):
            raise Unauthorized()
        super().permission_denied(request, message=message, code=code)

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth

    def idempotency_key(self) -> str:
        """The request's Idempotency-Key: required, and of the one allowed form."""
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            raise IdempotencyKeyRequired()
        if not idempotency_key_valid(key):
            raise InvalidIdempotencyKey()
        return key

    def idempotent_response(
        self,
        *,
        key: str,
        operation: str,
        payload: object,
        work: Callable[[IdempotentRequest], tuple[int, object]],
    ) -> Response:
        """Answer a write once per Idempotency-Key `key`: the first time run `work` (given
        the claimed request's row; it returns the status code and the body), on every
        repeat give the answer stored then.

        `payload` is the validated input: another one under the same key is
        `422 idempotency_key_reused`; a repeat while the first is still at work is
        `409 idempotency_key_in_progress`.
        """
        fingerprint = request_fingerprint(operation=operation, payload=payload)
        with idempotent_request_claim(
            api_key=self.api_key, key=key, fingerprint=fingerprint
        ) as claim:
            if claim.status_code is not None:
                return Response(
                    claim.response,
                    status=claim.status_code,
                    headers={"Idempotent-Replayed": "true"},
                )
            status_code, body = work(claim)
            idempotent_request_complete(request=claim, status_code=status_code, response=body)
        return Response(body, status=status_code)
