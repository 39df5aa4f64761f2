"""Alerts (one row per alert call, one cooldown row per key) and the service's first start."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class Alert(models.Model):
    """One call of `alert_send` or `alert_resolve`, with what each channel did."""

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"
        CRITICAL = "critical", "Critical"

    class Kind(models.TextChoices):
        PROBLEM = "problem", "Problem"
        RECOVERY = "recovery", "Recovery"

    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PROBLEM)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.ERROR)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    # Sent (not suppressed) and accepted by at least one outbound channel, or by the log
    # when no outbound channel is configured.
    delivered = models.BooleanField(default=False)
    # Not sent: the key was alerted within its cooldown.
    suppressed = models.BooleanField(default=False)
    # Per channel: {"status": "sent" | "failed" | "skipped", "error"/"reason"/...}.
    channels = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["key", "-created_at"], name="alert_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} [{self.severity}] {self.title}"


class AlertState(models.Model):
    """The cooldown of one alert key, shared by every process through the database.

    `last_sent_at` is set when a problem alert for the key is claimed for sending and
    cleared when the key is resolved, so it also tells whether the key has an open problem.
    """

    key = models.CharField(max_length=200, unique=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class FirstStart(models.Model):
    """When the service first started on this database: its first `migrate`, kept after.

    A release job that has never succeeded is stale only once a whole stale window has
    passed since then, so a new deployment pages nobody before its first run was due,
    and one whose beat never starts is still caught.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    started_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="first_start_one_row")]

    def __str__(self) -> str:
        return f"first start {self.started_at:%Y-%m-%d %H:%M:%S %Z}"
