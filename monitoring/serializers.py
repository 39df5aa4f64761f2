"""Shapes of the health reports, for the OpenAPI schema (the views answer the dicts as made)."""

from rest_framework import serializers

from reservations.models import ReleaseRun

HEALTH_STATUSES = ("ok", "unhealthy")


# Why a connection check failed; the details are in the log, not in the answer.
CHECK_REASONS = ("unreachable",)


class DatabaseCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=CHECK_REASONS, required=False, help_text="Only when `ok` is false."
    )


class BrokerCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    transport = serializers.CharField(required=False, help_text="Only when `ok` is true.")
    reason = serializers.ChoiceField(
        choices=CHECK_REASONS, required=False, help_text="Only when `ok` is false."
    )


class BacklogCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    expired_holds = serializers.IntegerField(
        help_text="Active holds expired more than `grace_seconds` ago."
    )
    expired_orders = serializers.IntegerField(
        help_text="Orders still `pending_payment` more than `grace_seconds` past their "
        "payment deadline (their units are free stock already)."
    )
    counted_up_to = serializers.IntegerField(
        help_text="Both figures are counted up to this many: a figure equal to it means at "
        "least as many."
    )
    threshold = serializers.IntegerField()
    grace_seconds = serializers.IntegerField()


class ReleaseJobCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.ChoiceField(choices=ReleaseRun.Status.choices, allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    seconds_since_success = serializers.FloatField(allow_null=True)
    stale_after_seconds = serializers.IntegerField()
    stale = serializers.BooleanField()


class HealthChecksOutput(serializers.Serializer):
    database = DatabaseCheckOutput()
    backlog = BacklogCheckOutput(
        required=False, help_text="Missing when the database is unreachable."
    )
    release_job = ReleaseJobCheckOutput(
        required=False, help_text="Missing when the database is unreachable."
    )
    broker = BrokerCheckOutput()


class HealthOutput(serializers.Serializer):
    healthy = serializers.BooleanField()
    status = serializers.ChoiceField(choices=HEALTH_STATUSES)
    reasons = serializers.ListField(child=serializers.CharField())
    checked_at = serializers.DateTimeField()
    checks = HealthChecksOutput()


class LivenessOutput(serializers.Serializer):
    live = serializers.BooleanField()
    database = DatabaseCheckOutput()
