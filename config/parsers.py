"""The API's one request parser: JSON, bounded in size, refusing what it cannot parse."""

import io

from django.conf import settings
from rest_framework import exceptions, parsers, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class JSONParser(parsers.JSONParser):
    """Parse JSON of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes.

    DRF from 3.17.2 reads `request.body`, where Django refuses a larger body with
    RequestDataTooBig (config/api_errors.py answers 413). Older DRF streams the body past
    that check, so the limit is applied here too, reading one byte more than the limit and
    never the whole body. Nesting too deep for Python's parser is a 400, not a
    RecursionError and a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
