"""Errors of the webhooks; shared ones are in core.errors."""

from core.errors import DomainError


class InvalidWebhookUrl(DomainError):
    code = "invalid_webhook_url"
    status = 400
    default_detail = "A webhook URL must be an absolute http:// or https:// URL."


class UnknownEventType(DomainError):
    code = "unknown_event_type"
    status = 400
    default_detail = "No such event type."


class EndpointNotFound(DomainError):
    code = "webhook_endpoint_not_found"
    status = 404
    default_detail = "No such webhook endpoint."
