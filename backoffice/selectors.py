"""Reads of the back office: the API key behind a request, stock figures by SKU."""

from collections.abc import Collection
from datetime import datetime

from django.db.models import F, QuerySet

from backoffice.keys import key_parse
from backoffice.models import ApiKey
from reservations.selectors import products_with_stock_figures
from reservations.tokens import token_matches
from store.models import Product

# Compared against when no key has the prefix, so a wrong prefix takes as long as a
# wrong secret.
_NO_HASH = "0" * 64


def api_key_get_for_key(*, key: str) -> ApiKey | None:
    """Return the API key whose key is `key`, revoked or not (see `revoked_at`); else None.

    A malformed key, an unknown prefix and a wrong secret all give None, after the same
    constant-time comparison of hashes.
    """
    parsed = key_parse(key)
    prefix, secret = parsed if parsed else ("", "")
    api_key = ApiKey.objects.filter(prefix=prefix).first() if parsed else None
    matches = token_matches(token=secret, hashed=api_key.secret_hash if api_key else _NO_HASH)
    if api_key is None or not matches:
        return None
    return api_key


def stock_levels(
    *,
    skus: Collection[str] | None = None,
    updated_since: datetime | None = None,
    now: datetime | None = None,
) -> QuerySet[Product]:
    """Products with a stock row, on sale or not, by id, annotated with `on_hand`, `held`
    (units in live holds), `available` (what a new hold could take: expired holds count
    as free, as on the storefront) and `stock_updated_at` (when `on_hand` last changed).

    `skus` keeps those SKUs (unknown ones are simply absent); `updated_since` those whose
    `on_hand` changed at or after that instant.
    """
    levels = (
        products_with_stock_figures(now=now, include_inactive=True)
        .filter(inventory__isnull=False)
        .annotate(stock_updated_at=F("inventory__updated_at"))
    )
    if skus is not None:
        levels = levels.filter(sku__in=list(skus))
    if updated_since is not None:
        levels = levels.filter(inventory__updated_at__gte=updated_since)
    return levels.order_by("pk")
