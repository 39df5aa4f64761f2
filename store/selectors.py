"""Reads of the catalogue."""

from collections.abc import Iterable

from core.errors import InvalidInput
from store.errors import ProductNotFound
from store.models import Product


def product_get(*, product_id: str) -> Product:
    """Return the product whose id is `product_id` as given in a URL; else ProductNotFound."""
    # ASCII digits only (int() also takes "١٢", "１２", " 12", "+12" and "1_2"), and no
    # more than a bigint has: int() refuses over 4,300 digits with a ValueError.
    if not (product_id.isascii() and product_id.isdigit()) or len(product_id) > 19:
        raise ProductNotFound()
    pk = int(product_id)
    product = Product.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
    if product is None:
        raise ProductNotFound()
    return product


# Most SKUs one query string may name (`?sku=A,B` or `?sku=A&sku=B`).
MAX_SKUS_PER_QUERY = 1000


def sku_list_parse(*, values: Iterable[str]) -> list[str]:
    """Return the SKUs of query values, each one SKU or several separated by commas.

    Empty entries are dropped, and so are entries no SKU can be (a NUL cannot be stored);
    more than MAX_SKUS_PER_QUERY is InvalidInput.
    """
    skus = [sku for value in values for sku in value.split(",") if sku and "\x00" not in sku]
    if len(skus) > MAX_SKUS_PER_QUERY:
        raise InvalidInput(
            f"At most {MAX_SKUS_PER_QUERY} SKUs can be asked for at once, not {len(skus)}.",
            field="sku",
        )
    return list(dict.fromkeys(skus))
