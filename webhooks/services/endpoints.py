"""Writes of the endpoints: register one, change it, rotate its secret."""

import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from core.errors import InvalidInput
from webhooks.errors import InvalidWebhookUrl, UnknownEventType
from webhooks.models import Endpoint, EventType

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_URL_MAX_LENGTH = Endpoint._meta.get_field("url").max_length
_DESCRIPTION_MAX_LENGTH = Endpoint._meta.get_field("description").max_length
_url_validator = URLValidator(schemes=["http", "https"])


def _secret_generate() -> str:
    # 256 random bits; the prefix tells a secret apart from other keys in a config file.
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def endpoint_url_check(*, url: str) -> str:
    """Return `url` if an endpoint may have it (absolute http or https); else InvalidWebhookUrl."""
    if not isinstance(url, str):
        raise InvalidWebhookUrl(field="url")
    url = url.strip()
    if len(url) > _URL_MAX_LENGTH:
        raise InvalidWebhookUrl(
            f"A webhook URL has at most {_URL_MAX_LENGTH} characters.", field="url"
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise InvalidWebhookUrl(field="url") from None
    return url


def event_types_check(*, event_types: Iterable[str]) -> list[str]:
    """Return the known event types in `event_types`, once each, in their defined order.

    UnknownEventType names any other. An empty list subscribes to every type.
    """
    if isinstance(event_types, str) or not isinstance(event_types, Iterable):
        raise UnknownEventType("Event types are a list of names.", field="event_types")
    given = list(event_types)
    unknown = [t for t in given if t not in EventType.values]
    if unknown:
        raise UnknownEventType(
            f"Unknown event types: {', '.join(map(str, unknown))}. Known: "
            f"{', '.join(EventType.values)}.",
            field="event_types",
            unknown=[str(t) for t in unknown],
        )
    return [t for t in EventType.values if t in given]


def _description_check(description: str) -> str:
    if not isinstance(description, str) or len(description) > _DESCRIPTION_MAX_LENGTH:
        raise InvalidInput(
            f"A description is text of at most {_DESCRIPTION_MAX_LENGTH} characters.",
            field="description",
        )
    return description


def endpoint_create(
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    is_active: bool = True,
) -> tuple[Endpoint, str]:
    """Register an endpoint with a new random secret; return it and the secret.

    InvalidWebhookUrl for a URL other than absolute http(s), UnknownEventType for a type
    that does not exist. Events recorded from the commit on are delivered to it.
    """
    endpoint = Endpoint.objects.create(
        url=endpoint_url_check(url=url),
        event_types=event_types_check(event_types=event_types),
        description=_description_check(description),
        is_active=bool(is_active),
        secret=_secret_generate(),
    )
    endpoint.refresh_from_db(fields=["created_at"])
    return endpoint, endpoint.secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Endpoint:
    """Change the given fields of an endpoint (None leaves a field as it is).

    A deactivated endpoint gets no new deliveries, and its pending ones are marked failed
    when they come due (staff can retry them once it is active again).
    """
    changed = []
    if url is not None:
        endpoint.url = endpoint_url_check(url=url)
        changed.append("url")
    if event_types is not None:
        endpoint.event_types = event_types_check(event_types=event_types)
        changed.append("event_types")
    if description is not None:
        endpoint.description = _description_check(description)
        changed.append("description")
    if is_active is not None:
        endpoint.is_active = bool(is_active)
        changed.append("is_active")
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
    return endpoint


def endpoint_secret_rotate(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new random secret and return it.

    Every attempt from the commit on is signed with the new secret; the old one signs
    nothing more, so the receiver must switch to the new secret right away.
    """
    endpoint.secret = _secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint.secret
