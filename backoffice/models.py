"""API keys of back-office clients, and the writes they sent with an Idempotency-Key."""

from django.db import models
from django.db.models.functions import Now


class ApiKey(models.Model):
    """A key a back-office client sends as `Authorization: Bearer sh_<prefix>_<secret>`.

    The prefix finds the row; only the SHA-256 of the secret is kept, so the key is shown
    once, when it is made (`api_key_create`). Keys are revoked, never deleted: the stock
    ledger names them (`api-key:<name>`), so a name is never given to a second key.
    """

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=8, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved at most once a minute (backoffice.services.api_key_touch): a figure for staff.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name

    @property
    def actor(self) -> str:
        """Who moved the stock, as the ledger names this key."""
        return f"api-key:{self.name}"


class IdempotentRequest(models.Model):
    """A back-office write sent with an `Idempotency-Key`, and the answer it was given.

    The row is inserted before any work, so a key (of one API key) is worked on once: a
    repeat of the same request gets the stored answer, a different request under the same
    key is refused. `status_code` stays null until the answer is stored; a request that
    died half-way is resumed by the next repeat (each applied item of a stock batch is
    recorded with its stock change, so it is never applied twice).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="requests")
    key = models.CharField(max_length=255)
    # SHA-256 of the operation and its validated request: what "the same request" means.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "key"], name="idempotentrequest_one_per_api_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}: {self.key}"


class StockBatchItem(models.Model):
    """The result of one item of a stock batch, written in the transaction that applied it."""

    request = models.ForeignKey(
        IdempotentRequest, on_delete=models.CASCADE, related_name="stock_items"
    )
    position = models.PositiveIntegerField()
    # What the batch's answer says of the item: applied (with its movement) or refused.
    result = models.JSONField()

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "position"], name="stockbatchitem_one_per_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}#{self.position}"
